"""The email channel: a mail read from the support mailbox becomes a customer message of a
conversation, through the same gateway as the widget's, and the bot's answer goes back by mail.

What a mail becomes (docs/email.md):

- kept once in the inbox whatever it is (``mail_inbox``: a mail read again is a no-op);
  ignored (a bounce, an auto-reply, a list, our own) or rejected (too big, unreadable, no
  sender) goes no further: nothing is answered;
- a reply (its In-Reply-To/References name a mail of ours, or its address carries a valid
  reply token) lands in that conversation, a widget one too; anything else opens an email
  conversation with the sender as its contact;
- the bot reads what the customer wrote this time (the subject and the new text of a first
  mail, the new text of a reply); the agent reads the whole mail (the message's ``email``
  payload) and the list of its attachments;
- the bot's answer goes back by mail when it is an article's (band answer); anything else (a
  clarifying question with buttons, "I don't know", small talk) puts the conversation in the
  agents' queue ("unanswered") and the customer gets the "we received your request" mail;
- a reply to the rating request (threaded to it, or by the reply token once the conversation
  is resolved) that starts with a score 1–5 is the conversation's rating, recorded by the
  widget's rule (once per conversation), with no message, no bot and no reopening;
- an answer stored whose mail or handoff never followed (the service died, or the database
  failed, between the two) is found by the sweep and given them, once (``sweep``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import anyio
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.chat.gateway import GIVE_UP_AFTER_S, MAIL_MESSAGE_PREFIX, ChatGateway, channel_of
from bot.conversations.models import Conversation, Message
from bot.conversations.schemas import MAX_MESSAGE_CHARS, MessageCreate, MessagePublic
from bot.conversations.store import ConversationStore
from bot.handoff.desk import HandoffDesk
from bot.handoff.errors import HandoffConflictError
from bot.handoff.schemas import HandoffCreate, RatingPublic
from bot.handoff.store import HandoffStore
from bot.mail.imap import FetchedMail
from bot.mail.inbound import ParsedMail, read_mail
from bot.mail.inbox import InboxStore, Thread
from bot.mail.models import InboundMail, OutboundMail
from bot.mail.rating_reply import RatingReply, read_rating
from bot.mail.schemas import MAX_ORIGINAL_CHARS
from db.base import utcnow
from db.engine import in_worker_thread, lock_rows
from texts import language_or_fallback
from texts.language import detect_language

log = logging.getLogger(__name__)

# The inbox's reason for a rating answer: recorded, or refused (the conversation was rated).
RATED, RATING_REFUSED = "rating", "rating_refused"

# The sweep (``EmailChannel.sweep``) runs at start and this often; it takes an answer stored
# at least SWEEP_AFTER_S ago (the live listener has long had its turn) and at most a day ago.
SWEEP_EVERY_S = 30.0
SWEEP_AFTER_S = 60.0
SWEEP_GIVES_UP_AFTER_S = 24 * 3600.0


class Outbox(Protocol):
    """What the channel asks of the outbox (bot/mail/outbox.py's Outbox): queue a mail in the
    caller's session, or None when email is off."""

    @property
    def enabled(self) -> bool: ...

    def enqueue_reply(
        self,
        session: Session,
        conversation: Conversation,
        message: Message,
        kind: Literal["agent_reply", "bot_answer"],
    ) -> object | None: ...

    def confirmation(
        self, session: Session, conversation: Conversation, email: str, customer_texts: list[str]
    ) -> object | None: ...


@dataclass(frozen=True)
class Accepted:
    """A mail taken into a conversation, before the gateway has it."""

    inbox_id: int
    conversation_id: str
    text: str
    client_message_id: str


@dataclass(frozen=True)
class Rated:
    """A reply to the rating request that gave a score; ``rating`` None: refused (rated
    already)."""

    conversation_id: str
    rating: RatingPublic | None


def mail_message_id(message_id: str) -> str:
    """The client_message_id of the customer message a mail becomes (64 characters at most):
    a mail read again is the same message, stored once."""
    return MAIL_MESSAGE_PREFIX + hashlib.sha256(message_id.encode()).hexdigest()[:40]


def text_for_the_bot(mail: ParsedMail, first: bool) -> str:
    """What the conversation shows and the bot reads: the subject and new text of a first
    mail, the new text of a reply (its subject is "Re: …" of ours); never empty."""
    parts = [mail.subject, mail.new_text] if first else [mail.new_text]
    text = "\n\n".join(p for p in parts if p.strip())
    if not text.strip():
        names = ", ".join(a.name for a in mail.attachments)
        text = mail.subject or (f"📎 {names}" if names else "…")
    return text[:MAX_MESSAGE_CHARS].strip() or "…"


def _rating_answer(session: Session, mail: ParsedMail, thread: Thread) -> RatingReply | None:
    """The score a reply to the rating request gives: threaded to that mail, or by the reply
    token to a conversation whose last handoff was resolved (it asked for one)."""
    if thread.conversation_id is None:
        return None
    asked = thread.replies_to_kind == "rating_request" or (
        thread.found_by == "reply_token" and HandoffStore(session).resolved(thread.conversation_id)
    )
    return read_rating(mail.new_text) if asked else None


def _rate(session: Session, mail: ParsedMail, conversation_id: str, answer: RatingReply) -> Rated:
    """The rating by the widget's rule (HandoffStore.rate: once per conversation, credited to
    the agent who resolved it), kept with the mail in one transaction."""
    rating: RatingPublic | None
    try:
        rating = HandoffStore(session).rate(conversation_id, answer.score, answer.comment)
    except HandoffConflictError:
        session.rollback()
        rating = None
    InboxStore(session).record(replace(mail, reason=RATED if rating else RATING_REFUSED),
                               conversation_id)  # fmt: skip
    if rating is None:
        log.info("mail %s rates conversation %s, rated already: refused", mail.message_id,
                 conversation_id)  # fmt: skip
    else:
        log.info("mail %s rates conversation %s: %d", mail.message_id, conversation_id,
                 answer.score)  # fmt: skip
    return Rated(conversation_id, rating)


def _kept_already(row: InboundMail) -> bool:
    """Whether a kept mail needs nothing more: not one to answer, its message stored, or a
    rating (recorded or refused)."""
    return bool(
        row.status != "accepted" or row.message_row_id or row.reason in (RATED, RATING_REFUSED)
    )


def _resumed(session: Session, row: InboundMail, mail: ParsedMail) -> Accepted | None:
    """A mail kept and given a conversation whose message is not stored yet (the service
    stopped before, or another worker is storing it now: the gateway stores it once)."""
    if _kept_already(row) or row.conversation_id is None:
        log.info("mail %s read again: kept already", mail.message_id)
        return None
    first = not ConversationStore(session).transcript(row.conversation_id)
    return Accepted(
        inbox_id=row.id,
        conversation_id=row.conversation_id,
        text=text_for_the_bot(mail, first),
        client_message_id=mail_message_id(mail.message_id),
    )


def _take(
    session: Session, mail: ParsedMail, support_address: str | None, secret: str
) -> Accepted | Rated | None:
    """Keep the mail in the inbox and find or open its conversation, or record the rating it
    gives; None when there is nothing more to do (kept before, or not a mail to answer).

    A new conversation and the inbox row are committed together: when another worker (every
    worker polls the mailbox) kept the same mail meanwhile, the unique Message-ID refuses this
    row, the conversation goes with it, and the mail goes on in the other worker's conversation
    (docs/email.md#several-workers)."""
    inbox = InboxStore(session)
    existing = inbox.find(mail.message_id)
    if existing is not None and _kept_already(existing):
        log.info("mail %s read again: kept already", mail.message_id)
        return None
    if mail.status != "accepted":
        inbox.record(mail)
        log.info(
            "mail %s from %s %s: %s",
            mail.message_id,
            mail.from_address or "?",
            mail.status,
            mail.reason,
        )
        return None
    if existing is not None and existing.conversation_id is not None:
        # Kept and given a conversation, then the service stopped before the message was stored.
        return _resumed(session, existing, mail)
    thread = inbox.thread_of(mail, support_address, secret)
    if thread.forged_token:
        log.warning(
            "mail %s from %s carries a reply token that does not verify: taken as a new "
            "request, not into the conversation it names",
            mail.message_id,
            mail.from_address,
        )
    answer = _rating_answer(session, mail, thread)
    if thread.conversation_id is not None and answer is not None:
        return _rate(session, mail, thread.conversation_id, answer)
    if thread.conversation_id is not None:
        conversation_id, first = thread.conversation_id, False
        log.info("mail %s answers conversation %s (%s)", mail.message_id, conversation_id,
                 thread.found_by)  # fmt: skip
    else:
        language = detect_language(f"{mail.subject}\n{mail.new_text}")
        conversation = ConversationStore(session).open(language=language, commit=False)
        conversation.channel = "email"
        conversation.contact_email = mail.from_address
        conversation_id, first = conversation.id, True
    row, created = inbox.record(mail, conversation_id)  # commits the new conversation with it
    if not created:
        session.rollback()  # the conversation this worker opened, if any, is never kept
        log.info("mail %s kept by another worker meanwhile: taken into its conversation",
                 mail.message_id)  # fmt: skip
        return _resumed(session, row, mail)
    if first:
        log.info("mail %s opens email conversation %s", mail.message_id, conversation_id)
    return Accepted(
        inbox_id=row.id,
        conversation_id=conversation_id,
        text=text_for_the_bot(mail, first),
        client_message_id=mail_message_id(mail.message_id),
    )


def the_whole_mail(mail: ParsedMail) -> dict[str, Any]:
    """What the agent reads of a mail beside the message (the message's ``email`` payload,
    bot.mail.schemas.MailOriginalPublic): never its attachments' bytes, only their list."""
    return {
        "from": mail.from_address,
        "subject": mail.subject,
        "text": mail.text[:MAX_ORIGINAL_CHARS],
        "attachments": [a.as_json() for a in mail.attachments],
    }


def _keep_mail_with_message(
    session: Session, accepted: Accepted, message_id: int, mail: ParsedMail
) -> None:
    """The message knows its mail (the whole text and the attachments, for the agent), and
    the inbox row its message. A widget conversation's customer who wrote by mail now has an
    address to be answered at."""
    InboxStore(session).attach_message(accepted.inbox_id, message_id)
    message = session.get(Message, message_id)
    if message is not None and "email" not in (message.payload or {}):
        # A message stored by an earlier version, without its mail.
        message.payload = {**(message.payload or {}), "email": the_whole_mail(mail)}
    conversation = session.get(Conversation, accepted.conversation_id)
    if conversation is not None and not conversation.contact_email:
        conversation.contact_email = mail.from_address
    session.commit()


@dataclass(frozen=True)
class AnswerPlan:
    """What to do with the bot's answer to a mail."""

    mail_replies: list[int]  # the bot's messages to mail (an article's answer)
    escalate: bool
    language: str
    contact_email: str | None
    customer_text: str


def is_article_answer(replies: list[MessagePublic]) -> bool:
    """The bot answered with an article (it goes by mail); anything else goes to the agents."""
    return any(r.articles for r in replies if r.sender == "bot")


def _plan(
    session: Session, conversation_id: str, message: Message, replies: list[MessagePublic]
) -> AnswerPlan:
    conversation = ConversationStore(session).get(conversation_id)
    language = language_or_fallback(conversation.language)
    answered = is_article_answer(replies)
    bot_messages = [r.id for r in replies if r.sender == "bot" and r.text.strip()]
    return AnswerPlan(
        # Those already mailed are skipped under the conversation's lock (_mail_replies).
        mail_replies=bot_messages if answered else [],
        escalate=not answered,
        language=language,
        contact_email=conversation.contact_email,
        customer_text=message.text,
    )


def _mail_replies(
    session: Session, outbox: Outbox, conversation_id: str, message_ids: list[int]
) -> int:
    """The bot's messages not mailed yet, queued in one transaction under the conversation's
    row lock: the live listener and the sweep of any worker mail each message once."""
    lock_rows(session, Conversation.id, [conversation_id])
    conversation = ConversationStore(session).get(conversation_id)
    mailed = set(
        session.scalars(
            select(OutboundMail.message_row_id).where(OutboundMail.message_row_id.in_(message_ids))
        )
    )
    queued = 0
    for message_id in message_ids:
        if message_id in mailed:
            continue
        message = session.get(Message, message_id)
        if message is not None and outbox.enqueue_reply(
            session, conversation, message, "bot_answer"
        ):
            queued += 1
    session.commit()
    return queued


def _confirm(
    session: Session, outbox: Outbox, conversation_id: str, email: str, customer_text: str
) -> bool:
    conversation = ConversationStore(session).get(conversation_id)
    queued = outbox.confirmation(session, conversation, email, [customer_text])
    session.commit()
    return queued is not None


@dataclass(frozen=True)
class Unfollowed:
    """A mail's customer message the bot answered, whose mail or handoff never followed."""

    conversation_id: str
    message: Message
    replies: list[MessagePublic]


def _unfollowed(
    session: Session, answered_before: datetime, answered_after: datetime, mailing: bool
) -> list[Unfollowed]:
    """The customer messages that came by mail and the bot answered between the two moments,
    none of whose answer's messages is in the outbox, and which still need what ``answered``
    does: the answer's mail (an article's answer, with an address and email on: ``mailing``)
    or a handoff (none at or after the message)."""
    reply, mailed_reply = aliased(Message), aliased(Message)
    answered = (
        select(reply.id)
        .where(
            reply.reply_to == Message.id,
            reply.sender == "bot",
            reply.created_at <= answered_before,
            reply.created_at >= answered_after,
        )
        .exists()
    )
    mailed = (
        select(OutboundMail.id)
        .join(mailed_reply, OutboundMail.message_row_id == mailed_reply.id)
        .where(mailed_reply.reply_to == Message.id)
        .exists()
    )
    candidates = session.scalars(
        select(Message)
        .where(
            Message.sender == "customer",
            Message.client_message_id.startswith(MAIL_MESSAGE_PREFIX, autoescape=True),
            Message.awaiting_bot.is_(False),
            # Answered within the window: stored at most GIVE_UP_AFTER_S before the answer.
            Message.created_at >= answered_after - timedelta(seconds=GIVE_UP_AFTER_S),
            answered,
            ~mailed,
        )
        .order_by(Message.id)
    ).all()
    store, handoffs = ConversationStore(session), HandoffStore(session)
    found: list[Unfollowed] = []
    for message in candidates:
        replies = [MessagePublic.of(m) for m in store.replies_to(message.id)]
        bot = [r for r in replies if r.sender == "bot"]
        if is_article_answer(replies):
            needed = (
                mailing
                and any(r.text.strip() for r in bot)
                and bool(store.get(message.conversation_id).contact_email)
            )
        else:
            needed = not handoffs.handed_off_since(message.conversation_id, message.created_at)
        if needed:
            found.append(Unfollowed(message.conversation_id, message, replies))
    return found


class EmailChannel:
    """The poller's handler (``receive``) and the gateway's answer listener (``answered``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: ChatGateway,
        desk: HandoffDesk,
        outbox: Outbox,
        support_address: str | None,
        secret: str,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.desk = desk
        self.outbox = outbox
        self.support_address = support_address
        self.secret = secret
        gateway.answer_listeners.append(self.answered)

    async def receive(self, fetched: FetchedMail) -> None:
        """One mail from the mailbox, taken in; raises only when the database does (the poller
        reads the mail again next round)."""
        own = (self.support_address,) if self.support_address else ()
        # Up to KEFU_MAIL_MAX_BYTES of MIME and HTML to read: in a thread, not the event loop.
        mail = await anyio.to_thread.run_sync(read_mail, fetched.raw, own)
        if fetched.too_large:
            mail = replace(
                mail, status="rejected", reason="too_large", size_bytes=fetched.size, text="",
                new_text="", attachments=(),
            )  # fmt: skip
        accepted = await in_worker_thread(
            self.sessions, _take, mail, self.support_address, self.secret
        )
        if accepted is None:
            return
        if isinstance(accepted, Rated):
            if accepted.rating is not None:
                self.desk.rated(accepted.rating)
            return
        # Through the gateway as the widget's messages go: stored, then the bot (whose answer
        # comes back to ``answered``) or the agent who has the conversation.
        exchange = await self.gateway.receive(
            accepted.conversation_id,
            MessageCreate(text=accepted.text, client_message_id=accepted.client_message_id),
            email=the_whole_mail(mail),
        )
        await in_worker_thread(
            self.sessions, _keep_mail_with_message, accepted, exchange.message.id, mail
        )

    async def answered(
        self, conversation_id: str, message: Message, replies: list[MessagePublic]
    ) -> None:
        """The bot answered a customer message: if it came by mail, the answer goes by mail,
        or, when it is no article's answer, the conversation goes to the agents."""
        if channel_of(message) != "email":
            return
        await self._follow(conversation_id, message, replies, recovering=False)

    async def sweep(self, min_age_s: float = SWEEP_AFTER_S) -> int:
        """Give what ``answered`` gives to each answer stored at least ``min_age_s`` ago (and
        at most a day ago) whose mail or handoff never followed; how many were recovered. The
        check is made again under the conversation's row lock as the mail is queued or the
        handoff opened, so workers sweeping at once recover each answer once."""
        now = utcnow()
        found = await in_worker_thread(
            self.sessions,
            _unfollowed,
            now - timedelta(seconds=min_age_s),
            now - timedelta(seconds=SWEEP_GIVES_UP_AFTER_S),
            self.outbox.enabled,
        )
        recovered = 0
        for unfollowed in found:
            message = unfollowed.message
            log.warning(
                "conversation %s: the answer to mail message %s was stored with no mail or "
                "handoff after it; recovering",
                unfollowed.conversation_id,
                message.id,
            )
            recovered += await self._follow(
                unfollowed.conversation_id, message, unfollowed.replies, recovering=True
            )
        return recovered

    async def sweep_forever(self, interval_s: float = SWEEP_EVERY_S) -> None:
        """At start (what a crash left) and then every ``interval_s``."""
        while True:
            try:
                recovered = await self.sweep()
                if recovered:
                    log.warning("recovered the mail or handoff of %d answers", recovered)
            except Exception:  # a database hiccup must not end the loop
                log.exception("email sweep round failed")
            await asyncio.sleep(interval_s)

    async def _follow(
        self,
        conversation_id: str,
        message: Message,
        replies: list[MessagePublic],
        recovering: bool,
    ) -> bool:
        """The answer's mail, or the handoff and its confirmation; whether anything was done
        (``recovering``: the handoff opens only if none did at or after the message)."""
        plan = await in_worker_thread(self.sessions, _plan, conversation_id, message, replies)
        if not plan.escalate:
            queued = await in_worker_thread(
                self.sessions, _mail_replies, self.outbox, conversation_id, plan.mail_replies
            )
            log.info("conversation %s: the bot's answer mailed (%d mails)", conversation_id, queued)
            return queued > 0
        request = HandoffCreate(
            conversation_id=conversation_id,
            reason="unanswered",
            language="zh" if plan.language == "zh" else "en",
            customer_email=plan.contact_email,
        )
        if not recovering:
            await self.desk.open(request)
        elif await self.desk.open_once(request, since=message.created_at) is None:
            return False  # another worker's sweep opened it
        if plan.contact_email:
            confirmed = await in_worker_thread(
                self.sessions, _confirm, self.outbox, conversation_id, plan.contact_email,
                plan.customer_text,
            )  # fmt: skip
            log.info(
                "conversation %s: no answer by mail; queued for the agents%s",
                conversation_id,
                ", the customer told so" if confirmed else "",
            )
        return True
