"""An agent's article link card, resolve with undo (no confirm()), and the customer's rating
in the agent's history: a customer in the widget and an agent in the console, two Chromium
pages over the real stack (issue 14)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Dialog, expect

from bot.stack import Stack
from tests.e2e.test_handoff_browser import (
    LIVE_MS,
    UNDO_MS,
    customer_asks_for_a_person,
    log_in_agent,
    new_page,
)
from tests.e2e.test_widget_browser import REPLY_TIMEOUT_MS, browser  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]


def test_an_inserted_article_is_a_card_resolve_is_undoable_and_the_rating_shows(
    stack: Stack,
    browser: Browser,  # noqa: F811
    agent_email: str,
) -> None:
    base = stack.config.service_url
    agent = new_page(browser, "en-US")
    dialogs: list[str] = []

    def no_dialog(shown: Dialog) -> None:  # resolve must not ask: any dialog fails the test
        dialogs.append(shown.message)
        shown.dismiss()

    agent.on("dialog", no_dialog)
    log_in_agent(agent, base, agent_email)

    customer = new_page(browser, "zh-CN")
    customer_asks_for_a_person(customer, base, "我想退货，耳机的包装已经拆了")
    expect(customer.locator(".kefu-from-bot").last).to_contain_text(
        "转接人工客服", timeout=REPLY_TIMEOUT_MS
    )
    agent.locator(".agent-queue-item").filter(has_text="我想退货").click()
    agent.locator(".agent-claim").click()
    expect(customer.locator(".kefu-from-system").last).to_contain_text("已接入", timeout=LIVE_MS)

    # The agent finds an article and inserts it: it goes with the reply as a card.
    agent.locator(".agent-kb-query").fill("退货")
    agent.locator(".agent-kb-search").click()
    agent.locator(".agent-kb-insert").first.click()
    attached = agent.locator(".agent-attached-item")
    expect(attached).to_have_count(1)
    article_id = attached.get_attribute("data-article-id")
    title = agent.locator(".agent-kb-title").first.inner_text()
    agent.locator(".agent-reply").fill("您看一下这篇退货说明")
    agent.locator(".agent-reply").press("Enter")
    expect(attached).to_have_count(0)

    # The widget shows the bot's kind of card: a link to the article's public page.
    reply = customer.locator(".kefu-from-agent").filter(has_text="您看一下这篇退货说明")
    card = reply.locator(".kefu-article-link")
    expect(card).to_have_count(1, timeout=LIVE_MS)
    expect(card).to_contain_text(title)
    expect(card).to_have_attribute("href", f"{base}/articles/{article_id}")
    with customer.context.expect_page() as opened:
        card.click()
    page = opened.value
    page.wait_for_load_state()
    assert page.url == f"{base}/articles/{article_id}"
    expect(page.locator("h1")).to_contain_text(title)
    page.close()

    # Resolve asks nothing and can be undone: the customer is not asked for a rating.
    agent.locator(".agent-resolve").click()
    undo = agent.locator(".agent-undo")
    expect(undo).to_be_visible()
    expect(undo).to_contain_text("Resolved")
    expect(agent.locator(".agent-reply")).to_be_hidden()
    undo.locator(".agent-undo-button").click()
    expect(undo).to_be_hidden()
    expect(agent.locator(".agent-reply")).to_be_visible()
    agent.wait_for_timeout(UNDO_MS + 1_000)
    expect(customer.locator(".kefu-rating")).to_have_count(0)
    expect(agent.locator(".agent-facts")).to_contain_text("assigned · Lin")

    # Resolved again, and the agent leaves within the undo window: it is resolved all the same.
    agent.locator(".agent-resolve").click()
    expect(undo).to_be_visible()
    agent.reload()
    rating = customer.locator(".kefu-rating")
    expect(rating).to_be_visible(timeout=LIVE_MS)
    rating.locator('.kefu-rating-score[data-score="4"]').click()
    rating.locator(".kefu-rating-comment").fill("文章很有用")
    rating.locator(".kefu-rating-send").click()
    expect(customer.locator(".kefu-rating-done")).to_be_visible()

    # The rating in the agent's own history, and on the resolved handoff.
    agent.locator(".agent-filter").select_option("resolved")
    item = agent.locator(".agent-queue-item").filter(has_text="我想退货")
    expect(item.locator(".agent-qi-rating")).to_contain_text("★★★★☆ 文章很有用", timeout=LIVE_MS)
    expect(item.locator(".agent-stars")).to_have_attribute("aria-label", "4 of 5 stars")
    item.click()
    expect(agent.locator(".agent-facts")).to_contain_text(re.compile("Customer rating.*文章很有用"))
    assert dialogs == []
    agent.context.close()
    customer.context.close()
