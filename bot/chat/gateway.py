"""The chat gateway: every customer message is stored, then answered by the bot — or, while
an agent has the conversation, left for the agent — and every message is pushed to the
conversation's open sockets. HTTP and WebSocket both come through here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.hub import ConversationHub
from bot.conversations.locks import ConversationLocks, HeldLock, InProcessLocks
from bot.conversations.models import Message
from bot.conversations.rasa_client import (
    BotReply,
    RasaClient,
    RasaDroppedError,
    RasaUnavailableError,
)
from bot.conversations.schemas import ExchangePublic, MessageCreate, MessagePublic
from bot.conversations.store import ConversationStore, StoredAnswer
from bot.handoff.desk import HandoffDesk
from bot.handoff.store import HandoffStore
from bot.metrics import ServiceMetrics
from db.base import utcnow
from db.engine import in_worker_thread
from texts import Language, language_or_fallback, say
from tracing import request_id

log = logging.getLogger(__name__)

# A message owed an answer this long is asked again by the redelivery loop (longer than Rasa's
# reply timeout, so a slow answer still in progress is not asked twice); the loop runs this
# often; after a day the customer has gone and the message is left to the agents' reports.
REDELIVER_AFTER_S = 15.0
REDELIVER_EVERY_S = 5.0
GIVE_UP_AFTER_S = 24 * 3600.0

# Told of each answer the bot stored to a customer message (the conversation, the message, its
# replies), the first time or after a redelivery: the email channel mails it on.
BotAnswerListener = Callable[[str, Message, list[MessagePublic]], Awaitable[None]]


def _store_message(
    session: Session,
    conversation_id: str,
    incoming: MessageCreate,
    email: dict[str, Any] | None = None,
) -> tuple[Message, bool, str, Language, bool]:
    """The stored message, whether it is new, who answers the conversation, its language, and
    whether it has an open handoff (a ticket, while the bot answers)."""
    store = ConversationStore(session)
    message, created = store.add_customer_message(
        conversation_id, incoming.text, incoming.client_message_id, incoming.payload, email
    )
    conversation = store.get(conversation_id)
    language = language_or_fallback(conversation.language)
    ticket = HandoffStore(session).open_handoff_id(conversation_id) is not None
    return message, created, conversation.handled_by, language, ticket


def _store_answer(
    session: Session,
    conversation_id: str,
    reply_to: int,
    replies: list[BotReply],
    counted: bool = True,
) -> StoredAnswer:
    """The bot's answer, and the message no longer owed one (an empty answer counts as an
    attempt, if ``counted``: Rasa took the message but an action failed on it), in one commit;
    nothing if the message is no longer owed (then the answer stored to it before)."""
    return ConversationStore(session).store_answer(
        conversation_id, reply_to, [(r.text, r.payload()) for r in replies], counted
    )


def _store_apology(
    session: Session, conversation_id: str, reply_to: int, apology: BotReply
) -> StoredAnswer:
    return ConversationStore(session).store_apology(
        conversation_id, reply_to, apology.text, apology.payload()
    )


def _owed(
    session: Session, conversation_id: str, before: int | None = None
) -> tuple[list[Message], Language]:
    """The conversation's messages the bot owes an answer (none once an agent has it: the agent
    answers), and the conversation's language."""
    store = ConversationStore(session)
    owed = store.owed_answers(conversation_id, before=before)
    conversation = store.get(conversation_id)
    if conversation.handled_by != "bot":
        store.release([m.id for m in owed])
        owed = []
    return owed, language_or_fallback(conversation.language)


def _owing_conversations(
    session: Session, stored_before: datetime, given_up_before: datetime
) -> list[str]:
    """Conversations with a message owed an answer for a while, oldest first; messages older
    than ``given_up_before`` are not answered any more (the customer has long gone)."""
    store = ConversationStore(session)
    owed = store.owed_answers(stored_before=stored_before)
    store.release([m.id for m in owed if m.created_at < given_up_before])
    return list(dict.fromkeys(m.conversation_id for m in owed if m.created_at >= given_up_before))


def _replies_to(session: Session, message_id: int) -> list[Message]:
    return ConversationStore(session).replies_to(message_id)


def _transcript(session: Session, conversation_id: str, after: int) -> list[Message]:
    return ConversationStore(session).transcript(conversation_id, after)


