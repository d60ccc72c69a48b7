"""Reading the support mailbox by IMAP polling (aioimaplib), mail by mail, losing none.

Each round logs in, selects the mailbox, checks its UIDVALIDITY against the cursor kept in the
database (``mail_cursor``), asks for the UIDs after the last one read, and for each, in order:
its size first (a mail over the limit is handed over without its body, to be recorded as
rejected), then the mail itself (``BODY.PEEK[]``: reading does not mark it), hands it to the
handler, which records it, and only then advances the cursor and marks the mail \\Seen. A crash
between the two re-reads the mail on the next round, and the inbox's unique Message-ID makes
that a no-op: record-then-advance loses nothing and does nothing twice.

A mailbox never read before (or whose UIDVALIDITY changed: the server renumbered it) is read
from its unseen mail of the last few days, not from its beginning: a support mailbox with years
of mail in it must not be answered all at once.

A server that cannot be reached or refuses the login is tried again with a growing wait (up to
``max_backoff_s``), and ``health`` says failing with the time and kind of the last error.

Every service worker runs a poller; with a ``lease`` (Redis, bot/shared/lease.py) only the one
holding it reads the mailbox and the others stand by, ready to take over. Without one, or while
Redis is lost, several may read the same mail at once: the inbox's unique Message-ID (and the
channel, bot/chat/email_channel.py) keep it answered once (docs/email.md#several-workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from aioimaplib import IMAP4, IMAP4_SSL, CommandTimeout
from sqlalchemy.orm import Session, sessionmaker

from bot.mail.models import MailCursor
from bot.settings import MailServer
from db.base import utcnow
from db.engine import UNAVAILABLE_ERRORS, in_worker_thread

log = logging.getLogger(__name__)

T = TypeVar("T")

# A first read (or a renumbered mailbox) takes the unseen mail of this many days.
FIRST_READ_DAYS = 3
# A mail the handler fails on this often (a bug; a database down fails the round instead) is
# passed over and logged, so one mail cannot stop every later one.
MAX_HANDLER_FAILURES = 3
# Every IMAP command has this long (a fetch of a mail at the size limit included); a server
# silent for longer fails the round, and the next round connects again.
COMMAND_TIMEOUT_S = 60.0
# A lease outlives three intervals, and at least this long: it is renewed at each round and
# each mail, and must outlast the longest of those steps, or two workers read at once (safe,
# but the work is done twice).
MIN_LEASE_S = 30.0
# Which headers of a mail over the size limit are read (to record who sent it, not the body).
TOO_LARGE_HEADERS = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID FROM SUBJECT DATE)]"


class MailboxError(Exception):
    """The mailbox could not be read this round (server down, login refused, a bad answer)."""


@dataclass(frozen=True)
class FetchedMail:
    """One mail of the mailbox: ``raw`` is the whole mail, or only its few headers when it is
    over the size limit (``too_large``: its body was never downloaded)."""

    uid: int
    size: int
    raw: bytes
    too_large: bool = False


@dataclass
class InboxHealth:
    """What /health says of inbound mail: off (not configured), starting, ok, failing since
    the last error (its time and kind, never the server's words: they may name users), or
    standby (another worker holds the lease and reads the mailbox)."""

    state: str = "off"
    last_poll_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None

    def as_json(self) -> dict[str, str | None]:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "state": self.state,
            "last_poll_at": moment(self.last_poll_at),
            "last_error_at": moment(self.last_error_at),
            "last_error": self.last_error,
        }


MailHandler = Callable[[FetchedMail], Awaitable[None]]


class PollLease(Protocol):
    """Which worker reads the mailbox (bot.shared.lease.RedisLease)."""

    async def hold(self) -> bool: ...

    async def release(self) -> None: ...


def lease_ttl_s(poll_s: float) -> float:
    return max(3 * poll_s, MIN_LEASE_S)


def mailbox_name(server: MailServer) -> str:
    """The mailbox's name for the cursor and the lease: the same folder on another server or
    account is another mailbox."""
    return f"{server.username or ''}@{server.host}:{server.port}/{server.mailbox}"[:255]


def _cursor(session: Session, mailbox: str) -> tuple[int, int] | None:
    found = session.get(MailCursor, mailbox)
    return (found.uidvalidity, found.last_uid) if found else None


def _advance(session: Session, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    found = session.get(MailCursor, mailbox)
    if found is None:
        session.add(MailCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid))
    else:
        found.uidvalidity, found.last_uid = uidvalidity, last_uid
    session.commit()


class ImapConnection:
    """One logged-in session with the mailbox selected (aioimaplib's client, its raw answers
    read here)."""

    def __init__(self, server: MailServer, timeout_s: float = COMMAND_TIMEOUT_S) -> None:
        self.server = server
        self.timeout_s = timeout_s
        self.client: IMAP4 | None = None
        self.uidvalidity = 0
        # A command went unanswered: the session is in an unknown state, no goodbye is said.
        self.broken = False

    async def _answer(self, command: Awaitable[T], what: str) -> T:
        """The answer to ``command`` within ``timeout_s``, else MailboxError. aioimaplib 2.0.3
        bounds most commands itself but not STORE (nor the TLS handshake of STARTTLS): every
        one goes through here, so a silent server fails the round instead of hanging it."""
        try:
            return await asyncio.wait_for(command, self.timeout_s)
        except (TimeoutError, CommandTimeout):
            self.broken = True
            raise MailboxError(f"no answer to {what} within {self.timeout_s:g} s") from None

    async def open(self) -> None:
        server = self.server
        context = ssl.create_default_context()
        if not server.verify_certificate:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if server.security == "tls":
            self.client = IMAP4_SSL(
                host=server.host, port=server.port, timeout=self.timeout_s, ssl_context=context
            )
        else:
            self.client = IMAP4(host=server.host, port=server.port, timeout=self.timeout_s)
        await self._answer(self.client.wait_hello_from_server(), "the connection")
        if server.security in ("starttls", "opportunistic"):
            await self._starttls(context, required=server.security == "starttls")
        login = self.client.login(server.username or "", server.password or "")
        answer = await self._answer(login, "LOGIN")
        if answer.result != "OK":
            raise MailboxError("login refused")
        answer = await self._answer(self.client.select(_quoted(server.mailbox)), "SELECT")
        if answer.result != "OK":
            raise MailboxError("mailbox not selectable")
        self.uidvalidity = _uidvalidity(answer.lines)

    async def _starttls(self, context: ssl.SSLContext, required: bool) -> None:
        """STARTTLS (RFC 3501 6.2.1), which aioimaplib has no call for: the command, then the
        same connection wrapped in TLS, then the capabilities again (they may change)."""
        assert self.client is not None
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            if required:
                raise MailboxError(
                    "the server offers no STARTTLS and a password must not go in clear"
                )
            return
        answer = await self._answer(protocol.simple_command("STARTTLS"), "STARTTLS")
        if answer.result != "OK":
            raise MailboxError("STARTTLS refused")
        loop = asyncio.get_running_loop()
        handshake = loop.start_tls(
            protocol.transport, protocol, context, server_hostname=self.server.host
        )
        protocol.transport = await self._answer(handshake, "the TLS handshake")
        await self._answer(protocol.capability(), "CAPABILITY")

    async def uids_after(self, last_uid: int) -> list[int]:
        return await self._search(f"UID {last_uid + 1}:*", last_uid)

    async def unseen_since(self, days: int) -> list[int]:
        since = (utcnow() - timedelta(days=days)).strftime("%d-%b-%Y")
        return await self._search(f"UNSEEN SINCE {since}", 0)

    async def _search(self, criteria: str, last_uid: int) -> list[int]:
        client = self._client()
        answer = await self._answer(client.uid_search(criteria, charset=None), "UID SEARCH")
        if answer.result != "OK":
            raise MailboxError("search refused")
        uids: list[int] = []
        for line in answer.lines[:-1]:  # the last is the tagged "Search completed"
            # aioimaplib gives the untagged "* SEARCH 1 2" as "1 2".
            words = _text(line).removeprefix("SEARCH").split()
            if all(word.isdigit() for word in words):
                uids += [int(word) for word in words]
        # "UID n:*" always answers the last mail, even below n (RFC 3501 6.4.8).
        return sorted(uid for uid in set(uids) if uid > last_uid)

    async def size(self, uid: int) -> int | None:
        """The mail's RFC822.SIZE, or None when it is gone (expunged meanwhile)."""
        answer = await self._answer(
            self._client().uid("fetch", str(uid), "(RFC822.SIZE)"), "UID FETCH (RFC822.SIZE)"
        )
        if answer.result != "OK":
            raise MailboxError("fetch refused")
        for line in answer.lines:
            found = re.search(r"RFC822\.SIZE (\d+)", _text(line))
            if found:
                return int(found.group(1))
        return None

    async def fetch(self, uid: int, part: str = "BODY.PEEK[]") -> bytes | None:
        """The mail's bytes (or a part of it), or None when it is gone."""
        answer = await self._answer(self._client().uid("fetch", str(uid), f"({part})"), "UID FETCH")
        if answer.result != "OK":
            raise MailboxError("fetch refused")
        # aioimaplib gives the literal's bytes as a line of their own after "* n FETCH (… {size}".
        for index, line in enumerate(answer.lines[:-1]):
            if isinstance(line, bytes | bytearray) and re.search(rb"\{\d+\}$", bytes(line)):
                return bytes(answer.lines[index + 1])
        return None

    async def mark_seen(self, uid: int) -> None:
        store = self._client().uid("store", str(uid), "+FLAGS.SILENT", "(\\Seen)")
        answer = await self._answer(store, "UID STORE")
        if answer.result != "OK":
            log.warning("mail UID %d not marked seen", uid)

    async def close(self) -> None:
        if self.client is None:
            return
        if not self.broken:
            with contextlib.suppress(Exception):  # a server gone already: no goodbye to say
                await asyncio.wait_for(self.client.logout(), 5)
        transport = getattr(self.client.protocol, "transport", None)
        if transport is not None:
            transport.close()
        self.client = None

    def _client(self) -> IMAP4:
        if self.client is None:
            raise MailboxError("not connected")
        return self.client


def _text(line: bytes | bytearray | str) -> str:
    return line.decode("ascii", "replace") if isinstance(line, bytes | bytearray) else str(line)


def _uidvalidity(lines: list[bytes]) -> int:
    for line in lines:
        found = re.search(r"UIDVALIDITY (\d+)", _text(line))
        if found:
            return int(found.group(1))
    raise MailboxError("the server gave no UIDVALIDITY")


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


class InboxPoller:
    """Polls one mailbox and hands each new mail to ``handle`` (which records it; an exception
    from it stops the round before the cursor moves past that mail)."""

    def __init__(
        self,
        server: MailServer,
        sessions: sessionmaker[Session],
        handle: MailHandler,
        max_bytes: int,
        poll_s: float = 30.0,
        max_backoff_s: float = 300.0,
        timeout_s: float = COMMAND_TIMEOUT_S,
        lease: PollLease | None = None,
    ) -> None:
        self.server = server
        self.timeout_s = timeout_s
        self.lease = lease
        self._holding: bool | None = None
        self.sessions = sessions
        self.handle = handle
        self.max_bytes = max_bytes
        self.poll_s = poll_s
        self.max_backoff_s = max_backoff_s
        self.health = InboxHealth(state="starting")
        # The cursor's key: the same mailbox on another server or account starts afresh.
        self.mailbox = mailbox_name(server)
        self._failures: dict[tuple[int, int], int] = {}
        self._wake = asyncio.Event()

    def poll_soon(self) -> None:
        """Poll now rather than at the next interval (a test, an operator's nudge)."""
        self._wake.set()

    async def poll(self) -> int:
        """One round; how many mails were handed over. Raises MailboxError or OSError when the
        mailbox could not be read (health says so)."""
        connection = ImapConnection(self.server, self.timeout_s)
        try:
            await connection.open()
            handed = await self._read_new(connection)
        except Exception as error:  # down, refused, timed out, a bad answer, the database
            self._failed(error)
            raise
        finally:
            await connection.close()
        self.health.state = "ok"
        self.health.last_poll_at = utcnow()
        return handed

    def _failed(self, error: BaseException) -> None:
        self.health.state = "failing"
        self.health.last_error_at = utcnow()
        self.health.last_error = type(error).__name__
        log.warning("inbound mail: %s unreadable: %r", self.server, error)

    async def _read_new(self, connection: ImapConnection) -> int:
        cursor = await in_worker_thread(self.sessions, _cursor, self.mailbox)
        uidvalidity = connection.uidvalidity
        if cursor is None or cursor[0] != uidvalidity:
            if cursor is not None:
                log.warning(
                    "mailbox %s renumbered (UIDVALIDITY %d → %d): reading its unseen mail again",
                    self.mailbox,
                    cursor[0],
                    uidvalidity,
                )
            uids = await connection.unseen_since(FIRST_READ_DAYS)
            last_uid = 0
        else:
            last_uid = cursor[1]
            uids = await connection.uids_after(last_uid)
        handed = 0
        for index, uid in enumerate(uids):
            if index and not await self._my_turn():  # taken over meanwhile: the other goes on
                break
            mail = await self._fetch(connection, uid)
            if mail is not None and not await self._hand_over(uidvalidity, mail):
                break
            handed += mail is not None
            last_uid = max(last_uid, uid)
            await in_worker_thread(self.sessions, _advance, self.mailbox, uidvalidity, last_uid)
            if mail is not None:
                await connection.mark_seen(uid)
        if cursor is None or cursor[0] != uidvalidity:  # remember the numbering even if empty
            await in_worker_thread(self.sessions, _advance, self.mailbox, uidvalidity, last_uid)
        return handed

    async def _fetch(self, connection: ImapConnection, uid: int) -> FetchedMail | None:
        size = await connection.size(uid)
        if size is None:
            return None
        if size > self.max_bytes:
            headers = await connection.fetch(uid, TOO_LARGE_HEADERS) or b""
            return FetchedMail(uid=uid, size=size, raw=headers, too_large=True)
        raw = await connection.fetch(uid)
        return None if raw is None else FetchedMail(uid=uid, size=size, raw=raw)

    async def _hand_over(self, uidvalidity: int, mail: FetchedMail) -> bool:
        """Whether the mail was handled (or passed over after too many failures). The database
        down (or no free connection) is no fault of the mail: it fails the round, uncounted, and
        the mail is read again next round, never passed over."""
        try:
            await self.handle(mail)
        except UNAVAILABLE_ERRORS:
            raise
        except Exception:
            key = (uidvalidity, mail.uid)
            self._failures[key] = self._failures.get(key, 0) + 1
            if self._failures[key] < MAX_HANDLER_FAILURES:
                log.exception("mail UID %d not handled; read again next round", mail.uid)
                return False
            log.exception(
                "mail UID %d not handled %d times: passed over (it stays in the mailbox)",
                mail.uid,
                MAX_HANDLER_FAILURES,
            )
        self._failures.pop((uidvalidity, mail.uid), None)
        return True

    def _delay(self, failures: int) -> float:
        if failures == 0:
            return self.poll_s
        return float(min(2 ** (failures - 1), max(self.poll_s, self.max_backoff_s)))

    async def run_forever(self) -> None:
        """Poll at start, then every ``poll_s``; after a failure sooner at first (1 s, 2 s,
        4 s…), then no more often than every ``max_backoff_s``."""
        log.info("inbound mail: reading %s every %.0f s", self.server, self.poll_s)
        failures = 0
        try:
            while True:
                self._wake.clear()
                if await self._my_turn():
                    try:
                        await self.poll()
                        failures = 0
                    except Exception:
                        failures += 1
                else:  # standing by: ready to take over at the next interval, not a backoff's
                    failures = 0
                # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancel (stop hangs).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._delay(failures)):
                        await self._wake.wait()
        finally:
            if self.lease is not None and self._holding:
                await self.lease.release()  # another worker takes over at its next round

    async def _my_turn(self) -> bool:
        """Whether this worker reads the mailbox now: always without a lease, else while it
        holds it (taken or renewed here); the other workers' health says standby."""
        if self.lease is None:
            return True
        holding = await self.lease.hold()
        if holding != self._holding:
            log.info(
                "inbound mail: %s",
                "this worker reads the mailbox" if holding else "another worker reads the mailbox",
            )
            self._holding = holding
        if not holding:
            self.health.state = "standby"
        return holding
