"""A mail becomes a customer message of the right conversation, through the gateway, and the
bot's answer goes back by mail or the conversation to the agents. Rasa and the outbox are fakes
here (the real ones: tests/e2e/test_email_inbound.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat import email_channel
from bot.chat.email_channel import EmailChannel
from bot.chat.gateway import ChatGateway
from bot.conversations.hub import ConversationHub
from bot.conversations.models import Conversation, Message
from bot.conversations.rasa_client import BotReply
from bot.conversations.schemas import MessageCreate
from bot.conversations.store import ConversationStore
from bot.handoff.desk import HandoffDesk
from bot.handoff.models import Handoff
from bot.handoff.presence import InProcessPresence
from bot.handoff.schemas import HandoffCreate
from bot.handoff.signals import EscalationSignals
from bot.mail.imap import FetchedMail
from bot.mail.inbound import ParsedMail, read_mail
from bot.mail.inbox import InboxStore
from bot.mail.models import InboundMail, OutboundMail
from bot.mail.tokens import reply_address
from db.base import utcnow
from db.engine import in_worker_thread
from tests.bot.chat.test_gateway import FakeRasa
from tests.bot.conftest import Staff

SUPPORT = "support@example.com"
SECRET = "mail-test-secret-0123456789abcdef"
ARTICLE = {"id": "shipping-times", "title": "Shipping times", "url": "/kb/shipping-times"}


class FakeOutbox:
    """Queues rows in the outbox as the real one does (what was mailed is in the database),
    without composing anything."""

    enabled = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def _queue(
        self, session: Session, conversation: Conversation, kind: str, to: str, row: int | None
    ) -> OutboundMail:
        mail = OutboundMail(
            conversation_id=conversation.id, kind=kind, to_address=to, subject="s",
            body_text="t", body_html="h", language=conversation.language or "en",
            message_id_header=f"<{uuid.uuid4()}@kefu.example.com>", message_row_id=row,
            status="queued", attempts=0, next_attempt_at=utcnow(), created_at=utcnow(),
        )  # fmt: skip
        session.add(mail)
        session.flush()
        return mail

    def enqueue_reply(
        self, session: Session, conversation: Conversation, message: Message, kind: str
    ) -> OutboundMail | None:
        self.calls.append((kind, conversation.id, message.text))
        return self._queue(
            session, conversation, kind, conversation.contact_email or "", message.id
        )

    def confirmation(
        self, session: Session, conversation: Conversation, email: str, texts: list[str]
    ) -> OutboundMail | None:
        self.calls.append(("confirmation", conversation.id, email))
        return self._queue(session, conversation, "confirmation", email, None)


@pytest.fixture
def rasa(sessions: sessionmaker[Session]) -> FakeRasa:
    return FakeRasa(sessions)


@pytest.fixture
def outbox() -> FakeOutbox:
    return FakeOutbox()


@pytest.fixture
def gateway(
    sessions: sessionmaker[Session], rasa: FakeRasa, hub: ConversationHub, desk: HandoffDesk
) -> ChatGateway:
    return ChatGateway(sessions, rasa, hub, desk)  # type: ignore[arg-type]


@pytest.fixture
def channel(
    sessions: sessionmaker[Session], gateway: ChatGateway, desk: HandoffDesk, outbox: FakeOutbox
) -> EmailChannel:
    return EmailChannel(sessions, gateway, desk, outbox, SUPPORT, SECRET)


def raw_mail(
    body: str = "How long does shipping to Berlin take?",
    *,
    message_id: str = "<m1@example.org>",
    subject: str = "Shipping",
    to: str = SUPPORT,
    headers: str = "",
    sender: str = "Jane Doe <jane@example.org>",
) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def deliver(channel: EmailChannel, raw: bytes, uid: int = 1) -> None:
    asyncio.run(channel.receive(FetchedMail(uid=uid, size=len(raw), raw=raw)))


def answers_with_article(rasa: FakeRasa) -> None:
    rasa.replies = [
        BotReply(text="Shipping to Germany takes 3 days.", articles=[ARTICLE]),
    ]


def conversations(sessions: sessionmaker[Session]) -> list[Conversation]:
    with sessions() as session:
        return list(session.scalars(select(Conversation).order_by(Conversation.created_at)))


def transcript(sessions: sessionmaker[Session], cid: str) -> list[Message]:
    with sessions() as session:
        return ConversationStore(session).transcript(cid)


def handoffs(sessions: sessionmaker[Session]) -> list[Handoff]:
    with sessions() as session:
        return list(session.scalars(select(Handoff)))


def inbox_row(sessions: sessionmaker[Session]) -> InboundMail:
    """The one mail the inbox has kept."""
    with sessions() as session:
        return session.scalars(select(InboundMail)).one()


def widget_conversation(session: Session) -> Conversation:
    """A widget conversation whose customer left jane@example.org, committed."""
    widget = ConversationStore(session).open(language="en")
    widget.contact_email = "jane@example.org"
    session.commit()
    return widget


def test_a_new_mail_the_knowledge_base_answers_is_answered_by_mail(
    channel: EmailChannel, rasa: FakeRasa, outbox: FakeOutbox, sessions: sessionmaker[Session]
) -> None:
    answers_with_article(rasa)
    deliver(channel, raw_mail("How long does shipping to Berlin take?\n\n-- \nJane"))
    (conversation,) = conversations(sessions)
    assert (conversation.channel, conversation.contact_email, conversation.language) == (
        "email",
        "jane@example.org",
        "en",
    )
    customer, _answer = transcript(sessions, conversation.id)
    # The bot reads the subject and the new text; the agent has the whole mail too.
    assert customer.text == "Shipping\n\nHow long does shipping to Berlin take?"
    assert rasa.calls == [(conversation.id, customer.text)]
    assert rasa.channels == ["email"]
    assert customer.payload["email"]["text"].endswith("--\nJane")
    assert outbox.calls == [("bot_answer", conversation.id, "Shipping to Germany takes 3 days.")]
    assert handoffs(sessions) == []


def test_a_mail_without_an_answer_goes_to_the_agents_and_the_customer_is_told(
    channel: EmailChannel, rasa: FakeRasa, outbox: FakeOutbox, sessions: sessionmaker[Session]
) -> None:
    rasa.replies = [
        BotReply(text="Did you mean one of these?", buttons=[{"title": "A", "payload": "/a"}])
    ]
    deliver(channel, raw_mail("我的发票在哪里？", subject="发票"))
    (conversation,) = conversations(sessions)
    assert conversation.language == "zh"
    (handoff,) = handoffs(sessions)
    assert (handoff.conversation_id, handoff.reason, handoff.customer_email) == (
        conversation.id,
        "unanswered",
        "jane@example.org",
    )
    assert outbox.calls == [("confirmation", conversation.id, "jane@example.org")]


def test_a_mail_read_again_is_stored_and_answered_once(
    channel: EmailChannel, rasa: FakeRasa, outbox: FakeOutbox, sessions: sessionmaker[Session]
) -> None:
    answers_with_article(rasa)
    deliver(channel, raw_mail())
    deliver(channel, raw_mail(), uid=2)
    (conversation,) = conversations(sessions)
    assert len(transcript(sessions, conversation.id)) == 2
    assert len(rasa.calls) == 1 and len(outbox.calls) == 1


def another_worker(
    sessions: sessionmaker[Session],
    rasa: FakeRasa,
    outbox: FakeOutbox,
    signals: EscalationSignals,
    answered: bool,
) -> EmailChannel:
    """A second service worker's email channel on the same database, with its own gateway, hub
    and desk; Rasa answers with an article (``answered``) or without one."""
    hub = ConversationHub()
    desk = HandoffDesk(sessions, hub, signals, presence=InProcessPresence(timedelta(0)))
    gateway = ChatGateway(sessions, rasa, hub, desk)  # type: ignore[arg-type]
    if answered:
        answers_with_article(rasa)
    else:
        rasa.replies = [BotReply(text="Sorry, I don't know.")]
    return EmailChannel(sessions, gateway, desk, outbox, SUPPORT, SECRET)


@pytest.mark.parametrize("answered", [True, False], ids=["mailed", "handed-off"])
def test_two_workers_reading_the_same_mail_answer_it_once(
    channel: EmailChannel,
    rasa: FakeRasa,
    outbox: FakeOutbox,
    sessions: sessionmaker[Session],
    signals: EscalationSignals,
    monkeypatch: pytest.MonkeyPatch,
    answered: bool,
) -> None:
    # Another service worker polls the same mailbox with its own gateway, hub and desk.
    other = another_worker(sessions, rasa, outbox, signals, answered)
    raw = raw_mail()
    fetched = FetchedMail(uid=1, size=len(raw), raw=raw)
    # This worker finds no inbox row for the mail; while it looks for the mail's thread, the
    # other worker takes the whole mail (its row, its conversation, the bot's answer).
    look_for_the_thread = InboxStore.thread_of
    meanwhile = [lambda: asyncio.run(other.receive(fetched))]

    def the_other_worker_takes_it_first(store: InboxStore, *args: Any) -> Any:
        if meanwhile:
            meanwhile.pop()()
        return look_for_the_thread(store, *args)

    monkeypatch.setattr(InboxStore, "thread_of", the_other_worker_takes_it_first)
    asyncio.run(channel.receive(fetched))
    assert meanwhile == []  # the other worker did take it first
    (conversation,) = conversations(sessions)  # no second, empty or not
    assert [m.sender for m in transcript(sessions, conversation.id)] == ["customer", "bot"]
    assert len(rasa.calls) == 1
    if answered:
        assert [kind for kind, _, _ in outbox.calls] == ["bot_answer"]
        assert handoffs(sessions) == []
    else:
        assert [kind for kind, _, _ in outbox.calls] == ["confirmation"]
        assert len(handoffs(sessions)) == 1
    assert inbox_row(sessions).conversation_id == conversation.id


def test_a_mail_is_parsed_off_the_event_loop(
    channel: EmailChannel,
    rasa: FakeRasa,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Parsing a mail of up to 10 MB (MIME, HTML to text) must not stall every socket.
    on_the_loop: list[bool] = []

    def reading(raw: bytes, own: tuple[str, ...]) -> ParsedMail:
        try:
            asyncio.get_running_loop()
            on_the_loop.append(True)
        except RuntimeError:
            on_the_loop.append(False)
        return read_mail(raw, own)

    monkeypatch.setattr(email_channel, "read_mail", reading)
    answers_with_article(rasa)
    deliver(channel, raw_mail())
    assert on_the_loop == [False]
    assert len(conversations(sessions)) == 1


def test_a_crash_between_keeping_the_mail_and_storing_the_message_resumes(
    channel: EmailChannel, rasa: FakeRasa, outbox: FakeOutbox, sessions: sessionmaker[Session]
) -> None:
    answers_with_article(rasa)
    deliver(channel, raw_mail())
    with sessions() as session:  # as if the service died before the message was attached
        row = session.scalars(select(InboundMail)).one()
        row.message_row_id = None
        session.commit()
    deliver(channel, raw_mail(), uid=2)
    (conversation,) = conversations(sessions)
    assert len(transcript(sessions, conversation.id)) == 2  # the gateway knew the message
    assert len(outbox.calls) == 1


def test_a_reply_to_our_mail_lands_in_its_widget_conversation(
    channel: EmailChannel,
    gateway: ChatGateway,
    rasa: FakeRasa,
    outbox: FakeOutbox,
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        widget = widget_conversation(session)
        outbox._queue(session, widget, "agent_reply", "jane@example.org", None)
        session.commit()
        sent = session.scalars(select(OutboundMail.message_id_header)).one()
    answers_with_article(rasa)
    deliver(
        channel,
        raw_mail(
            "Thanks, that worked!\n\nOn Mon, Agent wrote:\n> Try this",
            message_id="<r1@example.org>",
            subject="Re: Your request",
            headers=f"In-Reply-To: {sent}\r\nReferences: {sent}\r\n",
        ),
    )
    (conversation,) = conversations(sessions)
    assert conversation.id == widget.id and conversation.channel == "widget"
    assert transcript(sessions, widget.id)[0].text == "Thanks, that worked!"


def test_a_reply_token_threads_and_a_forged_one_does_not(
    channel: EmailChannel, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    answers_with_article(rasa)
    deliver(channel, raw_mail())
    (first,) = conversations(sessions)
    token_address = reply_address(SUPPORT, first.id, SECRET)
    deliver(channel, raw_mail("And to Paris?", message_id="<m2@example.org>", to=token_address))
    assert len(conversations(sessions)) == 1
    assert transcript(sessions, first.id)[-2].text == "And to Paris?"
    forged = reply_address(SUPPORT, first.id, "another-secret-0123456789abcdef")
    deliver(channel, raw_mail("Let me in", message_id="<m3@example.org>", to=forged))
    assert len(conversations(sessions)) == 2
    assert all(m.text != "Shipping\n\nLet me in" for m in transcript(sessions, first.id))


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        ("Auto-Submitted: auto-replied\r\n", "jane@example.org", "auto_submitted"),
        ("Return-Path: <>\r\n", "MAILER-DAEMON@example.org", "bounce"),
        ("", SUPPORT, "own_address"),
    ],
)
def test_robots_are_kept_and_never_answered(
    channel: EmailChannel,
    rasa: FakeRasa,
    outbox: FakeOutbox,
    sessions: sessionmaker[Session],
    headers: str,
    sender: str,
    reason: str,
) -> None:
    deliver(channel, raw_mail(headers=headers, sender=sender))
    assert conversations(sessions) == [] and rasa.calls == [] and outbox.calls == []
    row = inbox_row(sessions)
    assert (row.status, row.reason, row.conversation_id) == ("ignored", reason, None)


def test_an_oversize_mail_is_kept_as_rejected(
    channel: EmailChannel, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    headers = b"From: jane@example.org\r\nSubject: Big\r\nMessage-ID: <big@example.org>\r\n\r\n"
    asyncio.run(channel.receive(FetchedMail(uid=1, size=50_000_000, raw=headers, too_large=True)))
    assert conversations(sessions) == [] and rasa.calls == []
    row = inbox_row(sessions)
    assert (row.status, row.reason, row.size_bytes, row.from_address) == (
        "rejected",
        "too_large",
        50_000_000,
        "jane@example.org",
    )


def test_an_answer_given_after_rasa_came_back_is_mailed(
    channel: EmailChannel,
    gateway: ChatGateway,
    rasa: FakeRasa,
    outbox: FakeOutbox,
    sessions: sessionmaker[Session],
) -> None:
    answers_with_article(rasa)
    rasa.down = True
    deliver(channel, raw_mail())
    assert outbox.calls == [] and handoffs(sessions) == []  # the apology is not mailed
    rasa.down = False
    assert asyncio.run(gateway.redeliver(min_age_s=0)) == 1
    assert [kind for kind, _, _ in outbox.calls] == ["bot_answer"]


def test_widget_messages_are_not_mailed(
    channel: EmailChannel,
    gateway: ChatGateway,
    rasa: FakeRasa,
    outbox: FakeOutbox,
    sessions: sessionmaker[Session],
) -> None:
    answers_with_article(rasa)
    with sessions() as session:
        widget = widget_conversation(session)
    asyncio.run(gateway.receive(widget.id, MessageCreate(text="How long is shipping?")))
    assert rasa.channels == ["widget"]
    assert outbox.calls == []


def test_attachments_are_listed_for_the_agent(
    channel: EmailChannel, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    answers_with_article(rasa)
    raw = (
        b"From: jane@example.org\r\nTo: support@example.com\r\nSubject: Broken\r\n"
        b"Message-ID: <a1@example.org>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee the photo.\r\n--b\r\n"
        b"Content-Type: image/jpeg\r\nContent-Disposition: attachment; filename=box.jpg\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--b--\r\n"
    )
    deliver(channel, raw)
    (conversation,) = conversations(sessions)
    customer = transcript(sessions, conversation.id)[0]
    assert customer.payload["email"]["attachments"] == [
        {"name": "box.jpg", "content_type": "image/jpeg", "size": 6}
    ]


def test_the_agent_reads_the_whole_mail_from_the_moment_the_message_is_stored(
    channel: EmailChannel,
    gateway: ChatGateway,
    desk: HandoffDesk,
    rasa: FakeRasa,
    sessions: sessionmaker[Session],
    staff: Staff,
) -> None:
    # The handoff opens while the gateway answers: the message has its mail by then.
    seen_by_the_handoff: list[Any] = []

    async def look(conversation_id: str, message: Message, replies: Any) -> None:
        with sessions() as session:
            stored = session.get(Message, message.id)
            assert stored is not None
            seen_by_the_handoff.append((stored.payload or {}).get("email"))

    gateway.answer_listeners.insert(0, look)
    rasa.replies = [BotReply(text="Sorry, I don't know.")]
    raw = (
        b"From: Jane <jane@example.org>\r\nTo: support@example.com\r\n"
        b"Subject: <b>Broken</b> kettle\r\nMessage-ID: <w1@example.org>\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nIt leaks <script>x()</script>.\r\n\r\n"
        b"> an old quote\r\n\r\n-- \r\nJane\r\n--b\r\n"
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment; "
        b'filename="<img src=x>.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0x\r\n'
        b"--b--\r\n"
    )
    deliver(channel, raw)
    assert seen_by_the_handoff and seen_by_the_handoff[0]["subject"] == "<b>Broken</b> kettle"
    (handoff,) = handoffs(sessions)
    detail = asyncio.run(desk.detail(handoff.id, staff.alice))
    first = detail.messages[0]
    assert first.email is not None
    assert (first.email.from_, first.email.subject) == ("jane@example.org", "<b>Broken</b> kettle")
    assert "It leaks <script>x()</script>." in first.email.text
    assert "> an old quote" in first.email.text and first.email.text.endswith("--\nJane")
    assert [a.model_dump() for a in first.email.attachments] == [
        {"name": "<img src=x>.pdf", "content_type": "application/pdf", "size": 6}
    ]
    # The API's name for the sender is "from"; the bot's reply has no mail.
    assert detail.model_dump(mode="json")["messages"][0]["email"]["from"] == "jane@example.org"
    assert detail.messages[1].email is None


def test_an_unreadable_mail_payload_is_left_out_not_a_failure(
    desk: HandoffDesk, sessions: sessionmaker[Session], staff: Staff
) -> None:
    with sessions() as session:
        store = ConversationStore(session)
        cid = store.open("en").id
        message, _ = store.add_customer_message(
            cid, "Help", None, email={"subject": ["not", "text"], "attachments": "?"}
        )
        store.release([message.id])
    handoff_id = asyncio.run(
        desk.open(HandoffCreate(conversation_id=cid, reason="requested"))
    ).handoff_id
    detail = asyncio.run(desk.detail(handoff_id, staff.alice))
    assert [(m.text, m.email) for m in detail.messages] == [("Help", None)]


def outbox_rows(sessions: sessionmaker[Session]) -> list[tuple[str, int | None]]:
    with sessions() as session:
        rows = session.scalars(select(OutboundMail).order_by(OutboundMail.id))
        return [(row.kind, row.message_row_id) for row in rows]


def test_an_answer_whose_mail_failed_is_mailed_by_the_sweep_once(
    channel: EmailChannel,
    rasa: FakeRasa,
    outbox: FakeOutbox,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers_with_article(rasa)
    # The database fails once as the answer's mail is queued: the answer is stored, not mailed.
    queue_it = outbox.enqueue_reply
    failures = ["the database went away"]

    def failing_once(*args: Any) -> OutboundMail | None:
        if failures:
            raise RuntimeError(failures.pop())
        return queue_it(*args)

    monkeypatch.setattr(outbox, "enqueue_reply", failing_once)
    deliver(channel, raw_mail())
    assert failures == [] and outbox_rows(sessions) == []
    deliver(channel, raw_mail(), uid=2)  # the mail read again does not help
    assert outbox_rows(sessions) == []
    # An answer stored just now is left to the live listener.
    assert asyncio.run(channel.sweep()) == 0
    assert asyncio.run(channel.sweep(min_age_s=0)) == 1
    (conversation,) = conversations(sessions)
    _customer, answer = transcript(sessions, conversation.id)
    assert outbox_rows(sessions) == [("bot_answer", answer.id)]
    assert asyncio.run(channel.sweep(min_age_s=0)) == 0
    assert outbox_rows(sessions) == [("bot_answer", answer.id)]
    assert handoffs(sessions) == []


def test_an_answer_mailed_live_is_not_swept(
    channel: EmailChannel, rasa: FakeRasa, outbox: FakeOutbox, sessions: sessionmaker[Session]
) -> None:
    answers_with_article(rasa)
    deliver(channel, raw_mail())
    rasa.replies = [BotReply(text="Sorry, I don't know.")]
    deliver(channel, raw_mail("And to Paris?", message_id="<m2@example.org>"))
    assert [kind for kind, _, _ in outbox.calls] == ["bot_answer", "confirmation"]
    assert asyncio.run(channel.sweep(min_age_s=0)) == 0
    assert [kind for kind, _, _ in outbox.calls] == ["bot_answer", "confirmation"]


def test_an_unanswered_mail_whose_handoff_never_opened_is_handed_off_by_the_sweep_once(
    channel: EmailChannel,
    gateway: ChatGateway,
    rasa: FakeRasa,
    outbox: FakeOutbox,
    sessions: sessionmaker[Session],
) -> None:
    rasa.replies = [BotReply(text="Sorry, I don't know.")]
    # The service dies after storing the answer, before its listener runs.
    gateway.answer_listeners.remove(channel.answered)
    deliver(channel, raw_mail())
    gateway.answer_listeners.append(channel.answered)
    assert handoffs(sessions) == [] and outbox.calls == []
    assert asyncio.run(channel.sweep(min_age_s=0)) == 1
    (conversation,) = conversations(sessions)
    (handoff,) = handoffs(sessions)
    assert (handoff.conversation_id, handoff.reason, handoff.customer_email) == (
        conversation.id,
        "unanswered",
        "jane@example.org",
    )
    assert outbox.calls == [("confirmation", conversation.id, "jane@example.org")]
    assert asyncio.run(channel.sweep(min_age_s=0)) == 0
    assert len(handoffs(sessions)) == 1 and len(outbox.calls) == 1


@pytest.mark.parametrize("answered", [True, False], ids=["mailed", "handed-off"])
def test_two_workers_sweeping_at_once_recover_an_answer_once(
    channel: EmailChannel,
    gateway: ChatGateway,
    rasa: FakeRasa,
    outbox: FakeOutbox,
    sessions: sessionmaker[Session],
    signals: EscalationSignals,
    monkeypatch: pytest.MonkeyPatch,
    answered: bool,
) -> None:
    other = another_worker(sessions, rasa, outbox, signals, answered)
    gateway.answer_listeners.remove(channel.answered)
    deliver(channel, raw_mail())
    # Both workers find the answer unfollowed; the other one recovers it first.
    find = email_channel._unfollowed
    found_by_both = asyncio.run(
        in_worker_thread(sessions, find, utcnow(), utcnow() - timedelta(days=1), True)
    )
    assert len(found_by_both) == 1
    monkeypatch.setattr(email_channel, "_unfollowed", lambda *args: found_by_both)
    assert asyncio.run(other.sweep(min_age_s=0)) == 1
    assert asyncio.run(channel.sweep(min_age_s=0)) == 0  # the check again, under the lock
    if answered:
        assert [kind for kind, _, _ in outbox.calls] == ["bot_answer"]
        assert handoffs(sessions) == []
    else:
        assert [kind for kind, _, _ in outbox.calls] == ["confirmation"]
        assert len(handoffs(sessions)) == 1
