"""What leaves the service about conversations: messages and exchanges, on HTTP and WebSocket."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from bot.conversations.models import Message
from db.base import MAX_ROW_ID
from db.text import Storable

MAX_MESSAGE_CHARS = 2000
MAX_PAYLOAD_CHARS = 500

MessageText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_CHARS),
    Storable,
]
ClientMessageId = Annotated[str, StringConstraints(min_length=1, max_length=64), Storable]
# A quick-reply button's payload for Rasa ("/intent{...}"): what the bot reads instead of the text.
ButtonPayload = Annotated[
    str, StringConstraints(min_length=2, max_length=MAX_PAYLOAD_CHARS, pattern=r"^/\w"), Storable
]


class MessageCreate(BaseModel):
    """A customer message: ``text`` is stored and shown; ``payload`` (a button's) goes to Rasa."""

    model_config = ConfigDict(extra="forbid")

    text: MessageText
    client_message_id: ClientMessageId | None = None
    payload: ButtonPayload | None = None


class MessageFrame(MessageCreate):
    """The same message as a WebSocket frame."""

    type: Literal["message"]


class TypingFrame(BaseModel):
    """The customer (on the conversation's socket) or the agent (on the handoff's) started
    (``active``) or stopped typing; shown on the other side, never stored."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["typing"]
    active: StrictBool


class MessagePublic(BaseModel):
    id: int
    sender: str
    text: str
    buttons: list[dict[str, str]] = Field(default_factory=list)
    articles: list[dict[str, Any]] = Field(default_factory=list)
    client_message_id: str | None = None
    # The customer message a bot's or system's reply answers (a client matches answers to
    # questions with it when it sends before the last answer came).
    reply_to: int | None = None
    # What a system message is for: agent_joined, csat_request (ask for a rating),
    # returned_to_bot; the agent's name on an agent's message.
    kind: str | None = None
    agent_name: str | None = None
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
            reply_to=message.reply_to,
            kind=payload.get("kind"),
            agent_name=payload.get("agent_name"),
            created_at=message.created_at,
        )

    def frame(self) -> dict[str, Any]:
        return {"type": "message", "message": self.model_dump(mode="json")}


class ExchangePublic(BaseModel):
    """A customer message and the replies to it; ``duplicate`` when its id was seen before."""

    message: MessagePublic
    replies: list[MessagePublic]
    duplicate: bool = False


class MessagesPublic(BaseModel):
    data: list[MessagePublic]
    count: int


class ConversationCreate(BaseModel):
    language: Literal["zh", "en"] | None = None


class ConversationPublic(BaseModel):
    id: str
    token: str


class ConversationStatePublic(BaseModel):
    """What the widget asks of its conversation beside the messages: whether "Email me this
    conversation" can be offered (the service sends mail), and the address the customer
    already gave (the contact form's, or the one they wrote from), to fill the form with."""

    id: str
    channel: Literal["widget", "email"]
    email_transcript: bool
    contact_email: str | None = Field(default=None, max_length=254)


# -- what the bot tried (written by the actions) -------------------------------------------


class FeedbackCreate(BaseModel):
    article_id: Annotated[str, StringConstraints(min_length=1, max_length=128), Storable]
    version: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    helpful: bool
    lookup_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)


class FeedbackPublic(BaseModel):
    id: int
    article_id: str
    version: int | None
    helpful: bool
    lookup_id: int | None
    created_at: datetime


class LookupPublic(BaseModel):
    id: int
    question: str
    language: str
    band: str
    hits: list[dict[str, Any]]
    created_at: datetime
    intent: str | None = None  # the intent Rasa detected in the message, if it said
    intent_confidence: float | None = None


class TrailPublic(BaseModel):
    lookups: list[LookupPublic]
    feedback: list[FeedbackPublic]
