"""The widget's side of mail: "Email me this conversation" (POST …/transcript), the widget
showing an agent's reply (no mail then), and the health endpoint's email field. A real SMTP
server on loopback receives what the service sends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from bot.api.deps import conversation_token
from bot.api.main import create_app
from bot.conversations.models import Conversation
from bot.conversations.store import ConversationStore
from bot.mail.models import OutboundMail
from bot.mail.outbox import Outbox
from bot.settings import Settings
from db.engine import create_engine_for, session_factory
from tests.bot.api.routes.conftest import open_conversation
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.slow

SCRIPT = "<script>alert('x')</script> **not bold**"


@pytest.fixture
def mail_settings(settings: Settings, rasa_url: str, smtp_server: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "rasa_url": rasa_url,
            "smtp_url": smtp_server.url,
            "mail_from": "support@shop.test",
            "company_name": "Shop",
            "mail_send_every_s": 0.1,
            "mail_reply_grace_s": 30.0,
        }
    )


@pytest.fixture
def mailing(mail_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(mail_settings)) as client:
        yield client


@pytest.fixture
def mail_sessions(mail_settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the mailing service's database."""
    engine = create_engine_for(mail_settings.database_url)
    yield session_factory(engine)
    engine.dispose()


def leave_address(session: Session, conversation_id: str, email: str) -> Conversation:
    """The address the customer left (as the contact form keeps it), not yet committed."""
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    conversation.contact_email = email
    return conversation


def ask_for_transcript(
    client: TestClient, conversation_id: str, headers: dict[str, str], email: str
) -> httpx.Response:
    return client.post(
        f"/api/v1/conversations/{conversation_id}/transcript",
        json={"email": email},
        headers=headers,
    )


def test_the_transcript_is_mailed_with_html_shown_as_text(
    mailing: TestClient, smtp_server: SmtpServer
) -> None:
    conversation_id, headers = open_conversation(mailing)
    sent = mailing.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": SCRIPT},
        headers=headers,
    )
    assert sent.status_code == 200
    response = ask_for_transcript(mailing, conversation_id, headers, "Jane@Example.com")
    assert response.status_code == 202
    assert response.json() == {"status": "queued", "to": "jane@example.com"}
    [received] = smtp_server.wait_for(1)
    assert received.recipients == ["jane@example.com"]
    html = received.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "**not bold**" in html and "<strong>not bold</strong>" not in html
    assert SCRIPT in text  # the plain part as typed
    assert "echo: " in text  # the bot's answer is in it too
    assert "Auto-Submitted" not in received.message  # the customer asked for it


def test_transcripts_are_throttled_per_conversation(mailing: TestClient) -> None:
    conversation_id, headers = open_conversation(mailing)
    for _ in range(3):
        sent = ask_for_transcript(mailing, conversation_id, headers, "jane@example.com")
        assert sent.status_code == 202
    refused = ask_for_transcript(mailing, conversation_id, headers, "jane@example.com")
    assert refused.status_code == 429
    assert "3 transcripts an hour" in refused.json()["detail"]
    assert refused.json()["limit"] == "conversation"
    assert refused.headers["Retry-After"] == "3600"
    # Another conversation is not held back by this one.
    other_id, other_headers = open_conversation(mailing)
    other = ask_for_transcript(mailing, other_id, other_headers, "jane@example.com")
    assert other.status_code == 202


def test_an_address_gets_at_most_five_transcripts_a_day_from_any_conversations(
    mailing: TestClient, mail_sessions: sessionmaker[Session]
) -> None:
    """Anyone can open conversations: the conversation's own limit (3 an hour) alone let a
    stranger mail one address without end. Its plus-addresses are the same mailbox. (The
    module's tests share a database: this one has its addresses to itself.)"""
    first_id, first = open_conversation(mailing)
    second_id, second = open_conversation(mailing)
    for _ in range(3):
        assert ask_for_transcript(mailing, first_id, first, "ann@example.net").status_code == 202
    for address in ("ann@example.net", "Ann+news@Example.net"):
        assert ask_for_transcript(mailing, second_id, second, address).status_code == 202
    refused = ask_for_transcript(mailing, second_id, second, "ann@example.net")
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "at most 5 transcripts a day to one address; try again later",
        "limit": "address",
    }
    assert 86_000 < int(refused.headers["Retry-After"]) <= 86_400  # when the first is a day old
    third_id, third = open_conversation(mailing)
    tagged = ask_for_transcript(mailing, third_id, third, "ann+other@example.net")
    assert (tagged.status_code, tagged.json()["limit"]) == (429, "address")
    assert ask_for_transcript(mailing, third_id, third, "bob@example.net").status_code == 202
    with mail_sessions() as session:
        to = session.scalars(
            select(OutboundMail.to_address)
            .where(OutboundMail.conversation_id.in_([first_id, second_id, third_id]))
            .order_by(OutboundMail.id)
        ).all()
    assert to == ["ann@example.net"] * 4 + ["ann+news@example.net", "bob@example.net"]


