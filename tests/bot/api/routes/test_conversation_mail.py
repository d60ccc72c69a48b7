"""The widget's side of mail: "Email me this conversation" (POST …/transcript), the widget
showing an agent's reply (no mail then), and the health endpoint's email field. A real SMTP
server on loopback receives what the service sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

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
    response = mailing.post(
        f"/api/v1/conversations/{conversation_id}/transcript",
        json={"email": "Jane@Example.com"},
        headers=headers,
    )
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
    url = f"/api/v1/conversations/{conversation_id}/transcript"
    for _ in range(3):
        assert (
            mailing.post(url, json={"email": "jane@example.com"}, headers=headers).status_code
            == 202
        )
    refused = mailing.post(url, json={"email": "jane@example.com"}, headers=headers)
    assert refused.status_code == 429
    assert "3 transcripts an hour" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == "3600"
    # Another conversation is not held back by this one.
    other_id, other_headers = open_conversation(mailing)
    other = f"/api/v1/conversations/{other_id}/transcript"
    assert (
        mailing.post(other, json={"email": "jane@example.com"}, headers=other_headers).status_code
        == 202
    )


@pytest.mark.parametrize("address", ["not an address", "jane@localhost", "", "a" * 300 + "@x.com"])
def test_a_bad_address_is_refused(mailing: TestClient, address: str) -> None:
    conversation_id, headers = open_conversation(mailing)
    response = mailing.post(
        f"/api/v1/conversations/{conversation_id}/transcript",
        json={"email": address},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "email"]


def test_the_transcript_needs_the_conversations_token(
    mailing: TestClient, mail_settings: Settings
) -> None:
    conversation_id, _ = open_conversation(mailing)
    _, other_headers = open_conversation(mailing)
    url = f"/api/v1/conversations/{conversation_id}/transcript"
    body = {"email": "jane@example.com"}
    missing = mailing.post(url, json=body)
    assert missing.status_code == 401
    assert missing.json()["detail"] == "missing conversation token"
    wrong = mailing.post(url, json=body, headers=other_headers)
    assert wrong.status_code == 403
    assert wrong.json()["detail"] == "this token is not for this conversation"
    unknown = "00000000-0000-4000-8000-000000000000"
    token = conversation_token(mail_settings.secret_key, unknown)
    gone = mailing.post(
        f"/api/v1/conversations/{unknown}/transcript",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert gone.status_code == 404
    assert unknown in gone.json()["detail"]


def test_no_transcript_when_the_service_sends_no_mail(chat: TestClient) -> None:
    conversation_id, headers = open_conversation(chat)
    response = chat.post(
        f"/api/v1/conversations/{conversation_id}/transcript",
        json={"email": "jane@example.com"},
        headers=headers,
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "this service sends no email"


def test_a_reply_the_widget_read_is_not_mailed(
    mailing: TestClient, mail_settings: Settings
) -> None:
    conversation_id, headers = open_conversation(mailing)
    engine = create_engine_for(mail_settings.database_url)
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            conversation = session.get(Conversation, conversation_id)
            assert conversation is not None
            conversation.contact_email = "jane@example.com"
            message = ConversationStore(session).add_message(
                conversation_id, "agent", "Here is your answer.", {"agent_name": "Alice"}
            )
            outbox = Outbox.from_settings(mail_settings)
            assert outbox.agent_reply(session, conversation, message, widget_open=False)
            session.commit()
        read = mailing.get(f"/api/v1/conversations/{conversation_id}/messages", headers=headers)
        assert read.status_code == 200
        with sessions() as session:
            mail = session.scalars(
                select(OutboundMail).where(OutboundMail.conversation_id == conversation_id)
            ).one()
            assert (mail.status, mail.last_error) == ("cancelled", "shown in the widget")
    finally:
        engine.dispose()


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


def test_the_widget_learns_whether_to_offer_the_transcript_and_to_whom(
    mailing: TestClient, chat: TestClient, mail_settings: Settings
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
    engine = create_engine_for(mail_settings.database_url)
    try:
        with session_factory(engine)() as session:
            conversation = session.get(Conversation, conversation_id)
            assert conversation is not None
            conversation.contact_email = "jane@example.com"
            session.commit()
    finally:
        engine.dispose()
    assert mailing.get(url, headers=headers).json()["contact_email"] == "jane@example.com"
    # With no mail, the widget does not offer it.
    off_id, off_headers = open_conversation(chat)
    off = chat.get(f"/api/v1/conversations/{off_id}", headers=off_headers)
    assert off.status_code == 200
    assert off.json()["email_transcript"] is False


def test_the_conversations_state_needs_its_token(
    mailing: TestClient, mail_settings: Settings
) -> None:
    conversation_id, _ = open_conversation(mailing)
    _, other_headers = open_conversation(mailing)
    url = f"/api/v1/conversations/{conversation_id}"
    missing = mailing.get(url)
    assert missing.status_code == 401
    assert missing.json()["detail"] == "missing conversation token"
    wrong = mailing.get(url, headers=other_headers)
    assert wrong.status_code == 403
    assert wrong.json()["detail"] == "this token is not for this conversation"
    unknown = "00000000-0000-4000-8000-000000000000"
    token = conversation_token(mail_settings.secret_key, unknown)
    gone = mailing.get(
        f"/api/v1/conversations/{unknown}", headers={"Authorization": f"Bearer {token}"}
    )
    assert gone.status_code == 404
    assert unknown in gone.json()["detail"]
