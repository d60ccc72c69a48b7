"""The outbox against a real SMTP server: each mail sent once, a server that is down delays
mail and loses none, a restart sends nothing twice, a mail that keeps failing is given up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.models import Conversation, Message
from bot.conversations.store import ConversationStore
from bot.mail.models import InboundMail, OutboundMail
from bot.mail.outbox import Outbox, OutboxSender, claim_due, shown_in_widget
from bot.mail.tokens import conversation_from_address
from bot.settings import Settings
from db.base import utcnow
from db.engine import create_engine_for, session_factory, unit_of_work
from tests.servers.smtp import SmtpServer, Stage

SECRET = "k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5"


def mail_settings(server: SmtpServer, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "smtp_url": server.url,
        "mail_from": "support@shop.test",
        "company_name": "Shop",
        "secret_key": SECRET,
        "mail_retry_base_s": 0.05,
        "mail_max_attempts": 3,
        "mail_reply_grace_s": 0.3,
    } | overrides
    return Settings(**values)  # type: ignore[arg-type]


def sender_for(sessions: sessionmaker[Session], settings: Settings) -> OutboxSender:
    sender = OutboxSender.from_settings(sessions, settings)
    assert sender is not None
    return sender


def queue_confirmations(
    sessions: sessionmaker[Session], settings: Settings, count: int = 1
) -> list[str]:
    """``count`` conversations, each with a confirmation queued; their ids."""
    outbox = Outbox.from_settings(settings)
    ids = []
    with sessions() as session:
        for n in range(count):
            conversation = ConversationStore(session).open("en")
            mail = outbox.confirmation(session, conversation, f"jane{n}@example.com", ["Help"])
            assert mail is not None
            ids.append(conversation.id)
        session.commit()
    return ids


def rows(sessions: sessionmaker[Session]) -> list[OutboundMail]:
    with sessions() as session:
        return list(session.scalars(select(OutboundMail).order_by(OutboundMail.id)))


def test_a_queued_mail_is_sent_once_with_its_headers(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    settings = mail_settings(smtp_server)
    [conversation_id] = queue_confirmations(sessions, settings)
    sender = sender_for(sessions, settings)
    assert asyncio.run(sender.send_due()) == 1
    assert asyncio.run(sender.send_due()) == 0
    [received] = smtp_server.wait_for(1)
    [row] = rows(sessions)
    assert (row.status, row.attempts, row.sent_at is not None) == ("sent", 1, True)
    message = received.message
    assert received.recipients == ["jane0@example.com"]
    assert received.sender == "support@shop.test"
    assert message["From"] == '"Shop" <support@shop.test>' or message["From"] == (
        "Shop <support@shop.test>"
    )
    assert message["Message-ID"] == row.message_id_header
    assert message["Auto-Submitted"] == "auto-generated"
    reply_to = message["Reply-To"].addresses[0].addr_spec
    assert conversation_from_address(reply_to, "support@shop.test", SECRET) == conversation_id
    assert message.get_content_type() == "multipart/alternative"
    assert sender.state == "ok"


def test_a_server_that_is_down_delays_mail_and_it_goes_once_when_back(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    settings = mail_settings(smtp_server, mail_max_attempts=10)
    smtp_server.stop()
    queue_confirmations(sessions, settings)
    sender = sender_for(sessions, settings)
    assert asyncio.run(sender.send_due()) == 0
    [row] = rows(sessions)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error and "Connect" in row.last_error
    assert sender.state == "failing"
    message_id = row.message_id_header
    assert asyncio.run(sender.send_due()) == 0  # not due again yet: it waits its backoff
    smtp_server.start()
    time.sleep(0.1)  # the first wait: 0.05 s
    assert asyncio.run(sender.send_due()) == 1
    assert asyncio.run(sender.send_due()) == 0
    [received] = smtp_server.wait_for(1)
    assert received.message["Message-ID"] == message_id  # the same mail, not a new one
    [row] = rows(sessions)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert sender.state == "ok"


def test_a_restart_sends_nothing_twice(
    database_url: str, sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    settings = mail_settings(smtp_server)
    queue_confirmations(sessions, settings, count=2)
    assert asyncio.run(sender_for(sessions, settings).send_due()) == 2
    # Another process over the same database: a new engine, a new sender.
    engine = create_engine_for(database_url)
    try:
        again = sender_for(session_factory(engine), settings)
        assert asyncio.run(again.send_due()) == 0
    finally:
        engine.dispose()
    time.sleep(0.2)
    assert len(smtp_server.messages) == 2


def test_two_senders_never_send_one_mail_twice(
    database_url: str, sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    settings = mail_settings(smtp_server)
    queue_confirmations(sessions, settings, count=12)
    engine = create_engine_for(database_url)

    async def both() -> list[int]:
        first = sender_for(sessions, settings)
        second = sender_for(session_factory(engine), settings)
        first.batch = second.batch = 4
        counts = [0, 0]
        for _ in range(4):
            a, b = await asyncio.gather(first.send_due(), second.send_due())
            counts[0] += a
            counts[1] += b
        return counts

    try:
        counts = asyncio.run(both())
    finally:
        engine.dispose()
    received = smtp_server.wait_for(12)
    time.sleep(0.2)
    assert sum(counts) == 12
    ids = [r.message["Message-ID"] for r in smtp_server.messages]
    assert len(ids) == len(set(ids)) == 12
    assert all(r.status == "sent" and r.attempts == 1 for r in rows(sessions))
    assert len(received) == 12


def test_a_mail_refused_for_a_while_is_given_up_after_its_attempts(
    sessions: sessionmaker[Session], smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = mail_settings(smtp_server, mail_max_attempts=3)
    smtp_server.refuse("451 4.3.0 mailbox busy, try again later")
    queue_confirmations(sessions, settings)
    sender = sender_for(sessions, settings)
    for _ in range(3):
        assert asyncio.run(sender.send_due()) == 0
        time.sleep(0.25)  # beyond the backoff of 0.05, 0.1 s
    [row] = rows(sessions)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error is not None and "451" in row.last_error
    assert "given up" in caplog.text
    smtp_server.refuse(None)
    assert asyncio.run(sender.send_due()) == 0  # failed stays failed
    assert smtp_server.messages == []


def test_a_permanent_refusal_fails_at_once(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    settings = mail_settings(smtp_server, mail_max_attempts=10)
    smtp_server.refuse("550 5.1.1 no such user")
    queue_confirmations(sessions, settings)
    asyncio.run(sender_for(sessions, settings).send_due())
    [row] = rows(sessions)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None and "550" in row.last_error


def test_the_server_login_is_used(
    sessions: sessionmaker[Session], smtp_server_with_login: SmtpServer
) -> None:
    settings = mail_settings(smtp_server_with_login)
    queue_confirmations(sessions, settings)
    assert asyncio.run(sender_for(sessions, settings).send_due()) == 1
    smtp_server_with_login.wait_for(1)


def test_a_wrong_login_keeps_the_mail_for_later(
    sessions: sessionmaker[Session], smtp_server_with_login: SmtpServer
) -> None:
    url = f"smtp://kefu:wrong@127.0.0.1:{smtp_server_with_login.port}"
    settings = mail_settings(smtp_server_with_login, smtp_url=url)
    queue_confirmations(sessions, settings)
    sender = sender_for(sessions, settings)
    assert asyncio.run(sender.send_due()) == 0
    [row] = rows(sessions)
    assert row.status == "queued" and row.last_error and "535" in row.last_error
    assert "wrong" not in row.last_error  # never the password
    assert smtp_server_with_login.messages == []


def agent_message(sessions: sessionmaker[Session], email: str = "jane@example.com") -> int:
    with sessions() as session:
        store = ConversationStore(session)
        conversation = store.open("en")
        conversation.contact_email = email
        message = store.add_message(
            conversation.id, "agent", "Your refund is on its way.", {"agent_name": "Alice"}
        )
        session.commit()
        return message.id


def queue_agent_reply(
    sessions: sessionmaker[Session], outbox: Outbox, message_id: int, widget_open: bool
) -> OutboundMail | None:
    with sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation is not None
        mail = outbox.agent_reply(session, conversation, message, widget_open)
        session.commit()
        return mail


def test_an_agents_reply_waits_its_grace_then_goes(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    settings = mail_settings(smtp_server, mail_reply_grace_s=0.3)
    outbox = Outbox.from_settings(settings)
    message_id = agent_message(sessions)
    assert queue_agent_reply(sessions, outbox, message_id, widget_open=False) is not None
    sender = sender_for(sessions, settings)
    assert asyncio.run(sender.send_due()) == 0  # the widget may still show it
    time.sleep(0.35)
    assert asyncio.run(sender.send_due()) == 1
    [received] = smtp_server.wait_for(1)
    assert "Auto-Submitted" not in received.message  # a person wrote it
    body = received.message.get_body(("plain",))
    assert body is not None and "Your refund is on its way." in body.get_content()
    assert "Alice" in body.get_content()


def test_an_agents_reply_the_widget_showed_is_not_mailed(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    settings = mail_settings(smtp_server, mail_reply_grace_s=0.2)
    outbox = Outbox.from_settings(settings)
    message_id = agent_message(sessions)
    queue_agent_reply(sessions, outbox, message_id, widget_open=False)
    with sessions() as session:
        conversation_id = session.get(Message, message_id).conversation_id  # type: ignore[union-attr]
        assert shown_in_widget(session, conversation_id, message_id - 1) == 0  # an older one
        assert shown_in_widget(session, conversation_id, message_id) == 1
        session.commit()
    time.sleep(0.25)
    assert asyncio.run(sender_for(sessions, settings).send_due()) == 0
    [row] = rows(sessions)
    assert row.status == "cancelled"
    assert smtp_server.messages == []
    # A widget open when the agent replied: nothing queued at all.
    assert queue_agent_reply(sessions, outbox, agent_message(sessions), widget_open=True) is None


def test_no_mail_without_an_address_or_with_email_off(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    message_id = agent_message(sessions, email="")
    outbox = Outbox.from_settings(mail_settings(smtp_server))
    assert queue_agent_reply(sessions, outbox, message_id, widget_open=False) is None
    off = Outbox.from_settings(Settings(secret_key=SECRET))
    assert not off.enabled
    assert queue_agent_reply(sessions, off, agent_message(sessions), widget_open=False) is None
    assert rows(sessions) == []


def test_a_mail_that_cannot_be_a_message_fails_alone_and_the_batch_goes_on(
    sessions: sessionmaker[Session], smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A row queued with a subject EmailMessage refuses (a customer's "a\\rb", stored before
    subjects were read as one line) is given up with the reason; it ended the round before,
    and was claimed again after every lease, holding the mail queued behind it."""
    settings = mail_settings(smtp_server, mail_max_attempts=10)
    queue_confirmations(sessions, settings, count=2)
    with sessions() as session:
        first = session.scalars(select(OutboundMail).order_by(OutboundMail.id)).first()
        assert first is not None
        first.subject = "Re: a\rb"
        session.commit()
    sender = sender_for(sessions, settings)
    assert asyncio.run(sender.send_due()) == 1
    [received] = smtp_server.wait_for(1)
    assert received.recipients == ["jane1@example.com"]
    broken, sent = rows(sessions)
    assert (broken.status, broken.attempts) == ("failed", 1)
    assert broken.last_error is not None and "ValueError" in broken.last_error
    assert "not a valid message" in broken.last_error
    assert f"mail {broken.id} to jane0@example.com failed" in caplog.text
    assert sent.status == "sent"
    assert sender.state == "ok"  # the server is fine: the row was not
    assert asyncio.run(sender.send_due()) == 0  # failed stays failed


