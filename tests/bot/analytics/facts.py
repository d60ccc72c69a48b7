"""The facts kept on each conversation, customer message and lookup (by the triggers of
migration 0010 on SQLite, 0015 on PostgreSQL), and the same facts worked out from the rows by
the reports' join path: the oracle the kept facts are checked against."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from bot.analytics import kpis
from bot.analytics.sql import dialect_of, seconds_between
from bot.conversations.models import ArticleFeedback, Conversation, KbLookup, Message

KEPT = (
    "customer_messages",
    "last_customer_message_id",
    "last_customer_message_at",
    "last_bot_message_id",
    "last_lookup_band",
    "last_lookup_at",
    "last_feedback_helpful",
    "last_feedback_at",
    "first_handoff_reason",
    "rating_score",
)


def _last(column: Any, model: Any, *conditions: Any, first: bool = False) -> Any:
    order = model.id if first else model.id.desc()
    return (
        select(column)
        .where(model.conversation_id == Conversation.id, *conditions)
        .order_by(order)
        .limit(1)
        .correlate(Conversation)
        .scalar_subquery()
    )


def worked_out(session: Session) -> dict[str, tuple[Any, ...]]:
    """Every conversation's facts and outcome from its rows (the join path)."""
    customer = (Message.sender == "customer",)
    rows = session.execute(
        select(
            Conversation.id,
            kpis.customer_messages(),
            _last(Message.id, Message, *customer),
            select(func.max(Message.created_at))
            .where(Message.conversation_id == Conversation.id, *customer)
            .correlate(Conversation)
            .scalar_subquery(),
            _last(Message.id, Message, Message.sender == "bot"),
            _last(KbLookup.band, KbLookup),
            _last(KbLookup.created_at, KbLookup),
            _last(ArticleFeedback.helpful, ArticleFeedback),
            _last(ArticleFeedback.created_at, ArticleFeedback),
            kpis.first_handoff_reason(),
            kpis.rating_score(),
            kpis.outcome(),
        )
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def kept(session: Session) -> dict[str, tuple[Any, ...]]:
    session.expire_all()
    columns = [getattr(Conversation, name) for name in KEPT]
    rows = session.execute(select(Conversation.id, *columns, kpis.outcome(kept=True)))
    return {row[0]: tuple(row[1:]) for row in rows}


def reply_times(session: Session) -> tuple[dict[int, float | None], dict[int, float | None]]:
    """Each customer message's bot reply time: kept, and worked out from the replies."""
    reply = aliased(Message)
    first_reply = (
        select(reply.created_at)
        .where(reply.reply_to == Message.id, reply.sender == "bot")
        .order_by(reply.created_at)
        .limit(1)
        .correlate(Message)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Message.id,
            Message.bot_reply_s,
            seconds_between(dialect_of(session), Message.created_at, first_reply),
        ).where(Message.sender == "customer")
    ).all()
    return {i: stored for i, stored, _ in rows}, {i: computed for i, _, computed in rows}


def top_articles(session: Session) -> list[tuple[Any, Any]]:
    """Each lookup's top article: kept, and read from its hits."""
    first = KbLookup.hits[0]["article_id"].as_string()
    return [
        tuple(row)
        for row in session.execute(select(KbLookup.top_article_id, first).order_by(KbLookup.id))
    ]


def assert_kept_right(session: Session) -> None:
    session.flush()
    assert kept(session) == worked_out(session)
    stored, computed = reply_times(session)
    assert stored == computed
    assert all(stored == computed for stored, computed in top_articles(session))
