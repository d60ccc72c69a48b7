"""Mail in, on the real stack: a real Dovecot holds the support mailbox the service polls, a
real SMTP server (aiosmtpd) takes what the outbox sends. A customer writes; the bot answers by
mail or the agents get the conversation; replies thread; robots and forgeries get nothing."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from sqlalchemy import select

from bot.conversations.models import Conversation, Message
from bot.mail.tokens import reply_address
from bot.stack import Stack
from tests.e2e.conftest import AGENT_PASSWORD, _create_user
from tests.e2e.mail import SECRET, SUPPORT, kept, mails_to, rows, text_of
from tests.servers.imap import ImapServer
from tests.servers.smtp import SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def customer_mail(
    body: str,
    subject: str,
    *,
    sender: str = "jane@example.org",
    to: str = SUPPORT,
    headers: str = "",
) -> tuple[str, bytes]:
    message_id = f"<{uuid.uuid4()}@example.org>"
    raw = (
        f"From: Jane Doe <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n{headers}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()
    return message_id, raw


def agent_client(stack: Stack, email: str) -> httpx.Client:
    response = httpx.post(
        f"{stack.config.service_url}/api/v1/auth/login",
        json={"email": email, "password": AGENT_PASSWORD},
    )
    response.raise_for_status()
    token = response.cookies["kefu_session"]
    return httpx.Client(
        base_url=stack.config.service_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_knowledge_base_question_by_mail_is_answered_by_mail(
    mail_stack: Stack, dovecot: ImapServer, smtp: SmtpServer
) -> None:
    message_id, raw = customer_mail(
        "Hi,\n\nhow long does a refund take?\n\nThanks\nJane\n\nSent from my iPhone",
        "Refund question",
        sender="ann@example.org",
    )
    dovecot.deliver(raw)
    row = kept(mail_stack, message_id)
    assert row.status == "accepted" and row.conversation_id is not None
    (conversation,) = rows(
        mail_stack, select(Conversation).where(Conversation.id == row.conversation_id)
    )
    assert (conversation.channel, conversation.contact_email) == ("email", "ann@example.org")
    (answer,) = mails_to(smtp, "ann@example.org", 1)
    assert answer.message["In-Reply-To"] == message_id
    assert message_id in str(answer.message["References"])
    assert "refund-timeline" in text_of(answer)  # the article's link
    assert "Did this help" not in text_of(answer)
    # The reply address carries the conversation's token.
    assert reply_address(SUPPORT, conversation.id, SECRET) in str(answer.message["Reply-To"])


def test_no_answer_goes_to_the_agents_the_customer_is_told_and_replies_thread(
    mail_stack: Stack, dovecot: ImapServer, smtp: SmtpServer
) -> None:
    agent = agent_client(mail_stack, _create_user(mail_stack, "lin@example.com", "Lin", "agent"))
    message_id, raw = customer_mail(
        "Does your CEO like opera music?", "A question",
        sender="bob@example.org",
    )  # fmt: skip
    dovecot.deliver(raw)
    row = kept(mail_stack, message_id)
    (confirmation,) = mails_to(smtp, "bob@example.org", 1)
    assert confirmation.message["In-Reply-To"] == message_id
    queue = agent.get("/api/v1/handoffs").json()["data"]
    (handoff,) = [h for h in queue if h["conversation_id"] == row.conversation_id]
    assert handoff["reason"] == "unanswered"
    assert "opera" in handoff["summary"]  # the packet has the customer's question

    # An agent replies in the console: the customer gets it by mail…
    assert agent.post(f"/api/v1/handoffs/{handoff['id']}/claim").status_code == 200
    sent = agent.post(
        f"/api/v1/handoffs/{handoff['id']}/messages", json={"text": "Which model is it?"}
    )
    assert sent.status_code in (200, 201), sent.text
    reply_mails = mails_to(smtp, "bob@example.org", 2)
    agent_mail = reply_mails[-1]
    assert "Which model is it?" in text_of(agent_mail)

    # …and answers it from the mail client: the answer is in the agent's transcript.
    answer_id, answer = customer_mail(
        "It is the B-200.\n\nOn Mon, ACME <support@example.com> wrote:\n> Which model is it?",
        f"Re: {agent_mail.message['Subject']}",
        sender="bob@example.org",
        to=str(agent_mail.message["Reply-To"]),
        headers=f"In-Reply-To: {agent_mail.message['Message-ID']}\r\n"
        f"References: {message_id} {agent_mail.message['Message-ID']}\r\n",
    )
    dovecot.deliver(answer)
    assert kept(mail_stack, answer_id).conversation_id == row.conversation_id
    detail = agent.get(f"/api/v1/handoffs/{handoff['id']}").json()
    texts = [m["text"] for m in detail["messages"]]
    assert texts[-1] == "It is the B-200."


def test_a_bounce_and_an_auto_reply_are_kept_and_never_answered(
    mail_stack: Stack, dovecot: ImapServer, smtp: SmtpServer
) -> None:
    before = len(smtp.messages)
    bounce_id, bounce = customer_mail(
        "Delivery failed.", "Undelivered Mail Returned to Sender",
        sender="MAILER-DAEMON@example.org", headers="Return-Path: <>\r\n",
    )  # fmt: skip
    away_id, away = customer_mail(
        "I am on holiday.", "Out of office", sender="carol@example.org",
        headers="Auto-Submitted: auto-replied\r\n",
    )  # fmt: skip
    dovecot.deliver(bounce)
    dovecot.deliver(away)
    assert (kept(mail_stack, bounce_id).status, kept(mail_stack, away_id).status) == (
        "ignored",
        "ignored",
    )
    time.sleep(2)  # anything it would have sent has had the time to go
    assert len(smtp.messages) == before


def test_a_forged_reply_token_opens_its_own_conversation(
    mail_stack: Stack, dovecot: ImapServer, smtp: SmtpServer
) -> None:
    first_id, first = customer_mail(
        "How long does a refund take?", "Refund", sender="dan@example.org"
    )
    dovecot.deliver(first)
    victim = kept(mail_stack, first_id).conversation_id
    assert victim is not None
    forged = reply_address(SUPPORT, victim, "not-the-service-secret-0123456789")
    forged_id, raw = customer_mail(
        "Show me the conversation", "Re: Refund", sender="eve@example.org", to=forged
    )
    dovecot.deliver(raw)
    row = kept(mail_stack, forged_id)
    assert row.conversation_id != victim
    texts = [
        m.text for m in rows(mail_stack, select(Message).where(Message.conversation_id == victim))
    ]
    assert not any("Show me the conversation" in t for t in texts)
