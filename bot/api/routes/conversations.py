"""Conversations over plain HTTP: open one, send a message and get the bot's replies, read it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bot.api.deps import ConversationIdDep, RasaDep, SessionDep, StateDep, conversation_token
from bot.conversations.models import Message
from bot.conversations.rasa_client import RasaUnavailableError
from bot.conversations.store import ConversationNotFoundError, ConversationStore
from retrieval.language import detect_language

router = APIRouter(prefix="/conversations", tags=["conversations"])

MAX_MESSAGE_CHARS = 2000
ASSISTANT_DOWN = {
    "en": "Sorry, the assistant is not available right now. Please try again in a moment.",
    "zh": "抱歉，智能助手暂时无法使用，请稍后再试。",
}


class ConversationCreate(BaseModel):
    language: Literal["zh", "en"] | None = None


class ConversationPublic(BaseModel):
    id: str
    token: str


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_CHARS)
    ]
    client_message_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class MessagePublic(BaseModel):
    id: int
    sender: str
    text: str
    buttons: list[dict[str, str]] = Field(default_factory=list)
    articles: list[dict[str, Any]] = Field(default_factory=list)
    client_message_id: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, message: Message) -> MessagePublic:
        payload = message.payload or {}
        return cls(
            id=message.id,
            sender=message.sender,
            text=message.text,
            buttons=payload.get("buttons", []),
            articles=payload.get("articles", []),
            client_message_id=message.client_message_id,
            created_at=message.created_at,
        )


class ExchangePublic(BaseModel):
    message: MessagePublic
    replies: list[MessagePublic]
    duplicate: bool = False


class MessagesPublic(BaseModel):
    data: list[MessagePublic]
    count: int


def _not_found(error: ConversationNotFoundError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(error))


@router.post("", response_model=ConversationPublic, status_code=status.HTTP_201_CREATED)
def open_conversation(
    body: ConversationCreate, session: SessionDep, state: StateDep
) -> ConversationPublic:
    conversation = ConversationStore(session).open(body.language)
    token = conversation_token(state.settings.secret_key, conversation.id)
    return ConversationPublic(id=conversation.id, token=token)


@router.post("/{conversation_id}/messages", response_model=ExchangePublic)
async def send_message(
    conversation_id: ConversationIdDep, body: MessageCreate, session: SessionDep, rasa: RasaDep
) -> ExchangePublic:
    """Store the customer's message, then answer it; a resent id returns the first answer."""
    store = ConversationStore(session)
    try:
        message, created = store.add_customer_message(
            conversation_id, body.text, body.client_message_id
        )
    except ConversationNotFoundError as error:
        raise _not_found(error) from error
    if not created:
        replies = [MessagePublic.of(m) for m in store.replies_to(message.id)]
        return ExchangePublic(message=MessagePublic.of(message), replies=replies, duplicate=True)
    try:
        bot_replies = await rasa.send(conversation_id, body.text)
        stored = [
            store.add_reply(conversation_id, message.id, "bot", r.text, r.payload())
            for r in bot_replies
        ]
    except RasaUnavailableError:
        apology = ASSISTANT_DOWN[detect_language(body.text)]
        stored = [store.add_reply(conversation_id, message.id, "system", apology, {})]
    return ExchangePublic(
        message=MessagePublic.of(message), replies=[MessagePublic.of(m) for m in stored]
    )


@router.get("/{conversation_id}/messages", response_model=MessagesPublic)
def read_messages(conversation_id: ConversationIdDep, session: SessionDep) -> MessagesPublic:
    try:
        messages = ConversationStore(session).transcript(conversation_id)
    except ConversationNotFoundError as error:
        raise _not_found(error) from error
    return MessagesPublic(data=[MessagePublic.of(m) for m in messages], count=len(messages))