def test_a_customers_subject_is_answered_on_one_line(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    """An email conversation's replies are "Re: " the customer's subject: one stored with a
    line break (before subjects were read as one line) is answered on one line."""
    settings = mail_settings(smtp_server)
    with sessions() as session:
        store = ConversationStore(session)
        conversation = store.open("en")
        conversation.channel, conversation.contact_email = "email", "jane@example.com"
        session.add(
            InboundMail(
                message_id_header="<first@example.com>",
                conversation_id=conversation.id,
                from_address="jane@example.com",
                subject="where is\r\nmy order?\u2028",
                status="accepted",
            )
        )
        message = store.add_message(conversation.id, "agent", "On its way.", {"agent_name": "Al"})
        mail = Outbox.from_settings(settings).enqueue_reply(
            session, conversation, message, "agent_reply"
        )
        assert mail is not None and mail.subject == "Re: where is my order?"
        session.commit()
    assert asyncio.run(sender_for(sessions, settings).send_due()) == 1
    [received] = smtp_server.wait_for(1)
    assert received.message["Subject"] == "Re: where is my order?"
    assert received.message["In-Reply-To"] == "<first@example.com>"


@pytest.mark.parametrize(
    ("stage", "reply", "status"),
    [
        ("greeting", "554 5.3.2 no service here", "queued"),
        ("EHLO", "550 5.7.1 not you", "queued"),  # and HELO: the client tries both
        ("MAIL", "553 5.7.1 sender address rejected", "queued"),
        ("RCPT", "550 5.1.1 no such user", "failed"),
        ("DATA", "554 5.6.0 content refused", "failed"),
    ],
)
def test_only_a_refusal_of_the_mail_itself_is_permanent(
    sessions: sessionmaker[Session], smtp_server: SmtpServer, stage: Stage, reply: str, status: str
) -> None:
    """A 5xx at the greeting, EHLO/HELO or MAIL FROM is the server's state or Kefu's setup
    (a relay refusing the support address until it is allowed): every mail of the round waits
    and goes when it is fixed. A refused recipient or content is the mail's: failed at once."""
    settings = mail_settings(smtp_server, mail_max_attempts=10)
    smtp_server.refuse(reply, at=stage)
    if stage == "EHLO":
        smtp_server.refuse(reply, at="HELO")
    queue_confirmations(sessions, settings, count=2)
    sender = sender_for(sessions, settings)
    assert asyncio.run(sender.send_due()) == 0
    for row in rows(sessions):
        assert (row.status, row.attempts) == (status, 1)
        assert row.last_error is not None and reply[:3] in row.last_error
    assert sender.state == "failing"
    smtp_server.refuse(None, at=stage)
    smtp_server.refuse(None, at="HELO")
    time.sleep(0.1)  # the first wait: 0.05 s
    assert asyncio.run(sender.send_due()) == (2 if status == "queued" else 0)
    assert len(smtp_server.messages) == (2 if status == "queued" else 0)


# -- a claim lost during a slow round: another sender took a row after its lease ran out ----


def take_over(sessions: sessionmaker[Session], mail_id: int) -> OutboundMail:
    """What another sender does once the row's lease ran out (a slow server held this sender
    longer than the lease): the lease moved into the past, then that sender's claim."""
    with unit_of_work(sessions) as session:
        session.execute(
            update(OutboundMail)
            .where(OutboundMail.id == mail_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
        [taken] = claim_due(session, utcnow(), 10)
    assert taken.id == mail_id
    return taken


def at_first(stage: Stage, call: Callable[[], object]) -> Callable[[Stage], None]:
    """A server hook calling ``call`` at the first ``stage`` of the test (once)."""
    done: list[bool] = []

    def hook(reached: Stage) -> None:
        if reached == stage and not done:
            done.append(True)
            call()

    return hook


def test_a_mail_whose_claim_was_lost_is_not_sent_by_this_sender(
    database_url: str,
    sessions: sessionmaker[Session],
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The round claimed both mails; while the server takes the first, the second's lease runs
    out and another sender claims it. This sender does not send it: the other one does, once."""
    settings = mail_settings(smtp_server)
    queue_confirmations(sessions, settings, count=2)
    first_id, second_id = (row.id for row in rows(sessions))
    taken: list[OutboundMail] = []
    smtp_server.on_stage(at_first("DATA", lambda: taken.append(take_over(sessions, second_id))))
    assert asyncio.run(sender_for(sessions, settings).send_due()) == 1
    assert [m.recipients for m in smtp_server.wait_for(1)] == [["jane0@example.com"]]
    assert f"mail {second_id}: not sent by this sender" in caplog.text
    first, second = rows(sessions)
    assert (first.id, first.status) == (first_id, "sent")
    assert (second.status, second.attempts, second.last_error) == ("queued", 2, None)
    # The sender that claimed it sends it, once.
    engine = create_engine_for(database_url)
    try:
        other = sender_for(session_factory(engine), settings)
        assert asyncio.run(other.send(taken)) == 1
    finally:
        engine.dispose()
    received = smtp_server.wait_for(2)
    assert [m.recipients for m in received] == [["jane0@example.com"], ["jane1@example.com"]]
    assert [r.status for r in rows(sessions)] == ["sent", "sent"]


def test_a_mail_sent_as_its_claim_was_lost_is_recorded_sent_and_not_sent_again(
    sessions: sessionmaker[Session], smtp_server: SmtpServer
) -> None:
    """The lease ran out during the mail's own exchange and another sender claimed it: the
    server accepted this sender's copy, so the row says sent, and the other sender, which
    checks its claim before sending, sends nothing."""
    settings = mail_settings(smtp_server)
    queue_confirmations(sessions, settings)
    [row] = rows(sessions)
    taken: list[OutboundMail] = []
    smtp_server.on_stage(at_first("DATA", lambda: taken.append(take_over(sessions, row.id))))
    assert asyncio.run(sender_for(sessions, settings).send_due()) == 1
    [done] = rows(sessions)
    assert (done.status, done.attempts) == ("sent", 2)
    smtp_server.on_stage(None)
    assert asyncio.run(sender_for(sessions, settings).send(taken)) == 0
    time.sleep(0.1)
    assert len(smtp_server.messages) == 1


def test_a_failed_attempt_is_not_written_over_another_senders_claim(
    sessions: sessionmaker[Session], smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """This sender's attempt fails after another sender claimed the row: writing the wait
    would make the row due again while that sender holds it (a third could send it too)."""
    settings = mail_settings(smtp_server, mail_max_attempts=10)
    smtp_server.refuse("451 4.3.0 try again later")
    queue_confirmations(sessions, settings)
    [row] = rows(sessions)
    smtp_server.on_stage(at_first("RCPT", lambda: take_over(sessions, row.id)))
    before = utcnow()
    assert asyncio.run(sender_for(sessions, settings).send_due()) == 0
    [held] = rows(sessions)
    assert (held.status, held.attempts, held.last_error) == ("queued", 2, None)
    assert held.next_attempt_at >= before + timedelta(minutes=4)  # the other sender's lease
    assert "not recorded: the mail is no longer this sender's" in caplog.text
