"""The rating by mail, through the inbound path against a real Dovecot: the customer of a
resolved email conversation answers the rating request mail with a score; the poller reads it,
the email channel records the rating by the widget's rule, and nothing else happens (no
message, no bot, no reopening). Rasa is a fake (tests/bot/chat/test_gateway.py); the desk and
the outbox (which queues the rating request) are the real ones."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.email_channel import EmailChannel
from bot.chat.gateway import ChatGateway
from bot.conversations.hub import ConversationHub
from bot.conversations.models import Message
from bot.handoff.desk import HandoffDesk
from bot.handoff.models import ConversationRating, Handoff
from bot.handoff.presence import InProcessPresence
from bot.handoff.signals import EscalationSignals
from bot.mail.compose import Letterhead
from bot.mail.imap import InboxPoller
from bot.mail.models import InboundMail, OutboundMail
from bot.mail.outbox import Outbox
from bot.mail.tokens import reply_address
from bot.settings import parse_mail_url
from tests.bot.chat.test_gateway import FakeRasa
from tests.bot.conftest import Staff
from tests.servers.imap import ImapServer, imap_server

SUPPORT = "support@example.com"
SECRET = "mail-test-secret-0123456789abcdef"


@pytest.fixture
def dovecot() -> Iterator[ImapServer]:
    yield from imap_server()


@pytest.fixture
def mail_desk(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals
) -> HandoffDesk:
    outbox = Outbox(Letterhead(SUPPORT, "ACME", SECRET, "https://shop.example"), timedelta(0))
    return HandoffDesk(
        sessions, hub, signals, presence=InProcessPresence(timedelta(0)), outbox=outbox
    )


@pytest.fixture
def rasa(sessions: sessionmaker[Session]) -> FakeRasa:
    return FakeRasa(sessions)  # answers "Hello! How can I help?": no article, to the agents


@pytest.fixture
def channel(
    sessions: sessionmaker[Session], rasa: FakeRasa, hub: ConversationHub, mail_desk: HandoffDesk
) -> EmailChannel:
    gateway = ChatGateway(sessions, rasa, hub, mail_desk)  # type: ignore[arg-type]
    assert mail_desk.outbox is not None
    return EmailChannel(sessions, gateway, mail_desk, mail_desk.outbox, SUPPORT, SECRET)


@pytest.fixture
def customer_writes(
    dovecot: ImapServer, sessions: sessionmaker[Session], channel: EmailChannel
) -> Callable[[bytes], int]:
    """Puts a mail in the support mailbox and reads the mailbox once: how many were read."""

    def write(raw: bytes) -> int:
        dovecot.deliver(raw)
        poller = InboxPoller(
            parse_mail_url(dovecot.url, ("imap", "imaps")),
            sessions,
            channel.receive,
            max_bytes=1_000_000,
            poll_s=0.2,
            max_backoff_s=0.5,
        )
        return asyncio.run(poller.poll())

    return write


def mail(body: str, message_id: str, *, to: str = SUPPORT, in_reply_to: str = "") -> bytes:
    thread = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    return (
        f"From: Jane <jane@example.org>\r\nTo: {to}\r\nSubject: Re: Your request\r\n"
        f"Message-ID: {message_id}\r\n{thread}Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


def unanswered_mail(
    customer_writes: Callable[[bytes], int], sessions: sessionmaker[Session]
) -> Handoff:
    """A customer's mail the bot cannot answer: the handoff it opened."""
    assert customer_writes(mail("Does your CEO like opera?", "<first@example.org>")) == 1
    with sessions() as session:
        return session.scalars(select(Handoff)).one()


def resolved_email_conversation(
    customer_writes: Callable[[bytes], int],
    sessions: sessionmaker[Session],
    mail_desk: HandoffDesk,
    staff: Staff,
) -> tuple[str, str]:
    """A customer's mail the bot cannot answer, taken and resolved by an agent: the
    conversation and the Message-ID of the rating request the outbox queued."""
    handoff = unanswered_mail(customer_writes, sessions)
    asyncio.run(mail_desk.claim(handoff.id, staff.alice))
    asyncio.run(mail_desk.resolve(handoff.id, staff.alice))
    with sessions() as session:
        request = session.scalars(
            select(OutboundMail).where(OutboundMail.kind == "rating_request")
        ).one()
        return handoff.conversation_id, request.message_id_header


