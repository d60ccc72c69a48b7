"""Two agents in Chromium with auto-assignment on (the service alone, no Rasa): the agent who
sets herself away in the console's header gets no new chat, the other gets them; back online,
she is the least busy and gets the next. Then one transfers a chat to the other with a note."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from bot.auth.store import UserStore
from db.engine import create_engine_for, session_factory
from tests.e2e.conftest import service_alone
from tests.e2e.test_widget_browser import browser  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

PASSWORD = "presence-password-1"
SERVICE_TOKEN = "presence-service-token"
LIVE_MS = 5_000


@pytest.fixture(scope="module")
def routed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with auto-assignment, over a fresh copy of the demo database, and two
    agents; its base URL."""
    with service_alone(
        tmp_path_factory.mktemp("presence"),
        KEFU_SERVICE_TOKEN=SERVICE_TOKEN,
        KEFU_AUTO_ASSIGN="true",
    ) as running:
        assert running.config.database_url is not None
        engine = create_engine_for(running.config.database_url)
        with session_factory(engine)() as session:
            users = UserStore(session)
            users.create("ann@shop.test", "Ann", "agent", PASSWORD)
            users.create("ben@shop.test", "Ben", "agent", PASSWORD)
        engine.dispose()
        yield running.config.service_url


def console(browser: Browser, base: str, email: str, name: str) -> Page:  # noqa: F811
    page = browser.new_context(locale="en-US").new_page()
    page.on("pageerror", lambda error: pytest.fail(f"JavaScript error: {error}"))
    page.goto(f"{base}/agent")
    page.locator(".agent-login-email").fill(email)
    page.locator(".agent-login-password").fill(PASSWORD)
    page.locator(".agent-login-submit").click()
    expect(page.locator(".agent-user")).to_contain_text(name)
    expect(page.locator(".agent-conn")).to_have_class("agent-conn conn-live", timeout=LIVE_MS)
    expect(page.locator(".agent-presence")).to_have_value("online")
    return page


def choose(page: Page, status: str) -> None:
    with page.expect_response(
        lambda r: r.url.endswith("/agents/me/presence") and r.request.method == "PUT"
    ) as answer:
        page.locator(".agent-presence").select_option(status)
    assert answer.value.status == 200


def customer_asks_for_a_person(base: str) -> None:
    opened = httpx.post(f"{base}/api/v1/conversations", json={"language": "en"})
    assert opened.status_code == 201, opened.text
    handoff = httpx.post(
        f"{base}/api/v1/internal/handoffs",
        json={"conversation_id": opened.json()["id"], "reason": "requested", "language": "en"},
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
    )
    assert handoff.status_code == 201, handoff.text
    assert handoff.json()["agents_online"] >= 1


def test_presence_away_stops_new_assignments(
    routed_service: str,
    browser: Browser,  # noqa: F811
) -> None:
    ann = console(browser, routed_service, "ann@shop.test", "Ann")
    ben = console(browser, routed_service, "ben@shop.test", "Ben")
    choose(ann, "away")
    customer_asks_for_a_person(routed_service)
    customer_asks_for_a_person(routed_service)
    # Both went to Ben (a claimed chat shows only in its holder's queue).
    expect(ben.locator(".agent-queue-item")).to_have_count(2, timeout=LIVE_MS)
    expect(ann.locator(".agent-queue-item")).to_have_count(0)
    # The choice is kept: a reload shows Ann away, still with nothing new.
    ann.reload()
    expect(ann.locator(".agent-presence")).to_have_value("away", timeout=LIVE_MS)
    choose(ann, "online")
    customer_asks_for_a_person(routed_service)
    # Back online, Ann holds fewer chats than Ben: the next is hers.
    expect(ann.locator(".agent-queue-item")).to_have_count(1, timeout=LIVE_MS)
    expect(ben.locator(".agent-queue-item")).to_have_count(2)
    ann.context.close()
    ben.context.close()


def test_a_transfer_with_a_note_reaches_the_other_agent(
    routed_service: str,
    browser: Browser,  # noqa: F811
) -> None:
    ann = console(browser, routed_service, "ann@shop.test", "Ann")
    ben = console(browser, routed_service, "ben@shop.test", "Ben")
    expect(ann.locator(".agent-queue-item")).to_have_count(1, timeout=LIVE_MS)
    expect(ben.locator(".agent-queue-item")).to_have_count(2)
    moved = ben.locator(".agent-queue-item").first
    handoff_id = moved.get_attribute("data-handoff-id")
    moved.click()
    ben.locator(".agent-transfer-open").click()
    choices = ben.locator(".agent-transfer-to option")
    expect(choices.first).to_have_text("Back to the queue")
    expect(ben.locator(".agent-transfer-to")).to_contain_text("Ann (online, 1 open)")
    ben.locator(".agent-transfer-to").select_option(label="Ann (online, 1 open)")
    ben.locator(".agent-transfer-note").fill("wants the refund to another card <b>now</b>")
    ben.locator(".agent-transfer-send").click()
    # Ann holds it now and sees Ben's note beside the whole history; Ben's queue lost it.
    expect(ann.locator(".agent-queue-item")).to_have_count(2, timeout=LIVE_MS)
    expect(ben.locator(".agent-queue-item")).to_have_count(1, timeout=LIVE_MS)
    ann.locator(f'.agent-queue-item[data-handoff-id="{handoff_id}"]').click()
    expect(ann.locator(".agent-note-text")).to_have_text(
        "wants the refund to another card <b>now</b>"  # shown as text, never as markup
    )
    expect(ann.locator(".agent-transcript")).to_contain_text("Ann has joined the chat.")
    ann.context.close()
    ben.context.close()
