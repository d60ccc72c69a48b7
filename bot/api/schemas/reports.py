"""The reports for supervisors: the summary (KPIs, series, tables) and every conversation."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.analytics.kpis import Report
from bot.handoff.packet import MAX_PACKET_INTENTS

Outcome = Literal["contained", "escalated", "abandoned", "rated_poor"]
Unit = Literal["count", "percent", "seconds", "score"]
Sender = Literal["customer", "bot", "agent", "system"]


class ReportRangePublic(BaseModel):
    since: str
    until: str
    tz: str


class PreviousRangePublic(BaseModel):
    since: str
    until: str


class KpiPublic(BaseModel):
    value: float | None  # None when undefined (no ratings, no handoffs…)
    previous: float | None  # the same over the previous period of the same length
    unit: Unit
    outcome: Outcome | None  # the conversations behind the tile


class DayPublic(BaseModel):
    date: str
    conversations: int
    customer_messages: int
    contained: int
    escalated: int
    abandoned: int
    rated_poor: int
    csat_mean: float | None


class HeatCellPublic(BaseModel):
    weekday: int = Field(ge=0, le=6)  # 0 = Monday
    hour: int = Field(ge=0, le=23)  # in the report's zone
    conversations: int


class SeriesPublic(BaseModel):
    daily: list[DayPublic]
    heatmap: list[HeatCellPublic]
    csat_distribution: dict[str, int]
    escalation_reasons: dict[str, int]
    bands: dict[str, int]


class ArticleRowPublic(BaseModel):
    article_id: str
    title: str
    offered: int
    helpful: int
    not_helpful: int


class UnansweredPublic(BaseModel):
    question: str
    count: int
    language: str


class AgentRowPublic(BaseModel):
    agent_id: int
    name: str
    handoffs: int
    resolved: int
    first_response_p50_s: float | None
    csat_mean: float | None
    csat_count: int


class CsatCommentPublic(BaseModel):
    conversation_id: str
    score: int
    comment: str
    resolved_by: str
    created_at: datetime


class ChannelRowPublic(BaseModel):
    channel: str
    conversations: int
    contained: int
    escalated: int
    containment_rate: float | None  # percent
    escalation_rate: float | None
    csat_mean: float | None
    csat_count: int


class TablesPublic(BaseModel):
    top_articles: list[ArticleRowPublic]
    not_helpful_articles: list[ArticleRowPublic]
    unanswered: list[UnansweredPublic]
    agents: list[AgentRowPublic]
    csat_comments: list[CsatCommentPublic]
    channels: list[ChannelRowPublic]  # conversations by channel (widget, email)


class ReportPublic(BaseModel):
    range: ReportRangePublic
    previous: PreviousRangePublic
    kpis: dict[str, KpiPublic]
    series: SeriesPublic
    tables: TablesPublic

    @classmethod
    def of(cls, report: Report) -> ReportPublic:
        return cls.model_validate(asdict(report))


class ConversationItemPublic(BaseModel):
    id: str
    started_at: datetime
    language: str | None
    channel: str
    outcome: Outcome
    rating: int | None
    agent_name: str | None
    customer_messages: int
    first_message: str


class ConversationsPublic(BaseModel):
    items: list[ConversationItemPublic]
    next_cursor: str | None  # pass as ?cursor= for the next page; None on the last


class TranscriptMessagePublic(BaseModel):
    id: int
    sender: str
    text: str
    created_at: datetime
    payload: dict[str, Any]


class LookupHitPublic(BaseModel):
    article_id: str
    version: int | None
    score: float | None


class LookupPublic(BaseModel):
    id: int
    question: str
    band: str
    hits: list[LookupHitPublic]
    created_at: datetime
    # The intent Rasa detected in the message looked up; None before migration 0009.
    intent: str | None = None
    intent_confidence: float | None = None


class FeedbackPublic(BaseModel):
    article_id: str
    version: int | None
    helpful: bool
    created_at: datetime


class HandoffNotePublic(BaseModel):
    text: str
    created_at: datetime


class PacketIntentPublic(BaseModel):
    """A customer message and the intent Rasa read in it, as the handoff's packet holds it."""

    text: str
    intent: str
    confidence: float


class HandoffTrailPublic(BaseModel):
    id: int
    status: str
    reason: str
    agent_name: str | None
    created_at: datetime
    claimed_at: datetime | None
    first_response_at: datetime | None
    closed_at: datetime | None
    notes: list[HandoffNotePublic]
    intents: list[PacketIntentPublic] = Field(default_factory=list, max_length=MAX_PACKET_INTENTS)


class RatingTrailPublic(BaseModel):
    score: int
    comment: str | None
    resolved_by: str


class ConversationDetailPublic(BaseModel):
    conversation: ConversationItemPublic
    messages: list[TranscriptMessagePublic]
    lookups: list[LookupPublic]
    feedback: list[FeedbackPublic]
    handoffs: list[HandoffTrailPublic]
    rating: RatingTrailPublic | None


class StaffNamePublic(BaseModel):
    id: int
    name: str


class AgentsPublic(BaseModel):
    """Who may hold a handoff (agents and admins): the choices of the reports' agent filter."""

    items: list[StaffNamePublic] = Field(max_length=500)