def state(sessions: sessionmaker[Session], conversation_id: str) -> tuple[list[str], list[str]]:
    """The conversation's messages (sender: text) and its handoffs' statuses."""
    with sessions() as session:
        messages = session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        )
        handoffs = session.scalars(select(Handoff.status).order_by(Handoff.id))
        return [f"{m.sender}: {m.text}" for m in messages], list(handoffs)


def ratings(sessions: sessionmaker[Session]) -> list[tuple[str, int, str | None, str, int | None]]:
    with sessions() as session:
        return [
            (r.conversation_id, r.score, r.comment, r.resolved_by, r.agent_id)
            for r in session.scalars(select(ConversationRating))
        ]


def inbox_reason(sessions: sessionmaker[Session], message_id: str) -> tuple[str, str | None]:
    with sessions() as session:
        row = session.scalars(
            select(InboundMail).where(InboundMail.message_id_header == message_id)
        ).one()
        return row.status, row.reason


def test_a_reply_to_the_rating_request_rates_the_conversation_and_wakes_nothing(
    customer_writes: Callable[[bytes], int],
    sessions: sessionmaker[Session],
    mail_desk: HandoffDesk,
    rasa: FakeRasa,
    staff: Staff,
) -> None:
    conversation_id, request_id = resolved_email_conversation(
        customer_writes, sessions, mail_desk, staff
    )
    before = state(sessions, conversation_id)
    bot_calls = len(rasa.calls)
    answer = "４分，回复很快\n\n在 2026年12月7日，ACME <support@example.com> 写道：\n> 请打分"
    assert customer_writes(mail(answer, "<rating@example.org>", in_reply_to=request_id)) == 1

    # Credited to the agent who resolved it, with the comment; the quote is not in it.
    assert ratings(sessions) == [(conversation_id, 4, "回复很快", "agent", staff.alice.id)]
    assert state(sessions, conversation_id) == before  # no message, no new handoff
    assert before[1] == ["resolved"]
    assert len(rasa.calls) == bot_calls
    assert inbox_reason(sessions, "<rating@example.org>") == ("accepted", "rating")

    # A second score is refused, as the widget's is: the first stays.
    assert customer_writes(mail("1", "<again@example.org>", in_reply_to=request_id)) == 1
    assert [r[1] for r in ratings(sessions)] == [4]
    assert inbox_reason(sessions, "<again@example.org>") == ("accepted", "rating_refused")
    assert state(sessions, conversation_id) == before

    # Words without a score are the customer writing again: a message through the gateway.
    more = mail("3 days later it broke again", "<more@example.org>", in_reply_to=request_id)
    assert customer_writes(more) == 1
    messages, _ = state(sessions, conversation_id)
    assert messages[len(before[0])] == "customer: 3 days later it broke again"
    assert len(rasa.calls) == bot_calls + 1
    assert [r[1] for r in ratings(sessions)] == [4]


def test_the_reply_token_rates_only_a_resolved_conversation(
    customer_writes: Callable[[bytes], int],
    sessions: sessionmaker[Session],
    mail_desk: HandoffDesk,
    rasa: FakeRasa,
    staff: Staff,
) -> None:
    # Open, with an agent: "5" by the reply token is a message for the agent, not a rating.
    handoff = unanswered_mail(customer_writes, sessions)
    address = reply_address(SUPPORT, handoff.conversation_id, SECRET)
    asyncio.run(mail_desk.claim(handoff.id, staff.alice))
    customer_writes(mail("5", "<early@example.org>", to=address))
    assert ratings(sessions) == []
    assert state(sessions, handoff.conversation_id)[0][-1] == "customer: 5"

    # Resolved: the client dropped In-Reply-To, the token still finds the rating.
    asyncio.run(mail_desk.resolve(handoff.id, staff.alice))
    customer_writes(mail("五星", "<late@example.org>", to=address))
    assert ratings(sessions) == [(handoff.conversation_id, 5, None, "agent", staff.alice.id)]
    assert state(sessions, handoff.conversation_id)[1] == ["resolved"]
