"""The IMAP poll against a real Dovecot: every mail recorded once, whatever happens between
two polls (a restart of the service, the server down, a renumbered mailbox)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from bot.mail.imap import MAX_HANDLER_FAILURES, FetchedMail, InboxPoller, MailboxError
from bot.mail.inbound import read_mail
from bot.mail.inbox import InboxStore
from bot.mail.models import InboundMail, MailCursor
from bot.settings import parse_mail_url
from bot.shared.lease import RedisLease
from bot.shared.redis import SharedRedis
from bot.shared.tasks import stopped
from tests.servers.imap import ImapServer, imap_server

MAX_BYTES = 20_000


@pytest.fixture
def dovecot() -> Iterator[ImapServer]:
    yield from imap_server()


def customer_mail(number: int, body: str = "Where is my order?") -> bytes:
    return (
        f"From: Jane <jane{number}@example.org>\r\nTo: support@example.com\r\n"
        f"Subject: Question {number}\r\nMessage-ID: <q{number}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


class Recorder:
    """The handler the service gives the poller, reduced to recording (the routing is
    tests/bot/chat/test_email_channel.py's)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.handed: list[FetchedMail] = []
        self.fail_next = 0
        self.no_free_connection_next = 0

    async def __call__(self, fetched: FetchedMail) -> None:
        self.handed.append(fetched)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("a bug in the handler")
        if self.no_free_connection_next:
            self.no_free_connection_next -= 1
            raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached, timed out")
        mail = read_mail(fetched.raw, ("support@example.com",))
        if fetched.too_large:
            from dataclasses import replace

            mail = replace(mail, status="rejected", reason="too_large", size_bytes=fetched.size)
        with self.sessions() as session:
            InboxStore(session).record(mail)


def poller(
    server: ImapServer,
    sessions: sessionmaker[Session],
    recorder: Recorder,
    port: int | None = None,
    timeout_s: float = 60.0,
    lease: RedisLease | None = None,
) -> InboxPoller:
    """A poller of the Dovecot, or of what listens on ``port`` in front of it."""
    mail_server = parse_mail_url(server.url, ("imap", "imaps"))
    return InboxPoller(
        dataclasses.replace(mail_server, port=port or mail_server.port),
        sessions,
        recorder,
        max_bytes=MAX_BYTES,
        poll_s=0.2,
        max_backoff_s=0.5,
        timeout_s=timeout_s,
        lease=lease,
    )


def poll_once(server: ImapServer, sessions: sessionmaker[Session], recorder: Recorder) -> int:
    """One round of a new poller (as after a restart: only the database remembers)."""
    return asyncio.run(poller(server, sessions, recorder).poll())


def inbox(sessions: sessionmaker[Session]) -> list[tuple[str, str, str | None]]:
    with sessions() as session:
        rows = session.scalars(select(InboundMail).order_by(InboundMail.id))
        return [(r.message_id_header, r.status, r.reason) for r in rows]


def test_new_mail_is_recorded_once_and_marked_seen(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    first = dovecot.deliver(customer_mail(1))
    dovecot.deliver(customer_mail(2))
    recorder = Recorder(sessions)

    assert poll_once(dovecot, sessions, recorder) == 2
    assert inbox(sessions) == [
        ("<q1@example.org>", "accepted", None),
        ("<q2@example.org>", "accepted", None),
    ]
    assert "\\Seen" in dovecot.flags(first)
    # Polled again, and by a new poller (the service restarted): nothing is read twice.
    assert poll_once(dovecot, sessions, recorder) == 0
    assert len(recorder.handed) == 2
    dovecot.deliver(customer_mail(3))
    assert poll_once(dovecot, sessions, recorder) == 1
    assert [h.uid for h in recorder.handed] == [1, 2, 3]
    assert len(inbox(sessions)) == 3


def test_a_crash_before_the_cursor_moved_reads_again_and_records_nothing_twice(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    dovecot.deliver(customer_mail(1))
    recorder = Recorder(sessions)
    poll_once(dovecot, sessions, recorder)
    # The service died after recording, before advancing: the cursor is back where it was.
    with sessions() as session:
        session.get(
            MailCursor, next(iter(session.scalars(select(MailCursor.mailbox))))
        ).last_uid = 0  # type: ignore[union-attr]
        session.commit()
    assert poll_once(dovecot, sessions, recorder) == 1
    assert len(recorder.handed) == 2  # read again…
    assert inbox(sessions) == [("<q1@example.org>", "accepted", None)]  # …kept once


def test_a_mail_the_handler_fails_on_is_read_again_and_later_ones_wait(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    dovecot.deliver(customer_mail(1))
    dovecot.deliver(customer_mail(2))
    recorder = Recorder(sessions)
    recorder.fail_next = 1
    poll = poller(dovecot, sessions, recorder)
    assert asyncio.run(poll.poll()) == 0
    assert inbox(sessions) == []
    assert asyncio.run(poll.poll()) == 2
    assert [m for m, _, _ in inbox(sessions)] == ["<q1@example.org>", "<q2@example.org>"]


def test_a_mail_the_handler_keeps_failing_on_is_passed_over(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    dovecot.deliver(customer_mail(1))
    dovecot.deliver(customer_mail(2))
    recorder = Recorder(sessions)
    recorder.fail_next = MAX_HANDLER_FAILURES
    poll = poller(dovecot, sessions, recorder)
    for _ in range(MAX_HANDLER_FAILURES - 1):
        assert asyncio.run(poll.poll()) == 0
    assert asyncio.run(poll.poll()) == 2  # the first passed over, the second read
    assert [m for m, _, _ in inbox(sessions)] == ["<q2@example.org>"]


def test_a_database_outage_fails_the_round_and_never_passes_a_mail_over(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    dovecot.deliver(customer_mail(1))
    dovecot.deliver(customer_mail(2))
    recorder = Recorder(sessions)
    recorder.no_free_connection_next = MAX_HANDLER_FAILURES + 1
    poll = poller(dovecot, sessions, recorder)
    for _ in range(MAX_HANDLER_FAILURES + 1):
        with pytest.raises(PoolTimeout):
            asyncio.run(poll.poll())
        assert (poll.health.state, poll.health.last_error) == ("failing", "TimeoutError")
    assert inbox(sessions) == []
    assert asyncio.run(poll.poll()) == 2  # the database is back: nothing was skipped
    assert [m for m, _, _ in inbox(sessions)] == ["<q1@example.org>", "<q2@example.org>"]
    assert [h.uid for h in recorder.handed] == [1] * (MAX_HANDLER_FAILURES + 2) + [2]


def test_an_oversize_mail_is_rejected_without_its_body_downloaded(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    dovecot.deliver(customer_mail(1, body="x" * (MAX_BYTES + 1)))
    recorder = Recorder(sessions)
    poll_once(dovecot, sessions, recorder)
    assert inbox(sessions) == [("<q1@example.org>", "rejected", "too_large")]
    (handed,) = recorder.handed
    assert handed.too_large and handed.size > MAX_BYTES
    assert len(handed.raw) < 500  # the headers asked for, not the mail


def test_the_server_down_says_failing_then_recovers(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    recorder = Recorder(sessions)
    poll = poller(dovecot, sessions, recorder)

    async def scenario() -> None:
        task = asyncio.create_task(poll.run_forever())
        try:
            await _until(lambda: poll.health.state == "ok")
            dovecot.stop()
            await _until(lambda: poll.health.state == "failing")
            assert poll.health.last_error_at is not None
            dovecot.start()
            dovecot.deliver(customer_mail(1))
            await _until(lambda: poll.health.state == "ok" and len(inbox(sessions)) == 1)
        finally:
            task.cancel()

    asyncio.run(scenario())
    assert poll.health.as_json()["last_error_at"] is not None


def test_a_wrong_password_says_failing(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    dovecot.password, right = "wrong-password", dovecot.password
    poll = poller(dovecot, sessions, Recorder(sessions))
    dovecot.password = right
    with pytest.raises(Exception, match="login refused"):
        asyncio.run(poll.poll())
    assert poll.health.state == "failing"


def test_a_renumbered_mailbox_is_read_again_without_doubles(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    dovecot.deliver(customer_mail(1))
    recorder = Recorder(sessions)
    poll_once(dovecot, sessions, recorder)
    dovecot.change_uidvalidity(dovecot.uidvalidity() + 1)
    dovecot.deliver(customer_mail(2))
    assert poll_once(dovecot, sessions, recorder) == 1
    assert [m for m, _, _ in inbox(sessions)] == ["<q1@example.org>", "<q2@example.org>"]
    with sessions() as session:
        (cursor,) = session.scalars(select(MailCursor))
        assert cursor.uidvalidity == dovecot.uidvalidity()


def test_mail_read_elsewhere_before_kefu_started_is_not_answered(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    # A mailbox with history: what a person already read there is not Kefu's to answer.
    dovecot.deliver(customer_mail(1), seen=True)
    dovecot.deliver(customer_mail(2))
    recorder = Recorder(sessions)
    poll_once(dovecot, sessions, recorder)
    assert [m for m, _, _ in inbox(sessions)] == ["<q2@example.org>"]
    # Later, every new mail counts, read elsewhere or not.
    dovecot.deliver(customer_mail(3), seen=True)
    poll_once(dovecot, sessions, recorder)
    assert [m for m, _, _ in inbox(sessions)] == ["<q2@example.org>", "<q3@example.org>"]


class SilentAt:
    """A loopback TCP relay in front of the Dovecot that never passes on the client's commands
    holding ``word``: to the client the server goes silent there, as one behind a dead link."""

    def __init__(self, imap_port: int, word: bytes) -> None:
        self.imap_port = imap_port
        self.word = word.upper()
        self.swallowed = 0
        self.open_connections = 0

    async def relay(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        server, to_server = await asyncio.open_connection("127.0.0.1", self.imap_port)

        async def answers() -> None:
            while data := await server.read(65536):
                to_client.write(data)
                await to_client.drain()

        answering = asyncio.create_task(answers())
        try:
            while line := await client.readline():  # the poller sends no literals
                if self.word in line.upper():
                    self.swallowed += 1
                    continue
                to_server.write(line)
                await to_server.drain()
        finally:
            self.open_connections -= 1
            answering.cancel()
            to_server.close()
            to_client.close()


@asynccontextmanager
async def silent_at(server: ImapServer, word: bytes) -> AsyncIterator[tuple[SilentAt, int]]:
    relay = SilentAt(server.port, word)
    listening = await asyncio.start_server(relay.relay, "127.0.0.1", 0)
    try:
        yield relay, listening.sockets[0].getsockname()[1]
    finally:
        listening.close()


def test_a_server_silent_at_marking_seen_fails_the_round_in_time_and_reconnects(
    dovecot: ImapServer, sessions: sessionmaker[Session]
) -> None:
    dovecot.deliver(customer_mail(1))
    recorder = Recorder(sessions)

    async def scenario() -> None:
        async with silent_at(dovecot, b"UID STORE") as (relay, port):
            poll = poller(dovecot, sessions, recorder, port=port, timeout_s=1.0)
            with pytest.raises(MailboxError, match="no answer"):
                await asyncio.wait_for(poll.poll(), 10)  # not for ever
            assert relay.swallowed == 1 and poll.health.state == "failing"
            await _until(lambda: relay.open_connections == 0)  # the connection was dropped
            # The next round opens a new connection (and reads nothing twice).
            assert await asyncio.wait_for(poll.poll(), 10) == 0
            assert poll.health.state == "ok"

    asyncio.run(scenario())
    # Kept and the cursor moved before the mark: the mail is kept once.
    assert inbox(sessions) == [("<q1@example.org>", "accepted", None)]
    assert len(recorder.handed) == 1


@pytest.mark.parametrize("word", [b"UID SEARCH", b"UID FETCH", b"SELECT"])
def test_a_server_silent_at_any_command_fails_the_round_in_time(
    dovecot: ImapServer, sessions: sessionmaker[Session], word: bytes
) -> None:
    dovecot.deliver(customer_mail(1))
    recorder = Recorder(sessions)

    async def scenario() -> None:
        async with silent_at(dovecot, word) as (relay, port):
            poll = poller(dovecot, sessions, recorder, port=port, timeout_s=1.0)
            with pytest.raises(MailboxError, match="no answer"):
                await asyncio.wait_for(poll.poll(), 10)
            assert relay.swallowed == 1
        assert await asyncio.wait_for(poller(dovecot, sessions, recorder).poll(), 10) == 1

    asyncio.run(scenario())
    assert inbox(sessions) == [("<q1@example.org>", "accepted", None)]


def test_with_redis_one_worker_reads_the_mailbox_and_another_takes_over(
    dovecot: ImapServer, sessions: sessionmaker[Session], redis_url: str
) -> None:
    recorder = Recorder(sessions)

    async def scenario() -> None:
        killed, one, two = (SharedRedis.open(redis_url) for _ in range(3))
        try:
            # A worker took the lease and was killed: nobody reads until it lapses.
            assert await RedisLease(killed, "imap", 1.0).hold()
            first = poller(dovecot, sessions, recorder, lease=RedisLease(one, "imap", 1.0))
            second = poller(dovecot, sessions, recorder, lease=RedisLease(two, "imap", 1.0))
            reading = asyncio.create_task(first.run_forever())
            await _until(lambda: first.health.state == "standby")
            await _until(lambda: first.health.state == "ok")  # lapsed: taken over
            standing_by = asyncio.create_task(second.run_forever())
            await _until(lambda: second.health.state == "standby")
            dovecot.deliver(customer_mail(1))
            await _until(lambda: len(inbox(sessions)) == 1)
            await asyncio.sleep(1.5)  # rounds of both, past the lease's time: renewed
            assert second.health.last_poll_at is None  # never read the mailbox
            await stopped(reading)  # a worker stopping gives the lease back
            dovecot.deliver(customer_mail(2))
            await _until(lambda: len(inbox(sessions)) == 2 and second.health.state == "ok")
            await stopped(standing_by)
        finally:
            for shared in (killed, one, two):
                await shared.aclose()

    asyncio.run(scenario())
    assert [h.uid for h in recorder.handed] == [1, 2]


async def _until(condition: object, timeout_s: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)
