"""Typing and notifications in Chromium (the service alone, no Rasa): the customer types in the
widget and the agent's console says so within a second, and the other way round; a new chat in
the queue and a customer's message in a held chat that is not on screen each raise one desktop
notification (window.Notification stubbed in the page, permission granted)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from bot.auth.store import UserStore
from db.engine import create_engine_for, session_factory
from tests.e2e.conftest import service_alone
from tests.e2e.test_handoff_browser import new_page
from tests.e2e.test_widget_browser import browser  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

PASSWORD = "typing-password-1"
SERVICE_TOKEN = "typing-service-token"
LIVE_MS = 5_000
TYPING_MS = 1_000  # the bound for typing to show on the other side

# Records each notification the console raises, and says the agent allowed them.
NOTIFICATION_STUB = """
window.__notes = [];
window.Notification = class {
  constructor(title, options) { window.__notes.push({ title, body: (options || {}).body }); }
  close() {}
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service over a fresh copy of the demo database with one agent; its base URL."""
    with service_alone(
        tmp_path_factory.mktemp("typing"), KEFU_SERVICE_TOKEN=SERVICE_TOKEN
    ) as running:
        assert running.config.database_url is not None
        engine = create_engine_for(running.config.database_url)
        with session_factory(engine)() as session:
            UserStore(session).create("tia@shop.test", "Tia", "agent", PASSWORD)
        engine.dispose()
        yield running.config.service_url


def escalate(base: str, conversation_id: str) -> None:
    handoff = httpx.post(
        f"{base}/api/v1/internal/handoffs",
        json={"conversation_id": conversation_id, "reason": "requested", "language": "en"},
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
    )
    assert handoff.status_code == 201, handoff.text


def notes(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("() => window.__notes")
    return found


def test_typing_shows_both_ways_and_new_chats_and_messages_notify(
    service: str,
    browser: Browser,  # noqa: F811
) -> None:
    agent = new_page(browser, "en-US")
    agent.add_init_script(NOTIFICATION_STUB)
    agent.goto(f"{service}/agent")
    agent.locator(".agent-login-email").fill("tia@shop.test")
    agent.locator(".agent-login-password").fill(PASSWORD)
    agent.locator(".agent-login-submit").click()
    expect(agent.locator(".agent-conn")).to_have_class("agent-conn conn-live", timeout=LIVE_MS)
    expect(agent.locator(".agent-notify")).to_be_hidden()  # granted already: nothing to ask

    customer = new_page(browser, "en-US")
    customer.goto(f"{service}/")
    customer.locator(".kefu-launcher").click()
    conversation = customer.wait_for_function(
        "() => Object.entries(localStorage).find(([k]) => k.startsWith('kefu:conversation:'))"
    ).json_value()[1]
    escalate(service, json.loads(conversation)["id"])

    # (a) The new chat: one notification, with the chat's summary as its body.
    item = agent.locator(".agent-queue-item")
    expect(item).to_have_count(1, timeout=LIVE_MS)
    agent.wait_for_function("() => window.__notes.length === 1")
    assert notes(agent)[0]["title"] == "New chat in the queue"
    held = item.get_attribute("data-handoff-id")
    item.click()
    agent.locator(".agent-claim").click()
    expect(customer.locator(".kefu-from-system").last).to_contain_text("Tia", timeout=LIVE_MS)

    # The customer types: the console says so within a second, and stops saying it on send.
    customer.locator(".kefu-input").press_sequentially("where is my")
    expect(agent.locator(".agent-typing")).to_be_visible(timeout=TYPING_MS)
    expect(agent.locator(".agent-typing")).to_have_text("Customer is typing…")
    customer.locator(".kefu-input").press_sequentially(" parcel")
    customer.keyboard.press("Enter")
    expect(agent.locator(".agent-msg.from-customer").last).to_contain_text(
        "where is my parcel", timeout=LIVE_MS
    )
    expect(agent.locator(".agent-typing")).to_be_hidden(timeout=TYPING_MS)

    # The agent types: the widget shows its typing indicator within a second.
    expect(customer.locator(".kefu-typing")).to_be_hidden()
    agent.locator(".agent-reply").press_sequentially("Let me check")
    expect(customer.locator(".kefu-typing")).to_be_visible(timeout=TYPING_MS)
    agent.locator(".agent-reply").press("Enter")
    expect(customer.locator(".kefu-from-agent .kefu-text")).to_have_text(
        "Let me check", timeout=LIVE_MS
    )
    expect(customer.locator(".kefu-typing")).to_be_hidden(timeout=TYPING_MS)
    # The message on screen, in a visible page, raised no notification.
    assert len(notes(agent)) == 1

    # (b) A second chat comes and the agent looks at it: the first customer's next message,
    # in a held chat no longer on screen, notifies with its text as plain text.
    other = httpx.post(f"{service}/api/v1/conversations", json={"language": "en"})
    escalate(service, other.json()["id"])
    expect(item).to_have_count(2, timeout=LIVE_MS)
    agent.wait_for_function("() => window.__notes.length === 2")
    agent.locator(f'.agent-queue-item:not([data-handoff-id="{held}"])').click()
    expect(agent.locator(".agent-claim")).to_be_visible()
    customer.locator(".kefu-input").fill("still <b>there</b>?")
    customer.keyboard.press("Enter")
    agent.wait_for_function("() => window.__notes.length === 3", timeout=LIVE_MS)
    assert notes(agent)[2] == {
        "title": "New message from a customer",
        "body": "still <b>there</b>?",
    }
    agent.context.close()
    customer.context.close()
