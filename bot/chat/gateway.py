"""The chat gateway: every customer message is stored, then answered by the bot — or, while
an agent has the conversation, left for the agent — and every message is pushed to the
conversation's open sockets. HTTP and WebSocket both come through here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import anyio
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.hub import ConversationHub
from bot.conversations.models import ArticleFeedback, Message
from bot.conversations.rasa_client import BotReply, RasaClient, RasaUnavailableError
from bot.conversations.schemas import ExchangePublic, MessageCreate, MessagePublic
from bot.conversations.store import ConversationStore
from bot.handoff.models import ConversationRating, Handoff
from kb.models import utcnow
from retrieval.language import detect_language

T = TypeVar("T")

QUEUE_NOTICE_INTERVAL = timedelta(minutes=2)
QUEUE_POSITION = {
    "en": "You're number {position} in the queue; an agent will be with you shortly.",
    "zh": "您目前排在第 {position} 位，人工客服马上就来。",
}
RATING_REQUEST = {
    "en": "Glad I could help. How would you rate this chat?",
    "zh": "很高兴能帮到您。请为本次服务打分：",
}
ASSISTANT_DOWN = {
    "en": "Sorry, the assistant is not available right now. Please try again in a moment.",
    "zh": "抱歉，智能助手暂时无法使用，请稍后再试。",
}


class ChatGateway:
    def __init__(
        self, sessions: sessionmaker[Session], rasa: RasaClient, hub: ConversationHub
    ) -> None:
        self.sessions = sessions
        self.rasa = rasa
        self.hub = hub

    async def _db(self, work: Callable[[ConversationStore], T]) -> T:
        """Database work runs in a worker thread so one slow write never stalls every socket."""

        def run() -> T:
            with self.sessions() as session:
                return work(ConversationStore(session))

        return await anyio.to_thread.run_sync(run)

    async def transcript(self, conversation_id: str, after: int = 0) -> list[MessagePublic]:
        messages = await self._db(lambda store: store.transcript(conversation_id, after))
        return [MessagePublic.of(m) for m in messages]

    async def receive(self, conversation_id: str, incoming: MessageCreate) -> ExchangePublic:
        """Store the customer's message, then answer it; a resent id returns the first answer.

        Raises ConversationNotFoundError for an unknown conversation.
        """

        def store_message(store: ConversationStore) -> tuple[Message, bool, str]:
            message, created = store.add_customer_message(
                conversation_id, incoming.text, incoming.client_message_id, incoming.payload
            )
            return message, created, store.get(conversation_id).handled_by

        message, created, handled_by = await self._db(store_message)
        customer = MessagePublic.of(message)
        if not created:
            earlier = await self._db(lambda store: store.replies_to(message.id))
            return ExchangePublic(
                message=customer, replies=[MessagePublic.of(m) for m in earlier], duplicate=True
            )
        self.hub.publish(conversation_id, customer.frame())
        if handled_by == "agent":
            # The agent answers and the bot is silent; until one claims it, the customer is
            # told where they stand in the queue (at most every QUEUE_NOTICE_INTERVAL).
            notice = await self._db(lambda store: self._queue_notice(store, conversation_id))
            replies = [notice] if notice is not None else []
            for reply in replies:
                self.hub.publish(conversation_id, reply.frame())
            return ExchangePublic(message=customer, replies=replies)
        self.hub.publish(conversation_id, {"type": "typing", "active": True})
        try:
            replies = await self._answer(conversation_id, message.id, incoming)
        finally:
            self.hub.publish(conversation_id, {"type": "typing", "active": False})
        for reply in replies:
            self.hub.publish(conversation_id, reply.frame())
        return ExchangePublic(message=customer, replies=replies)

    async def _answer(
        self, conversation_id: str, message_id: int, incoming: MessageCreate
    ) -> list[MessagePublic]:
        try:
            bot_replies = await self.rasa.send(conversation_id, incoming.payload or incoming.text)
            sender = "bot"
        except RasaUnavailableError:
            bot_replies = [BotReply(text=ASSISTANT_DOWN[detect_language(incoming.text)])]
            sender = "system"

        def store_replies(store: ConversationStore) -> list[MessagePublic]:
            stored = [
                store.add_reply(conversation_id, message_id, sender, r.text, r.payload())
                for r in bot_replies
            ]
            if any(r.end_of_chat for r in bot_replies) and self._bot_resolved(
                store, conversation_id
            ):
                text = RATING_REQUEST[detect_language(incoming.text)]
                stored.append(
                    store.add_reply(
                        conversation_id, message_id, "system", text, {"kind": "csat_request"}
                    )
                )
            return [MessagePublic.of(m) for m in stored]

        return await self._db(store_replies)

    @staticmethod
    def _queue_notice(store: ConversationStore, conversation_id: str) -> MessagePublic | None:
        session = store.session
        waiting = list(
            session.scalars(
                select(Handoff).where(Handoff.status == "waiting").order_by(Handoff.created_at)
            )
        )
        mine = next((h for h in waiting if h.conversation_id == conversation_id), None)
        if mine is None:
            return None  # claimed already: the agent is here
        last = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.sender == "system")
            .order_by(Message.id.desc())
        ).first()
        recent = last is not None and (last.payload or {}).get("kind") == "queue_position"
        if recent and last is not None and utcnow() - last.created_at < QUEUE_NOTICE_INTERVAL:
            return None
        position = waiting.index(mine) + 1
        text = QUEUE_POSITION["zh" if mine.language == "zh" else "en"].format(position=position)
        message = Message(
            conversation_id=conversation_id,
            sender="system",
            text=text,
            payload={"kind": "queue_position", "position": position},
        )
        session.add(message)
        session.commit()
        return MessagePublic.of(message)

    @staticmethod
    def _bot_resolved(store: ConversationStore, conversation_id: str) -> bool:
        """Goodbye after a helpful answer, not yet rated and not asked yet: ask for a rating."""
        session = store.session
        helped = session.scalars(
            select(ArticleFeedback.id).where(
                ArticleFeedback.conversation_id == conversation_id, ArticleFeedback.helpful
            )
        ).first()
        rated = session.scalars(
            select(ConversationRating.id).where(
                ConversationRating.conversation_id == conversation_id
            )
        ).first()
        asked = any(
            (m.payload or {}).get("kind") == "csat_request"
            for m in store.transcript(conversation_id)
        )
        return helped is not None and rated is None and not asked
