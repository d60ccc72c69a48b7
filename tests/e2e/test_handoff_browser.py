"""A customer in the widget and an agent in the console, two real Chromium pages."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from bot.stack import Stack
from tests.e2e.conftest import AGENT_PASSWORD
from tests.e2e.test_widget_browser import REPLY_TIMEOUT_MS, browser  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]
LIVE_MS = 5_000  # messages appear on the other side well within this
UNDO_MS = 10_000  # a resolve is sent when the console's undo window closes (agent.js)


def new_page(browser: Browser, locale: str) -> Page:  # noqa: F811
    page = browser.new_context(locale=locale).new_page()
    page.on("pageerror", lambda error: pytest.fail(f"JavaScript error: {error}"))
    return page


def log_in_agent(agent: Page, base: str, email: str) -> None:
    """The agent console, logged in as ``email`` (the demo stack's Lin)."""
    agent.goto(f"{base}/agent")
    agent.locator(".agent-login-email").fill(email)
    agent.locator(".agent-login-password").fill(AGENT_PASSWORD)
    agent.locator(".agent-login-submit").click()
    expect(agent.locator(".agent-user")).to_contain_text("Lin")


def customer_asks_for_a_person(customer: Page, base: str, question: str) -> None:
    """In the widget: a question, the bot's answer, then the "talk to a person" button."""
    customer.goto(f"{base}/")
    customer.locator(".kefu-launcher").click()
    customer.locator(".kefu-input").fill(question)
    customer.keyboard.press("Enter")
    expect(customer.locator(".kefu-from-bot")).not_to_have_count(0, timeout=REPLY_TIMEOUT_MS)
    customer.locator(".kefu-human").click()


def test_customer_asks_for_a_person_agent_answers_resolves_and_is_rated(
    stack: Stack,
    browser: Browser,  # noqa: F811
    agent_email: str,
) -> None:
    base = stack.config.service_url
    agent = new_page(browser, "en-US")
    log_in_agent(agent, base, agent_email)

    customer = new_page(browser, "zh-CN")
    customer_asks_for_a_person(customer, base, "我买的耳机坏了，想换一个")
    expect(customer.locator(".kefu-from-bot").last).to_contain_text(
        "转接人工客服", timeout=REPLY_TIMEOUT_MS
    )

    # The handoff reaches the live queue with the customer's question as its summary.
    item = agent.locator(".agent-queue-item").filter(has_text="我买的耳机坏了，想换一个")
    expect(item).to_have_count(1, timeout=LIVE_MS)
    item.click()
    expect(agent.locator(".agent-summary")).to_have_text("我买的耳机坏了，想换一个")
    agent.locator(".agent-claim").click()
    expect(customer.locator(".kefu-from-system").last).to_contain_text("已接入", timeout=LIVE_MS)

    agent.locator(".agent-reply").fill("您好，我是林，请问订单号是多少？")
    agent.locator(".agent-reply").press("Enter")
    expect(customer.locator(".kefu-from-agent .kefu-text")).to_have_text(
        "您好，我是林，请问订单号是多少？", timeout=LIVE_MS
    )
    customer.locator(".kefu-input").fill("订单号 A1234")
    customer.keyboard.press("Enter")
    expect(agent.locator(".agent-msg.from-customer").last).to_contain_text(
        "订单号 A1234", timeout=LIVE_MS
    )

    agent.locator(".agent-resolve").click()
    rating = customer.locator(".kefu-rating")
    expect(rating).to_be_visible(timeout=UNDO_MS + LIVE_MS)
    rating.locator('.kefu-rating-score[data-score="5"]').click()
    rating.locator(".kefu-rating-comment").fill("很快，谢谢")
    rating.locator(".kefu-rating-send").click()
    expect(customer.locator(".kefu-rating-done")).to_be_visible()

    # Stored with who resolved it: a second rating is refused.
    conversation = customer.evaluate(
        "() => JSON.parse(Object.entries(localStorage)"
        ".find(([k]) => k.startsWith('kefu:conversation:'))[1])"
    )
    again = httpx.post(
        f"{base}/api/v1/conversations/{conversation['id']}/rating",
        json={"score": 1},
        headers={"Authorization": f"Bearer {conversation['token']}"},
    )
    assert again.status_code == 409
    agent.context.close()
    customer.context.close()
