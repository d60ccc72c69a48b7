"""What comes into and leaves the handoff desk: requests from the bot and the agents, and
the queue, handoffs, notes and ratings the API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from bot.conversations.models import Message
from bot.conversations.schemas import MessagePublic
from bot.handoff.presence import AgentPresenceState, PresenceStatus
from bot.mail.schemas import MailDeliveryPublic, MailOriginalPublic
from contact.email import MAX_LENGTH, customer_email
from db.base import MAX_ROW_ID
from db.text import DisplayName, Storable

# "unanswered": a mail the bot had no confident answer to (bot/chat/email_channel.py).
Reason = Literal["requested", "repeated_failure", "frustration", "topic", "unanswered"]
QueueFilter = Literal["open", "waiting", "assigned", "resolved", "returned"]
# The contact form's own rule (contact.email), so an address the bot took is never refused here.
CustomerEmail = Annotated[
    str,
    Field(max_length=MAX_LENGTH, json_schema_extra={"format": "email"}),
    AfterValidator(customer_email),
]
AgentText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), Storable
]


# -- from the bot (the internal API) ----------------------------------------------------------


class IntentSeen(BaseModel):
    text: Annotated[str, StringConstraints(max_length=2000), Storable]
    intent: Annotated[str, StringConstraints(max_length=100), Storable]
    confidence: float = Field(ge=0, le=1)


class HandoffCreate(BaseModel):
    """The bot escalates a conversation (or adds the customer's email to its open ticket)."""

    conversation_id: Annotated[str, StringConstraints(min_length=1, max_length=128), Storable]
    reason: Reason
    language: Literal["zh", "en"] = "en"
    intents: list[IntentSeen] = Field(default_factory=list, max_length=200)
    customer_name: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, max_length=120), Storable, DisplayName
        ]
        | None
    ) = None
    customer_email: CustomerEmail | None = None


class HandoffOpenedPublic(BaseModel):
    handoff_id: int
    status: str
    agents_online: int
    created: bool
    # With nobody online, what the bot tells the customer: nobody is online now, or (outside
    # business hours) when the team is back; in the handoff's language.
    notice: str | None = None


# -- the agents' side ---------------------------------------------------------------------------


class PresenceUpdate(BaseModel):
    """An agent sets their status: online (takes chats), away (keeps theirs, gets no new
    ones), offline."""

    status: PresenceStatus


class PresencePublic(BaseModel):
    status: PresenceStatus  # what counts: offline without a live console whatever was chosen
    chosen: PresenceStatus
    live: bool  # a console of theirs is open (or closed less than the timeout ago)
    agents_online: int

    @classmethod
    def of(cls, state: AgentPresenceState, agents_online: int) -> PresencePublic:
        return cls(
            status=state.status, chosen=state.chosen, live=state.live, agents_online=agents_online
        )


class TeamMemberPublic(BaseModel):
    """Someone who may hold a chat (an agent or an admin): who to transfer one to."""

    id: int
    name: str
    role: str
    status: PresenceStatus
    open_chats: int


class TeamPublic(BaseModel):
    items: list[TeamMemberPublic]


# An agent's reply carries at most this many articles as link cards.
MAX_REPLY_ARTICLES = 3
ArticleId = Annotated[str, StringConstraints(min_length=1, max_length=128), Storable]


class AgentMessageCreate(BaseModel):
    text: AgentText
    # Articles from the knowledge-base panel, sent as the bot's link cards; the service looks
    # them up (published only) and builds the cards itself, never from a client's URL.
    article_ids: list[ArticleId] = Field(default_factory=list, max_length=MAX_REPLY_ARTICLES)


class NoteCreate(BaseModel):
    text: AgentText


class TransferCreate(BaseModel):
    """Hand a held conversation to another agent, or back to the queue (``to_agent_id`` null),
    with a note for whoever takes it."""

    to_agent_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    note: AgentText


class RatingPublic(BaseModel):
    score: int
    comment: str | None
    resolved_by: Literal["bot", "agent"]
    created_at: datetime


class PriorityPartsPublic(BaseModel):
    reason: int
    upset: int
    topic: int
    waiting: int


class HandoffSummaryPublic(BaseModel):
    """One row of the queue."""

    id: int
    conversation_id: str
    status: str
    reason: str
    language: str
    summary: str
    sentiment: float
    priority: int
    priority_parts: PriorityPartsPublic
    customer_name: str | None
    customer_email: str | None
    agent_id: int | None
    agent_name: str | None
    created_at: datetime
    claimed_at: datetime | None
    wait_seconds: int
    # The customer's rating of a resolved handoff (its conversation's, once given).
    rating: RatingPublic | None = None
    # When the packet was last built again from a new message or lookup (None: as opened).
    packet_updated_at: datetime | None = None
    # Where the customer writes from: widget or email (a badge in the console).
    channel: str = "widget"


class NotePublic(BaseModel):
    id: int
    text: str
    author: str | None
    created_at: datetime


class HandoffMessagePublic(MessagePublic):
    """A message as the agent reads it: with the whole mail it came from, when it came by mail
    (the widget's messages leave that out: the customer wrote it)."""

    email: MailOriginalPublic | None = None

    @classmethod
    def of(cls, message: Message) -> HandoffMessagePublic:
        return cls(
            **MessagePublic.of(message).model_dump(), email=MailOriginalPublic.of(message.payload)
        )


class HandoffPublic(HandoffSummaryPublic):
    """A handoff with what the bot saw and tried, the transcript and the agents' notes."""

    packet: dict[str, Any]
    messages: list[HandoffMessagePublic]
    notes: list[NotePublic]
    # Where mail about the conversation goes (the offline form's address, an email's From).
    contact_email: str | None = None
    # How each message that went by mail fared, by message id (docs/email.md).
    deliveries: dict[str, MailDeliveryPublic] = Field(default_factory=dict)


class HandoffQueuePublic(BaseModel):
    data: list[HandoffSummaryPublic]
    count: int
    first_response_target_s: int
    agents_online: int


# -- the customer's rating -----------------------------------------------------------------------


class RatingCreate(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), Storable] | None
    ) = None
