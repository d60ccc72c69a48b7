"""Every conversation, for supervisors: a filtered list paged newest first by keyset on
(created_at, id) — never OFFSET, so page 1,000 costs what page 1 does — and one conversation
read whole with the bot's trail. Outcomes are the reports' (bot/analytics/kpis.py)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from bot.analytics.kpis import (
    customer_messages,
    facts_kept,
    in_period,
    outcome,
    rating_score,
)
from bot.analytics.message_search import mentioning
from bot.analytics.report_range import ReportRange
from bot.analytics.sql import dialect_of, json_field, json_items
from bot.auth.models import User
from bot.conversations.models import ArticleFeedback, Conversation, KbLookup, Message
from bot.handoff.models import ConversationRating, Handoff, HandoffNote
from bot.handoff.packet import OFFERED_BY_BAND, packet_intents

FIRST_MESSAGE_CHARS = 200
MAX_PAGE = 100


class CursorError(ValueError):
    """A cursor this service did not hand out."""


@dataclass(frozen=True)
class ConversationQuery:
    period: ReportRange
    text: str | None = None  # in any message
    outcome: str | None = None
    rating: int | None = None
    article_id: str | None = None  # offered by a lookup


def encode_cursor(created_at: datetime, conversation_id: str) -> str:
    raw = f"{created_at.isoformat()}|{conversation_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, conversation_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise CursorError("this cursor is not one the list gave") from error
    if created_at.tzinfo is None or not conversation_id:
        raise CursorError("this cursor is not one the list gave")
    return created_at, conversation_id


def _correlated(query: Any) -> ColumnElement[Any]:
    return query.correlate(Conversation).scalar_subquery()


def offered_article(dialect: str, article_id: str) -> ColumnElement[bool]:
    """A lookup of the conversation offered the article (the hits its band shows)."""
    hits = json_items(dialect, KbLookup.hits, "hit")
    shown = case(*((KbLookup.band == band, n) for band, n in OFFERED_BY_BAND.items()), else_=0)
    return (
        select(KbLookup.id)
        .join(hits.table, true())
        .where(
            KbLookup.conversation_id == Conversation.id,
            json_field(dialect, hits.value, "article_id") == article_id,
            hits.key < shown,
        )
        .correlate(Conversation)
        .exists()
    )


def _columns(kept: bool) -> list[Any]:
    """The list's columns; ``kept``: the outcome facts the triggers keep on the conversation
    (kpis.facts_kept), else worked out from its rows."""
    first_message = _correlated(
        select(func.substr(Message.text, 1, FIRST_MESSAGE_CHARS))
        .where(Message.conversation_id == Conversation.id, Message.sender == "customer")
        .order_by(Message.id)
        .limit(1)
    )
    agent_name = _correlated(
        select(User.name)
        .join(Handoff, Handoff.agent_id == User.id)
        .where(Handoff.conversation_id == Conversation.id)
        .order_by(Handoff.id.desc())
        .limit(1)
    )
    return [
        Conversation.id,
        Conversation.created_at,
        Conversation.language,
        Conversation.channel,
        outcome(kept).label("outcome"),
        rating_score(kept).label("rating"),
        agent_name.label("agent_name"),
        customer_messages(kept).label("customer_messages"),
        first_message.label("first_message"),
    ]


def _item(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "started_at": row.created_at,
        "language": row.language,
        "channel": row.channel,
        "outcome": row.outcome,
        "rating": row.rating,
        "agent_name": row.agent_name,
        "customer_messages": row.customer_messages,
        "first_message": row.first_message or "",
    }


def conversation_page(
    session: Session, query: ConversationQuery, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page, newest first, and the cursor of the next (None on the last page)."""
    kept = facts_kept(session)
    conditions = in_period(query.period, kept)
    if query.text:
        conditions.append(mentioning(session, query.text))
    if query.outcome is not None:
        conditions.append(outcome(kept) == query.outcome)
    if query.rating is not None:
        conditions.append(rating_score(kept) == query.rating)
    if query.article_id is not None:
        conditions.append(offered_article(dialect_of(session), query.article_id))
    if cursor is not None:
        created_at, conversation_id = decode_cursor(cursor)
        conditions.append(
            or_(
                Conversation.created_at < created_at,
                and_(Conversation.created_at == created_at, Conversation.id < conversation_id),
            )
        )
    rows = session.execute(
        select(*_columns(kept))
        .where(*conditions)
        .order_by(Conversation.created_at.desc(), Conversation.id.desc())
        .limit(min(limit, MAX_PAGE) + 1)
    ).all()
    page = rows[:limit]
    more = len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more and page else None
    return [_item(row) for row in page], next_cursor


def conversation_detail(session: Session, conversation_id: str) -> dict[str, Any] | None:
    """The conversation read whole: transcript, lookups (with the intent Rasa detected),
    feedback, handoffs with notes and their packet's intents, rating."""
    row = session.execute(
        select(*_columns(facts_kept(session))).where(Conversation.id == conversation_id)
    ).one_or_none()
    if row is None:
        return None

    def of_conversation(model: Any) -> list[Any]:
        return list(
            session.scalars(
                select(model).where(model.conversation_id == conversation_id).order_by(model.id)
            )
        )

    handoffs = of_conversation(Handoff)
    names = dict(session.execute(select(User.id, User.name)).all())
    notes: dict[int, list[dict[str, Any]]] = {}
    for note in session.scalars(
        select(HandoffNote)
        .where(HandoffNote.handoff_id.in_([h.id for h in handoffs]))
        .order_by(HandoffNote.id)
    ):
        notes.setdefault(note.handoff_id, []).append(
            {"text": note.text, "created_at": note.created_at}
        )
    rating = session.scalars(
        select(ConversationRating).where(ConversationRating.conversation_id == conversation_id)
    ).first()
    return {
        "conversation": _item(row),
        "messages": [
            {
                "id": m.id,
                "sender": m.sender,
                "text": m.text,
                "created_at": m.created_at,
                "payload": m.payload or {},
            }
            for m in of_conversation(Message)
        ],
        "lookups": [
            {
                "id": lookup.id,
                "question": lookup.question,
                "band": lookup.band,
                "hits": [
                    {
                        "article_id": str(hit.get("article_id", "")),
                        "version": hit.get("version"),
                        "score": hit.get("score"),
                    }
                    for hit in lookup.hits or []
                ],
                "created_at": lookup.created_at,
                "intent": lookup.intent,
                "intent_confidence": lookup.intent_confidence,
            }
            for lookup in of_conversation(KbLookup)
        ],
        "feedback": [
            {
                "article_id": f.article_id,
                "version": f.version,
                "helpful": f.helpful,
                "created_at": f.created_at,
            }
            for f in of_conversation(ArticleFeedback)
        ],
        "handoffs": [
            {
                "id": h.id,
                "status": h.status,
                "reason": h.reason,
                "agent_name": names.get(h.agent_id) if h.agent_id is not None else None,
                "created_at": h.created_at,
                "claimed_at": h.claimed_at,
                "first_response_at": h.first_response_at,
                "closed_at": h.closed_at,
                "notes": notes.get(h.id, []),
                "intents": packet_intents(h.packet),
            }
            for h in handoffs
        ],
        "rating": None
        if rating is None
        else {"score": rating.score, "comment": rating.comment, "resolved_by": rating.resolved_by},
    }
