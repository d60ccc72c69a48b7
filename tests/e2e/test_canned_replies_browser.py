"""A canned reply with a placeholder, end to end: an agent adds one in the console's panel,
types /refund in a held conversation, picks it, and the customer's widget receives the text
with their name and the article filled in (issue 14)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import text

from bot.stack import Stack
from db.engine import create_engine_for
from tests.e2e.test_handoff_browser import (
    LIVE_MS,
    customer_asks_for_a_person,
    log_in_agent,
    new_page,
)
from tests.e2e.test_widget_browser import REPLY_TIMEOUT_MS, browser  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]
QUESTION = "Where is my refund? It has been two weeks"


def name_the_customer(stack: Stack, name: str) -> None:
    """The bot collects no names; a shop that knows its customer passes one with the handoff."""
    assert stack.config.database_url is not None
    engine = create_engine_for(stack.config.database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE handoffs SET customer_name = :name"
                " WHERE id = (SELECT max(id) FROM handoffs)"
            ),
            {"name": name},
        )
    engine.dispose()


def test_an_agent_inserts_a_canned_reply_with_the_customers_name(
    stack: Stack,
    browser: Browser,  # noqa: F811
    agent_email: str,
) -> None:
    base = stack.config.service_url
    agent = new_page(browser, "en-US")
    log_in_agent(agent, base, agent_email)

    # The agent adds a personal canned reply in the panel.
    agent.locator(".agent-canned-toggle").click()
    form = agent.locator(".agent-canned-form")
    form.locator('[name="shortcut"]').fill("refund")
    form.locator('[name="language"]').select_option("en")
    form.locator('[name="title"]').fill("Refund status")
    form.locator('[name="body"]').fill(
        "Hi {customer_name}, this is {agent_name}. See {article:refund-timeline}"
    )
    form.locator(".agent-canned-save").click()
    expect(agent.locator(".agent-canned-item")).to_contain_text(["/refund"])
    agent.locator(".agent-canned-toggle").click()

    customer = new_page(browser, "en-US")
    customer_asks_for_a_person(customer, base, QUESTION)
    expect(agent.locator(".agent-queue-item").filter(has_text="Where is my refund")).to_have_count(
        1, timeout=REPLY_TIMEOUT_MS
    )
    name_the_customer(stack, "Mei")
    agent.locator(".agent-queue-item").filter(has_text="Where is my refund").click()
    agent.locator(".agent-claim").click()
    expect(customer.locator(".kefu-from-system").last).to_contain_text("joined", timeout=LIVE_MS)

    # "/" at the start of the reply box lists the matching replies; Enter picks one.
    reply = agent.locator(".agent-reply")
    reply.press_sequentially("/ref")
    option = agent.locator(".agent-canned-option").filter(has_text="/refund")
    expect(option).to_contain_text("Refund status")
    reply.press("Enter")
    expect(reply).to_have_value(
        "Hi Mei, this is Lin. See How long refunds take (/articles/refund-timeline)",
        timeout=LIVE_MS,
    )
    expect(agent.locator(".agent-canned-menu")).to_have_count(0)
    expect(agent.locator(".agent-attached-item")).to_have_count(1)  # the article, as a card
    reply.press("Enter")

    sent = customer.locator(".kefu-from-agent").filter(has_text="Hi Mei, this is Lin.")
    expect(sent).to_have_count(1, timeout=LIVE_MS)
    expect(sent.locator(".kefu-article-link")).to_have_attribute(
        "href", f"{base}/articles/refund-timeline"
    )
    agent.context.close()
    customer.context.close()