@pytest.mark.parametrize("address", ["not an address", "jane@localhost", "", "a" * 300 + "@x.com"])
def test_a_bad_address_is_refused(mailing: TestClient, address: str) -> None:
    conversation_id, headers = open_conversation(mailing)
    response = ask_for_transcript(mailing, conversation_id, headers, address)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "email"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/transcript", {"email": "jane@example.com"}), ("GET", "", None)],
    ids=["transcript", "state"],
)
def test_the_transcript_and_the_state_need_the_conversations_token(
    mailing: TestClient,
    mail_settings: Settings,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    conversation_id, _ = open_conversation(mailing)
    _, other_headers = open_conversation(mailing)

    def call(cid: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return mailing.request(
            method, f"/api/v1/conversations/{cid}{path}", json=body, headers=headers
        )

    missing = call(conversation_id)
    assert missing.status_code == 401
    assert missing.json()["detail"] == "missing conversation token"
    wrong = call(conversation_id, other_headers)
    assert wrong.status_code == 403
    assert wrong.json()["detail"] == "this token is not for this conversation"
    unknown = "00000000-0000-4000-8000-000000000000"
    token = conversation_token(mail_settings.secret_key, unknown)
    gone = call(unknown, {"Authorization": f"Bearer {token}"})
    assert gone.status_code == 404
    assert unknown in gone.json()["detail"]


def test_no_transcript_when_the_service_sends_no_mail(chat: TestClient) -> None:
    conversation_id, headers = open_conversation(chat)
    response = ask_for_transcript(chat, conversation_id, headers, "jane@example.com")
    assert response.status_code == 409
    assert response.json()["detail"] == "this service sends no email"


def test_a_reply_the_widget_read_is_not_mailed(
    mailing: TestClient, mail_settings: Settings, mail_sessions: sessionmaker[Session]
) -> None:
    conversation_id, headers = open_conversation(mailing)
    with mail_sessions() as session:
        conversation = leave_address(session, conversation_id, "jane@example.com")
        message = ConversationStore(session).add_message(
            conversation_id, "agent", "Here is your answer.", {"agent_name": "Alice"}
        )
        outbox = Outbox.from_settings(mail_settings)
        assert outbox.agent_reply(session, conversation, message, widget_open=False)
        session.commit()
    read = mailing.get(f"/api/v1/conversations/{conversation_id}/messages", headers=headers)
    assert read.status_code == 200
    with mail_sessions() as session:
        mail = session.scalars(
            select(OutboundMail).where(OutboundMail.conversation_id == conversation_id)
        ).one()
        assert (mail.status, mail.last_error) == ("cancelled", "shown in the widget")


def test_health_says_whether_mail_goes_out(
    mailing: TestClient, chat: TestClient, smtp_server: SmtpServer
) -> None:
    assert chat.get("/api/v1/health").json()["email"] == {
        "outbound": "off",
        "outbound_detail": "",
        "inbound": "off",
        "inbound_detail": "",
    }
    assert mailing.get("/api/v1/health").json()["email"]["outbound"] == "ok"


def test_health_reads_the_shared_outbox_not_only_this_workers_sender(
    mailing: TestClient, mail_sessions: sessionmaker[Session]
) -> None:
    """With several workers, the sender that failed may not be the one answering, and the one
    that sent the mail may not be the one that failed: the outbox is what they share."""
    conversation_id, _ = open_conversation(mailing)
    with mail_sessions() as session:
        conversation = leave_address(session, conversation_id, "jane@example.com")
        message = ConversationStore(session).add_message(
            conversation_id, "agent", "Here is your answer.", {"agent_name": "Alice"}
        )
        mail = Outbox.from_settings(mailing.app.state.kefu.settings).agent_reply(
            session, conversation, message, widget_open=False
        )
        assert mail is not None
        mail.attempts, mail.last_error = 1, "SMTPConnectError: another worker's attempt"
        session.commit()
        mail_id = mail.id
    email = mailing.get("/api/v1/health").json()["email"]
    assert (email["outbound"], email["outbound_detail"]) == (
        "failing",
        "SMTPConnectError: another worker's attempt",
    )
    # Another worker sent it; this worker's own sender still remembers its failure.
    mailing.app.state.kefu.mail_sender.state = "failing"
    mailing.app.state.kefu.mail_sender.last_error = "SMTPConnectError: this worker's attempt"
    with mail_sessions() as session:
        sent = session.get(OutboundMail, mail_id)
        assert sent is not None
        sent.status = "sent"
        session.commit()
    assert mailing.get("/api/v1/health").json()["email"]["outbound"] == "ok"


@contextmanager
def database_hanging_on(engine: Engine, hangs: Callable[[str], bool]) -> Iterator[list[str]]:
    """Statements for which ``hangs(statement)`` is true wait (as a database behind a partition
    does) until the block ends; the list collects the statements that hung."""
    released = threading.Event()
    hung: list[str] = []

    def wait(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if hangs(statement) and not released.is_set():
            hung.append(statement)
            released.wait(timeout=60)

    event.listen(engine, "before_cursor_execute", wait)
    try:
        yield hung
    finally:
        released.set()
        event.remove(engine, "before_cursor_execute", wait)


def health_within(client: TestClient, seconds: float) -> httpx.Response:
    """GET /api/v1/health from another thread; its answer, which must come within ``seconds``."""
    answers: list[httpx.Response] = []
    asking = threading.Thread(target=lambda: answers.append(client.get("/api/v1/health")))
    asking.start()
    asking.join(timeout=seconds)
    assert answers, f"/health did not answer within {seconds} s"
    return answers[0]


def outbox_look(statement: str) -> bool:
    return "mail_outbox.last_error" in statement


@pytest.fixture
def quick_health(mail_settings: Settings) -> Iterator[TestClient]:
    settings = mail_settings.model_copy(update={"health_probe_timeout_s": 0.5})
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/health").json()["email"]["outbound"] == "ok"
        yield client


def test_health_does_not_look_at_the_outbox_of_a_database_that_is_down(
    quick_health: TestClient,
) -> None:
    """The database check gave up after its bound: the outbox is not asked (it would hang as
    long as the database does); the sender's own view stands in."""
    engine = quick_health.app.state.kefu.engine
    with database_hanging_on(engine, lambda statement: True) as hung:
        health = health_within(quick_health, 5.0)
        assert health.status_code == 503
        assert health.json()["database"] == {"status": "down", "detail": "no answer within 0.5 s"}
        assert health.json()["email"]["outbound"] == "ok"
        assert not [s for s in hung if outbox_look(s)]


def test_health_looks_at_the_outbox_within_the_probe_bound(quick_health: TestClient) -> None:
    """The database answers SELECT 1 but the outbox query hangs (a lock on the table, say):
    /health answers after the probe timeout with the sender's own view, and the looks that
    follow wait for the one stuck rather than taking a thread each."""
    engine = quick_health.app.state.kefu.engine
    with database_hanging_on(engine, outbox_look) as hung:
        for _ in range(3):
            health = health_within(quick_health, 5.0)
            assert health.status_code == 200
            assert health.json()["database"]["status"] == "ok"
            assert health.json()["email"]["outbound"] == "ok"
        assert len(hung) == 1
    assert quick_health.get("/api/v1/health").json()["email"]["outbound"] == "ok"


def test_the_widget_learns_whether_to_offer_the_transcript_and_to_whom(
    mailing: TestClient, chat: TestClient, mail_sessions: sessionmaker[Session]
) -> None:
    conversation_id, headers = open_conversation(mailing)
    url = f"/api/v1/conversations/{conversation_id}"
    fresh = mailing.get(url, headers=headers)
    assert fresh.status_code == 200
    assert fresh.json() == {
        "id": conversation_id,
        "channel": "widget",
        "email_transcript": True,
        "contact_email": None,
    }
    # The contact form's address (or an email conversation's sender) is the one to offer.
    with mail_sessions() as session:
        leave_address(session, conversation_id, "jane@example.com")
        session.commit()
    assert mailing.get(url, headers=headers).json()["contact_email"] == "jane@example.com"
    # With no mail, the widget does not offer it.
    off_id, off_headers = open_conversation(chat)
    off = chat.get(f"/api/v1/conversations/{off_id}", headers=off_headers)
    assert off.status_code == 200
    assert off.json()["email_transcript"] is False
