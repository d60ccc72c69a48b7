"""The chat gateway: every customer message is stored, then answered by the bot — or, while
an agent has the conversation, left for the agent — and every message is pushed to the
conversation's open sockets. HTTP and WebSocket both come through here."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.hub import ConversationHub
from bot.conversations.models import Message
from bot.conversations.rasa_client import BotReply, RasaClient, RasaUnavailableError
from bot.conversations.schemas import ExchangePublic, MessageCreate, MessagePublic
from bot.conversations.store import ConversationStore
from bot.handoff.desk import HandoffDesk
from db.engine import in_worker_thread
from texts import Language, language_or_fallback, say


def _store_message(
    session: Session, conversation_id: str, incoming: MessageCreate
) -> tuple[Message, bool, str, Language]:
    store = ConversationStore(session)
    message, created = store.add_customer_message(
        conversation_id, incoming.text, incoming.client_message_id, incoming.payload
    )
    conversation = store.get(conversation_id)
    return message, created, conversation.handled_by, language_or_fallback(conversation.language)


def _store_replies(
    session: Session, conversation_id: str, reply_to: int, sender: str, replies: list[BotReply]
) -> list[Message]:
    store = ConversationStore(session)
    return [
        store.add_reply(conversation_id, reply_to, sender, r.text, r.payload()) for r in replies
    ]


def _replies_to(session: Session, message_id: int) -> list[Message]:
    return ConversationStore(session).replies_to(message_id)


def _transcript(session: Session, conversation_id: str, after: int) -> list[Message]:
    return ConversationStore(session).transcript(conversation_id, after)


class ChatGateway:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        rasa: RasaClient,
        hub: ConversationHub,
        desk: HandoffDesk,
    ) -> None:
        self.sessions = sessions
        self.rasa = rasa
        self.hub = hub
        self.desk = desk

    async def transcript(self, conversation_id: str, after: int = 0) -> list[MessagePublic]:
        messages = await in_worker_thread(self.sessions, _transcript, conversation_id, after)
        return [MessagePublic.of(m) for m in messages]

    async def receive(self, conversation_id: str, incoming: MessageCreate) -> ExchangePublic:
        """Store the customer's message, then answer it; a resent id returns the first answer.

        Raises ConversationNotFoundError for an unknown conversation.
        """
        message, created, handled_by, language = await in_worker_thread(
            self.sessions, _store_message, conversation_id, incoming
        )
        customer = MessagePublic.of(message)
        if not created:
            earlier = await in_worker_thread(self.sessions, _replies_to, message.id)
            return ExchangePublic(
                message=customer, replies=[MessagePublic.of(m) for m in earlier], duplicate=True
            )
        self.hub.publish(conversation_id, customer.frame())
        if handled_by == "agent":
            # The agent answers and the bot is silent; the desk says whether the customer is
            # due a word on where they stand in the queue.
            notice = await self.desk.queue_notice(conversation_id, message.id)
            replies = [notice] if notice is not None else []
        else:
            self.hub.publish(conversation_id, {"type": "typing", "active": True})
            try:
                replies = await self._answer(conversation_id, message.id, incoming, language)
            finally:
                self.hub.publish(conversation_id, {"type": "typing", "active": False})
        for reply in replies:
            self.hub.publish(conversation_id, reply.frame())
        return ExchangePublic(message=customer, replies=replies)

    async def _answer(
        self, conversation_id: str, message_id: int, incoming: MessageCreate, language: Language
    ) -> list[MessagePublic]:
        try:
            # A button's payload has no words of the customer's: Rasa is told the language.
            bot_replies = await self.rasa.send(
                conversation_id, incoming.payload or incoming.text, language
            )
            sender = "bot"
        except RasaUnavailableError:
            bot_replies = [BotReply(text=say("assistant_down", language))]
            sender = "system"
        stored = await in_worker_thread(
            self.sessions, _store_replies, conversation_id, message_id, sender, bot_replies
        )
        replies = [MessagePublic.of(m) for m in stored]
        if any(r.end_of_chat for r in bot_replies):
            rating = await self.desk.rating_request_after_bot(conversation_id, message_id, language)
            replies += [rating] if rating is not None else []
        return replies