# A customer message that came by mail has a client_message_id of this prefix (the email
# channel makes it from the mail's Message-ID, so a mail read twice is stored once).
MAIL_MESSAGE_PREFIX = "mail:"


def channel_of(message: Message) -> str:
    """Where a customer message came from: by mail, or the widget (Rasa is told, so the bot
    offers no button a mail cannot press)."""
    return (
        "email" if (message.client_message_id or "").startswith(MAIL_MESSAGE_PREFIX) else "widget"
    )


class ChatGateway:
    """Answers each conversation's messages one at a time, in order (a lock per conversation,
    shared by the workers when there are several), and owes every stored customer message an
    answer until the bot's is stored."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        rasa: RasaClient,
        hub: ConversationHub,
        desk: HandoffDesk,
        metrics: ServiceMetrics | None = None,
        locks: ConversationLocks | None = None,
    ) -> None:
        self.sessions = sessions
        self.rasa = rasa
        self.hub = hub
        self.desk = desk
        self.metrics = metrics or ServiceMetrics()
        self.answer_listeners: list[BotAnswerListener] = []
        # In this process, or across the workers (Redis): bot/conversations/locks.py.
        self.locks = locks or InProcessLocks()

    def _lock(self, conversation_id: str) -> AbstractAsyncContextManager[HeldLock]:
        return self.locks.hold(conversation_id)

    async def customer_typing(self, conversation_id: str, active: bool) -> None:
        """Tell the agents who have the conversation open; nobody else needs it, nothing is
        stored (``from`` lets the customer's own sockets skip the echo)."""
        if await self.hub.agents_watching(conversation_id):
            frame = {"type": "typing", "active": active, "from": "customer"}
            self.hub.publish(conversation_id, frame)

    async def transcript(self, conversation_id: str, after: int = 0) -> list[MessagePublic]:
        messages = await in_worker_thread(self.sessions, _transcript, conversation_id, after)
        return [MessagePublic.of(m) for m in messages]

    async def receive(
        self,
        conversation_id: str,
        incoming: MessageCreate,
        email: dict[str, Any] | None = None,
        *,
        storing: asyncio.Lock | None = None,
    ) -> ExchangePublic:
        """Store the customer's message, then answer it; a resent id returns the first answer,
        or, if the bot still owes one, asks again. ``email``: the mail it was read from, stored
        with it (so the agent who gets it, live or in the queue, can read the whole mail).
        ``storing``: held while the message is stored, not while it is answered (one socket's
        lock: its messages are stored in the order it sent them).

        Raises ConversationNotFoundError for an unknown conversation.
        """
        with request_id.about_conversation(conversation_id):
            return await self._receive(conversation_id, incoming, email, storing)

    async def _receive(
        self,
        conversation_id: str,
        incoming: MessageCreate,
        email: dict[str, Any] | None,
        storing: asyncio.Lock | None,
    ) -> ExchangePublic:
        async with storing or contextlib.nullcontext():
            message, created, handled_by, language, ticket = await in_worker_thread(
                self.sessions, _store_message, conversation_id, incoming, email
            )
        customer = MessagePublic.of(message)
        if not created:
            replies = await self._resent(conversation_id, message, language)
            return ExchangePublic(message=customer, replies=replies, duplicate=True)
        self.metrics.customer_messages.labels(handled_by).inc()
        self.hub.publish(conversation_id, customer.frame())
        if handled_by == "agent":
            # The agent answers and the bot is silent; the packet the agent reads takes the
            # message in, and the desk says whether the customer is due a word on where they
            # stand in the queue.
            await self.desk.refresh_packet(conversation_id)
            notice = await self.desk.queue_notice(conversation_id, message.id)
            replies = [notice] if notice is not None else []
        else:
            async with self._lock(conversation_id):
                # What the bot still owes from before (Rasa was down) comes first, in order;
                # usually nothing, and one read says so and that this message is still owed.
                owed, _ = await in_worker_thread(
                    self.sessions, _owed, conversation_id, message.id + 1
                )
                still_owed = any(m.id == message.id for m in owed)
                if any(m.id < message.id for m in owed):
                    await self._catch_up(conversation_id, before=message.id)
                    still_owed = await self._still_owed(conversation_id, message.id)
                if still_owed:
                    replies = await self._typing(
                        conversation_id, self._answer(conversation_id, message, language)
                    )
                else:  # the redelivery took it while this waited for the lock
                    earlier = await in_worker_thread(self.sessions, _replies_to, message.id)
                    replies = [MessagePublic.of(m) for m in earlier]
        for reply in replies:
            self.hub.publish(conversation_id, reply.frame())
        if handled_by == "bot" and ticket:
            # A ticket left while nobody was online: the bot goes on answering, and the packet
            # the agent will read keeps up with what it tried.
            await self.desk.refresh_packet(conversation_id)
        return ExchangePublic(message=customer, replies=replies)

    async def _resent(
        self, conversation_id: str, message: Message, language: Language
    ) -> list[MessagePublic]:
        async with self._lock(conversation_id):
            if await self._still_owed(conversation_id, message.id):
                await self._catch_up(conversation_id, before=message.id)
                replies = await self._typing(
                    conversation_id, self._answer(conversation_id, message, language, asked=True)
                )
                for reply in replies:
                    self.hub.publish(conversation_id, reply.frame())
                return replies
        earlier = await in_worker_thread(self.sessions, _replies_to, message.id)
        return [MessagePublic.of(m) for m in earlier]

    async def _still_owed(self, conversation_id: str, message_id: int) -> bool:
        """Whether the bot still owes the message its answer (call it holding the lock)."""
        owed, _ = await in_worker_thread(self.sessions, _owed, conversation_id, message_id + 1)
        return any(m.id == message_id for m in owed)

    async def _typing(
        self, conversation_id: str, answering: Awaitable[list[MessagePublic]]
    ) -> list[MessagePublic]:
        self.hub.publish(conversation_id, {"type": "typing", "active": True})
        try:
            return await answering
        finally:
            self.hub.publish(conversation_id, {"type": "typing", "active": False})

    async def _answer(
        self, conversation_id: str, message: Message, language: Language, asked: bool = False
    ) -> list[MessagePublic]:
        """The bot's answer to the message, or an apology that says the answer will follow
        (the message stays owed). ``asked``: Rasa may have seen the message already."""
        try:
            return await self._answer_from_rasa(conversation_id, message, language, asked)
        except RasaDroppedError as dropped:
            if len(self.rasa.base_urls) < 2:
                log.warning("no answer to message %s yet: %s", message.id, dropped)
            else:
                # That Rasa died with the message; the next one (the client moves on when the
                # dead one refuses) reads the shared tracker for whether it was taken.
                log.warning("Rasa died with message %s (%s); asking another", message.id, dropped)
                try:
                    return await self._answer_from_rasa(conversation_id, message, language, True)
                except RasaUnavailableError as error:
                    log.warning("no answer to message %s yet: %s", message.id, error)
        except RasaUnavailableError as error:
            log.warning("no answer to message %s yet: %s", message.id, error)
        apology = BotReply(text=say("assistant_down", language))
        stored = await in_worker_thread(
            self.sessions, _store_apology, conversation_id, message.id, apology
        )
        return [MessagePublic.of(m) for m in stored.replies]

    async def _answer_from_rasa(
        self, conversation_id: str, message: Message, language: Language, asked: bool
    ) -> list[MessagePublic]:
        """Ask Rasa (once: a message Rasa answered before a crash is not processed again) and
        store the answer. Raises RasaUnavailableError when there is no answer to store
        (counted: the first attempt and each redelivery)."""
        try:
            return await self._answer_from_rasa_once(conversation_id, message, language, asked)
        except RasaUnavailableError as error:
            self.metrics.rasa_errors.labels(error.kind).inc()
            raise

    async def _answer_from_rasa_once(
        self, conversation_id: str, message: Message, language: Language, asked: bool
    ) -> list[MessagePublic]:
        # A button's payload has no words of the customer's: Rasa is told the language.
        text = (message.payload or {}).get("button_payload") or message.text
        channel = channel_of(message)
        bot_replies = await self._ask_rasa(
            conversation_id, message.id, text, language, asked, channel
        )
        # Silence from a dead action server is not the message's fault: not an attempt.
        counted = bool(bot_replies) or await self.rasa.actions_up()
        stored = await in_worker_thread(
            self.sessions, _store_answer, conversation_id, message.id, bot_replies, counted
        )
        if not stored.stored:
            # The conversation's lock lapsed while this waited on Rasa and another holder
            # answered the message first: its answer stands (already told to the listeners).
            log.warning("message %s was answered meanwhile; this answer is dropped", message.id)
            return [MessagePublic.of(m) for m in stored.replies]
        if not bot_replies:
            raise RasaUnavailableError(
                "Rasa took the message and said nothing (an action failed, or the action "
                "server is down)",
                kind="action_failed" if counted else "action_server_down",
            )
        replies = [MessagePublic.of(m) for m in stored.replies]
        if any(r.end_of_chat for r in bot_replies):
            rating = await self.desk.rating_request_after_bot(conversation_id, message.id, language)
            replies += [rating] if rating is not None else []
        for listener in self.answer_listeners:
            try:
                await listener(conversation_id, message, replies)
            except Exception:  # the answer is stored and shown; its mail is the listener's
                log.exception("a listener failed on the answer to message %s", message.id)
        return replies

    async def _ask_rasa(
        self,
        conversation_id: str,
        message_id: int,
        text: str,
        language: Language,
        asked: bool,
        channel: str = "widget",
    ) -> list[BotReply]:
        if asked:
            given = await self.rasa.replies_given(conversation_id, message_id)
            if given:  # Rasa answered; the service died before storing it
                return given
            # Never taken, or taken without a word (an action failed): sent again as it is. The
            # silent turn stays in the tracker; undoing it with a rewind would undo whatever
            # turn is last (often a later message's) and the listen before it, after which
            # Rasa answers the resent message with action_listen alone.
        return await self.rasa.send(
            conversation_id, text, language, message_id=message_id, channel=channel
        )

    async def _catch_up(self, conversation_id: str, before: int | None = None) -> int:
        """Answer what the bot owes the conversation (before a message id), in order, pushed
        to the customer's sockets; how many were answered. Raises RasaUnavailableError when
        Rasa still cannot answer (unless a new message is waiting: it gets the apology)."""
        owed, language = await in_worker_thread(self.sessions, _owed, conversation_id, before)
        answered = 0
        for message in owed:
            try:
                replies = await self._answer_from_rasa(
                    conversation_id, message, language, asked=True
                )
            except RasaUnavailableError:
                if before is None:
                    raise
                break  # these wait for the next round
            for reply in replies:
                self.hub.publish(conversation_id, reply.frame())
            answered += 1
        return answered

    async def redeliver(self, min_age_s: float = REDELIVER_AFTER_S) -> int:
        """Answer every message the bot has owed for at least ``min_age_s`` (after a crash or
        while Rasa was down); returns how many conversations were caught up. Stops at the first
        that Rasa still cannot answer: the next round tries again."""
        now = utcnow()
        conversations = await in_worker_thread(
            self.sessions,
            _owing_conversations,
            now - timedelta(seconds=min_age_s),
            now - timedelta(seconds=GIVE_UP_AFTER_S),
        )
        caught_up = 0
        for conversation_id in conversations:
            # A round of answers no request asked for: its own id in the logs and to Rasa.
            with (
                request_id.handling(request_id.new_request_id()),
                request_id.about_conversation(conversation_id),
            ):
                async with self._lock(conversation_id):
                    try:
                        answered = await self._catch_up(conversation_id)
                    except RasaUnavailableError as error:
                        log.info("redelivery waits for Rasa: %s", error)
                        break
            caught_up += answered > 0
        return caught_up

    async def redeliver_forever(self, interval_s: float = REDELIVER_EVERY_S) -> None:
        """At start (what a crash left unanswered) and then every ``interval_s``."""
        started = utcnow()
        # At start, what was stored before this process began: nothing of that is in flight.
        min_age_s: float | None = None
        while True:
            if min_age_s is None:
                min_age_s = (utcnow() - started).total_seconds()
            try:
                caught_up = await self.redeliver(min_age_s)
                if caught_up:
                    log.info("answered the owed messages of %d conversations", caught_up)
            except Exception:  # a database hiccup must not end the loop
                log.exception("redelivery round failed")
            min_age_s = REDELIVER_AFTER_S
            await asyncio.sleep(interval_s)
