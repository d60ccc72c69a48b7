"""The outbox: mail is queued in the transaction of what it carries, then sent by a loop.

``Outbox`` decides what is mailed (the confirmation, an agent's reply to a customer who left,
the transcript asked for, the rating request of an email conversation, the replies of an email
conversation) and queues it in the caller's session. ``OutboxSender`` sends what is due over
SMTP: it claims a row with one conditional UPDATE (so two loops never send one row), renews
that claim just before sending it (a row whose lease ran out and another sender claimed is not
sent here), sends it, and commits ``sent`` as soon as the server accepted it; a failure waits
and tries again (docs/email.md#retries), written only while the claim is still this sender's.
A mail server that is down delays mail and loses none, and the row's Message-ID, made when it
was queued, is the same on every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import aiosmtplib
from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.models import Conversation, Message
from bot.mail import compose
from bot.mail.compose import Letterhead, MailContent
from bot.mail.models import InboundMail, OutboundMail
from bot.mail.schemas import MailDeliveryPublic
from bot.settings import MailServer, Settings
from db.base import utcnow
from db.engine import in_worker_thread, lock_rows

log = logging.getLogger(__name__)

# The customer's transcript requests: at most this many per conversation in this window.
TRANSCRIPTS_PER_WINDOW = 3
TRANSCRIPT_WINDOW = timedelta(hours=1)
# And at most this many to one mailbox (an address and its plus-addresses) in this window,
# whichever conversations ask: anyone can open conversations, so the conversation's limit
# alone let a stranger send any address any number of transcripts.
TRANSCRIPTS_PER_ADDRESS = 5
TRANSCRIPT_ADDRESS_WINDOW = timedelta(days=1)
# A claimed row is the claimer's for this long: a sender that died mid-send leaves it due
# again after, never before (longer than an SMTP exchange's timeouts).
CLAIM_LEASE = timedelta(minutes=5)
MAX_RETRY_WAIT = timedelta(hours=1)
SMTP_TIMEOUT_S = 30.0
# How many earlier Message-IDs a mail's References lists (RFC 5322 allows more; clients
# thread on the last ones).
MAX_REFERENCES = 10
MAX_ERROR_CHARS = 500


class TranscriptThrottledError(Exception):
    """Too many transcripts: ``limit`` says which (``conversation``: this conversation's in the
    last hour; ``address``: the address's in the last day), ``retry_after`` when one may go."""

    def __init__(
        self, message: str, limit: Literal["conversation", "address"], retry_after: timedelta
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after


@dataclass(frozen=True)
class Thread:
    """How a new mail of a conversation joins its thread."""

    in_reply_to: str | None
    references: str | None
    subject: str | None  # "Re: …" of the customer's last mail, in an email conversation


def _thread(session: Session, conversation_id: str) -> Thread:
    """In-Reply-To the customer's last mail (else Kefu's last mail of the conversation, so a
    customer's mail client threads them), References the thread's last Message-IDs."""
    inbound = session.execute(
        select(
            InboundMail.id,
            InboundMail.message_id_header,
            InboundMail.subject,
            InboundMail.received_at,
        )
        .where(InboundMail.conversation_id == conversation_id, InboundMail.status == "accepted")
        .order_by(InboundMail.id.desc())
        .limit(MAX_REFERENCES)
    ).all()
    outbound = session.execute(
        select(OutboundMail.message_id_header, OutboundMail.created_at)
        .where(OutboundMail.conversation_id == conversation_id, OutboundMail.kind != "transcript")
        .order_by(OutboundMail.id.desc())
        .limit(MAX_REFERENCES)
    ).all()
    timeline = sorted(
        [(row.received_at, row.message_id_header) for row in inbound]
        + [(row.created_at, row.message_id_header) for row in outbound]
    )[-MAX_REFERENCES:]
    if not timeline:
        return Thread(None, None, None)
    last_inbound = inbound[0] if inbound else None
    in_reply_to = last_inbound.message_id_header if last_inbound else timeline[-1][1]
    subject = None
    # One line, whatever was stored (a subject read before compose.header_text was applied to
    # it would make every mail of the thread unsendable).
    original = compose.header_text(last_inbound.subject) if last_inbound is not None else ""
    if original:
        subject = original if original.lower().startswith("re:") else f"Re: {original}"
    return Thread(in_reply_to, " ".join(mid for _, mid in timeline), subject)


def _mails_of(
    session: Session, conversation: Conversation, kind: str, *conditions: ColumnElement[bool]
) -> int:
    """How many mails of this kind the conversation has queued (or sent) that meet
    ``conditions``."""
    count = session.scalar(
        select(func.count(OutboundMail.id)).where(
            OutboundMail.conversation_id == conversation.id, OutboundMail.kind == kind, *conditions
        )
    )
    return count or 0


def _mailbox(email: str) -> str:
    """The mailbox an address reaches: without its plus-tag (jane+x@… is jane@…'s at most
    providers, so a tag must not open a new allowance)."""
    local, _, domain = email.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _to_mailbox(mailbox: str) -> ColumnElement[bool]:
    """Mail to this mailbox: to the address itself or to one of its plus-addresses."""
    local, _, domain = mailbox.rpartition("@")
    tagged = f"{_like_literal(local)}+%@{_like_literal(domain)}"
    return or_(
        OutboundMail.to_address == mailbox, OutboundMail.to_address.like(tagged, escape="\\")
    )


def _lock_mailbox(session: Session, mailbox: str) -> None:
    """Two requests for one mailbox from two conversations count one after the other.
    PostgreSQL: an advisory lock on the mailbox, held to the transaction's end (there is no row
    of an address to lock). SQLite needs none: ``lock_rows`` just took its one write lock,
    which every other writer waits for."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"kefu.transcript:{mailbox}".encode(), digest_size=8).digest()
    session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest, signed=True))))


class Outbox:
    """What is mailed, queued in the caller's session. Email off (no support address): every
    method queues nothing and says so by returning None."""

    def __init__(self, letterhead: Letterhead | None, reply_grace: timedelta) -> None:
        self.letterhead = letterhead
        self.reply_grace = reply_grace

    @classmethod
    def from_settings(cls, settings: Settings) -> Outbox:
        letterhead = Letterhead.from_settings(settings) if settings.smtp_url else None
        return cls(letterhead, timedelta(seconds=settings.mail_reply_grace_s))

    @property
    def enabled(self) -> bool:
        return self.letterhead is not None

    def enqueue(
        self,
        session: Session,
        conversation: Conversation,
        kind: str,
        to_address: str,
        content: MailContent,
        *,
        message_row_id: int | None = None,
        not_before: datetime | None = None,
        thread: Thread | None = None,
        language: str | None = None,
    ) -> OutboundMail | None:
        """One mail in the outbox, in the caller's transaction; its Message-ID made now."""
        if self.letterhead is None:
            return None
        thread = thread or _thread(session, conversation.id)
        mail = OutboundMail(
            conversation_id=conversation.id,
            kind=kind,
            to_address=to_address,
            subject=content.subject,
            body_text=content.text,
            body_html=content.html,
            language=language or conversation.language or "en",
            message_id_header=self.letterhead.new_message_id(),
            in_reply_to=thread.in_reply_to,
            references_header=thread.references,
            message_row_id=message_row_id,
            status="queued",
            attempts=0,
            next_attempt_at=not_before or utcnow(),
            created_at=utcnow(),
        )
        session.add(mail)
        session.flush()
        log.info("mail %s queued: %s for conversation %s", mail.id, kind, conversation.id)
        return mail

    # -- the mails of a widget conversation ---------------------------------------------------

    def confirmation(
        self,
        session: Session,
        conversation: Conversation,
        email: str,
        customer_texts: Sequence[str],
        language: str | None = None,
    ) -> OutboundMail | None:
        """ "We received your request" to the address a customer left while nobody could take
        it; once per address (the customer giving it again is no new request)."""
        if self.letterhead is None:
            return None
        if _mails_of(session, conversation, "confirmation", OutboundMail.to_address == email):
            return None
        language = language or conversation.language
        content = compose.confirmation(customer_texts, language, self.letterhead)
        return self.enqueue(
            session, conversation, "confirmation", email, content, language=language
        )

    def agent_reply(
        self, session: Session, conversation: Conversation, message: Message, widget_open: bool
    ) -> OutboundMail | None:
        """An agent's reply to a customer who is not in the widget: mailed after the grace
        period, unless the widget shows it first (``shown_in_widget``). An email conversation's
        reply goes at once."""
        if conversation.channel == "email":
            return self.enqueue_reply(session, conversation, message, "agent_reply")
        if widget_open:  # pushed to the open widget: the customer has it
            return None
        return self.enqueue_reply(
            session, conversation, message, "agent_reply", not_before=utcnow() + self.reply_grace
        )

    def transcript(
        self, session: Session, conversation: Conversation, email: str, now: datetime
    ) -> OutboundMail | None:
        """The conversation so far, to an address the customer gives; at most
        TRANSCRIPTS_PER_WINDOW an hour for the conversation and TRANSCRIPTS_PER_ADDRESS a day
        to the address's mailbox (TranscriptThrottledError beyond). Counted and queued in the
        caller's one transaction, after locks that make two requests at once (two workers)
        count one after the other: the caller commits or rolls back."""
        if self.letterhead is None:
            return None
        mailbox = _mailbox(email)
        lock_rows(session, Conversation.id, [conversation.id])
        _lock_mailbox(session, mailbox)
        recent = _mails_of(
            session, conversation, "transcript", OutboundMail.created_at > now - TRANSCRIPT_WINDOW
        )
        if recent >= TRANSCRIPTS_PER_WINDOW:
            raise TranscriptThrottledError(
                f"at most {TRANSCRIPTS_PER_WINDOW} transcripts an hour; try again later",
                "conversation",
                TRANSCRIPT_WINDOW,
            )
        # The latest ones to this mailbox, from any conversation: the oldest of a full set
        # says when the next may go.
        to_mailbox = session.scalars(
            select(OutboundMail.created_at)
            .where(
                OutboundMail.kind == "transcript",
                OutboundMail.created_at > now - TRANSCRIPT_ADDRESS_WINDOW,
                _to_mailbox(mailbox),
            )
            .order_by(OutboundMail.created_at.desc())
            .limit(TRANSCRIPTS_PER_ADDRESS)
        ).all()
        if len(to_mailbox) >= TRANSCRIPTS_PER_ADDRESS:
            frees = to_mailbox[-1] + TRANSCRIPT_ADDRESS_WINDOW - now
            raise TranscriptThrottledError(
                f"at most {TRANSCRIPTS_PER_ADDRESS} transcripts a day to one address; "
                "try again later",
                "address",
                max(frees, timedelta(seconds=1)),
            )
        messages = session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        ).all()
        content = compose.transcript(messages, conversation.language, self.letterhead)
        # Its own thread: a transcript is a document, not a turn of the conversation.
        return self.enqueue(
            session, conversation, "transcript", email, content, thread=Thread(None, None, None)
        )

    # -- the mails of an email conversation ---------------------------------------------------

    def enqueue_reply(
        self,
        session: Session,
        conversation: Conversation,
        message: Message,
        kind: Literal["agent_reply", "bot_answer"],
        not_before: datetime | None = None,
    ) -> OutboundMail | None:
        """The bot's answer or an agent's reply in an email conversation, at once (a widget
        conversation's reply: at ``not_before``), threaded to the customer's last mail ("Re: "
        its subject), with the article links."""
        if self.letterhead is None or not conversation.contact_email:
            return None
        thread = _thread(session, conversation.id)
        content = compose.reply(message, conversation.language, self.letterhead, thread.subject)
        return self.enqueue(
            session,
            conversation,
            kind,
            conversation.contact_email,
            content,
            message_row_id=message.id,
            not_before=not_before,
            thread=thread,
        )

    def enqueue_rating_request(
        self, session: Session, conversation: Conversation
    ) -> OutboundMail | None:
        """After an email conversation is resolved: how did we do (a reply with 1–5)."""
        if self.letterhead is None or not conversation.contact_email:
            return None
        if conversation.channel != "email":  # the widget asks in the chat
            return None
        content = compose.rating_request(conversation.language, self.letterhead)
        return self.enqueue(
            session, conversation, "rating_request", conversation.contact_email, content
        )


# -- what the widget showed, and what the console shows ---------------------------------------


def shown_in_widget(session: Session, conversation_id: str, up_to_message_id: int) -> int:
    """The widget showed the conversation's messages up to this id: agents' replies among
    them that wait for their grace period are not mailed (cancelled). A mail already tried
    is left to go. How many were cancelled."""
    result = session.execute(
        update(OutboundMail)
        .where(
            OutboundMail.conversation_id == conversation_id,
            OutboundMail.kind == "agent_reply",
            OutboundMail.status == "queued",
            OutboundMail.attempts == 0,
            OutboundMail.message_row_id <= up_to_message_id,
        )
        .values(status="cancelled", last_error="shown in the widget")
    )
    assert isinstance(result, CursorResult)
    return result.rowcount


def deliveries(session: Session, conversation_id: str) -> dict[int, MailDeliveryPublic]:
    """The mail that carried each message of a conversation (the latest, by message id)."""
    rows = session.scalars(
        select(OutboundMail)
        .where(
            OutboundMail.conversation_id == conversation_id,
            OutboundMail.message_row_id.is_not(None),
        )
        .order_by(OutboundMail.id)
    )
    return {row.message_row_id: MailDeliveryPublic.of(row) for row in rows if row.message_row_id}


# -- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """A failed send waits ``base × 2^(attempts-1)``, at most an hour; after ``max_attempts``
    the mail is given up (status failed). A permanent refusal (5xx) fails at once."""

    base: timedelta
    max_attempts: int

    def wait(self, attempts: int) -> timedelta:
        return min(self.base * (2 ** max(attempts - 1, 0)), MAX_RETRY_WAIT)


def claim_due(session: Session, now: datetime, limit: int) -> list[OutboundMail]:
    """Due rows, each taken by one conditional UPDATE: a row another sender took in between
    (its attempts moved) is not ours. A row's ``attempts`` after the claim is the claim's mark:
    only a new claim changes it, so the row stays ours while it has that value."""
    due = session.execute(
        select(OutboundMail.id, OutboundMail.attempts)
        .where(OutboundMail.status == "queued", OutboundMail.next_attempt_at <= now)
        .order_by(OutboundMail.next_attempt_at)
        .limit(limit)
    ).all()
    claimed: list[int] = []
    for row_id, attempts in due:
        result = session.execute(
            update(OutboundMail)
            .where(
                OutboundMail.id == row_id,
                OutboundMail.status == "queued",
                OutboundMail.attempts == attempts,
                OutboundMail.next_attempt_at <= now,
            )
            .values(attempts=attempts + 1, next_attempt_at=now + CLAIM_LEASE)
        )
        assert isinstance(result, CursorResult)
        if result.rowcount == 1:
            claimed.append(row_id)
    session.commit()  # the claims are ours before any byte goes out
    if not claimed:
        return []
    rows = session.scalars(select(OutboundMail).where(OutboundMail.id.in_(claimed))).all()
    for row in rows:
        session.expunge(row)
    return sorted(rows, key=lambda r: r.id)


def _ours(mail: OutboundMail) -> tuple[ColumnElement[bool], ...]:
    """The row is still as our claim left it: queued, and claimed by no one since."""
    return (
        OutboundMail.id == mail.id,
        OutboundMail.status == "queued",
        OutboundMail.attempts == mail.attempts,
    )


def _renew_claim(session: Session, mail: OutboundMail, now: datetime) -> bool:
    """Just before the mail is sent: whether it is still ours, and if so a new lease from now,
    for this one mail's exchange. The round's claim was made for the whole batch: with a slow
    server the later rows' leases may have run out and another sender claimed them."""
    result = session.execute(
        update(OutboundMail).where(*_ours(mail)).values(next_attempt_at=now + CLAIM_LEASE)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def _mark_sent(session: Session, mail: OutboundMail, now: datetime) -> None:
    """The server accepted the mail: ``sent``. If the claim was lost during the exchange (its
    lease ran out and another sender claimed it), the row is still recorded sent while it is
    queued, so that sender, which renews its claim before sending, does not send it again; a
    row another sender finished (sent or given up) is left as it is."""
    done = {"status": "sent", "sent_at": now, "last_error": None}
    result = session.execute(update(OutboundMail).where(*_ours(mail)).values(done))
    assert isinstance(result, CursorResult)
    if result.rowcount == 1:
        return
    result = session.execute(
        update(OutboundMail)
        .where(OutboundMail.id == mail.id, OutboundMail.status == "queued")
        .values(done)
    )
    assert isinstance(result, CursorResult)
    log.warning(
        "mail %s was sent after its claim ran out (another sender claimed it): %s",
        mail.id,
        "recorded sent" if result.rowcount == 1 else "another sender had finished it already",
    )


def _mark_failed_attempt(
    session: Session,
    mail: OutboundMail,
    error: str,
    permanent: bool,
    now: datetime,
    policy: RetryPolicy,
) -> str:
    """The attempt failed: the row waits for its next attempt, or is given up (``failed``).
    Only while the claim is ours: a row another sender claimed since is that sender's to
    record (a wait written now could let a third sender take it while the second sends)."""
    last_error = error[:MAX_ERROR_CHARS]
    give_up = permanent or mail.attempts >= policy.max_attempts
    next_attempt_at = now + policy.wait(mail.attempts)
    values: dict[str, object] = {"last_error": last_error}
    values |= {"status": "failed"} if give_up else {"next_attempt_at": next_attempt_at}
    result = session.execute(update(OutboundMail).where(*_ours(mail)).values(values))
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:  # claimed again, finished by another sender, or deleted
        log.warning(
            "mail %s: attempt %d failed (%s); not recorded: the mail is no longer this sender's",
            mail.id,
            mail.attempts,
            last_error,
        )
        return "lost"
    if give_up:
        log.error(
            "mail %s to %s failed after %d attempt(s), given up: %s",
            mail.id,
            mail.to_address,
            mail.attempts,
            last_error,
        )
        return "failed"
    log.warning(
        "mail %s: attempt %d failed (%s); next at %s",
        mail.id,
        mail.attempts,
        last_error,
        next_attempt_at.isoformat(timespec="seconds"),
    )
    return "queued"


def _permanent(error: Exception) -> bool:
    """A 5xx answer about this one mail will not change: its recipient refused (RCPT) or its
    content refused (DATA). Anything else is about the server or Kefu's configuration (no
    connection, a 554 greeting, EHLO/HELO or MAIL FROM or the login refused, a 4xx), which is
    fixed in time: the mail waits and tries again, and is given up after its attempts."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return bool(error.recipients) and all(r.code >= 500 for r in error.recipients)
    if isinstance(error, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return 500 <= error.code < 600
    return False


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


class OutboxSender:
    """Sends due mail from the outbox, every ``every_s`` seconds, in the service's event loop.

    ``state`` is this worker's own view: ok until an attempt fails, failing until one succeeds
    again. The health endpoint reads the shared outbox, and this only while the database is lost.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        server: MailServer,
        letterhead: Letterhead,
        policy: RetryPolicy,
        every_s: float = 1.0,
        batch: int = 20,
    ) -> None:
        self.sessions = sessions
        self.server = server
        self.letterhead = letterhead
        self.policy = policy
        self.every_s = every_s
        self.batch = batch
        self.state: Literal["ok", "failing"] = "ok"
        self.last_error: str | None = None

    @classmethod
    def from_settings(
        cls, sessions: sessionmaker[Session], settings: Settings
    ) -> OutboxSender | None:
        server, letterhead = settings.smtp_server(), Letterhead.from_settings(settings)
        if server is None or letterhead is None:
            return None
        policy = RetryPolicy(
            timedelta(seconds=settings.mail_retry_base_s), settings.mail_max_attempts
        )
        return cls(sessions, server, letterhead, policy, settings.mail_send_every_s)

    def _client(self) -> aiosmtplib.SMTP:
        server = self.server
        return aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.security == "tls",
            start_tls={"starttls": True, "none": False}.get(server.security),
            validate_certs=server.verify_certificate,
            timeout=SMTP_TIMEOUT_S,
        )

    async def send_due(self) -> int:
        """Send what is due now; how many the server accepted."""
        claimed = await in_worker_thread(self.sessions, claim_due, utcnow(), self.batch)
        return await self.send(claimed) if claimed else 0

    async def send(self, claimed: Sequence[OutboundMail]) -> int:
        """Send rows this sender claimed (``claim_due``), over one connection, each only if its
        claim still holds just before; how many the server accepted."""
        sent = 0
        client = self._client()
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as error:
            for mail in claimed:
                await self._failed(mail, error)
            return 0
        try:
            for mail in claimed:
                if not await in_worker_thread(self.sessions, _renew_claim, mail, utcnow()):
                    log.warning(
                        "mail %s: not sent by this sender: its claim ran out and another sender "
                        "claimed it (or finished it)",
                        mail.id,
                    )
                    continue
                try:
                    message = compose.build_message(mail, self.letterhead, utcnow())
                except (ValueError, TypeError) as error:
                    # What the row holds cannot be a message (a header the email package
                    # refuses): no attempt will change that. The rest of the batch goes on.
                    await self._unbuildable(mail, error)
                    continue
                try:
                    await client.send_message(
                        message,
                        sender=self.letterhead.support_address,
                        recipients=[mail.to_address],
                    )
                except (aiosmtplib.SMTPException, OSError) as error:
                    await self._failed(mail, error)
                    if not client.is_connected:
                        await self._reconnect(client)
                    continue
                # Committed the moment the server said yes: a restart sends it no more.
                await in_worker_thread(self.sessions, _mark_sent, mail, utcnow())
                sent += 1
                self.state, self.last_error = "ok", None
                log.info("mail %s (%s) sent to %s", mail.id, mail.kind, mail.to_address)
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
        return sent

    async def _reconnect(self, client: aiosmtplib.SMTP) -> None:
        # Not reconnected: the next mail fails as well, and waits its turn.
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.connect()

    async def _failed(self, mail: OutboundMail, error: Exception) -> None:
        described = _describe(error)
        self.state, self.last_error = "failing", described
        await in_worker_thread(
            self.sessions,
            _mark_failed_attempt,
            mail,
            described,
            _permanent(error),
            utcnow(),
            self.policy,
        )

    async def _unbuildable(self, mail: OutboundMail, error: Exception) -> None:
        # Given up at once, logged at ERROR with the reason by _mark_failed_attempt.
        described = f"not a valid message: {_describe(error)}"
        await in_worker_thread(
            self.sessions, _mark_failed_attempt, mail, described, True, utcnow(), self.policy
        )

    async def run_forever(self) -> None:
        log.info("email: sending through %s as %s", self.server, self.letterhead.support_address)
        while True:
            try:
                await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: try again next round
                log.exception("email: the outbox could not be read; trying again")
            await asyncio.sleep(self.every_s)
