"""The facts the SQLite triggers keep on each conversation and customer message (migration
0010) equal the facts worked out from the rows, after inserts, updates and deletes in any
order; and a report reads the same numbers either way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.analytics import kpis
from bot.analytics.report_range import ReportRange
from bot.analytics.sql import seconds_between
from bot.conversations.models import ArticleFeedback, Conversation, KbLookup, Message
from bot.handoff.models import ConversationRating, Handoff
from tests.bot.analytics.seed import conversation
from tests.bot.analytics.shop_week import seed_shop_week

pytestmark = pytest.mark.sqlite_only(
    "the facts are kept by SQLite triggers; PostgreSQL works them out from the rows"
)

START = datetime(2026, 11, 10, 9, tzinfo=UTC)
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


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


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
    """Every conversation's facts and outcome from its rows (the path PostgreSQL takes)."""
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
            seconds_between("sqlite", Message.created_at, first_reply),
        ).where(Message.sender == "customer")
    ).all()
    return {i: stored for i, stored, _ in rows}, {i: computed for i, _, computed in rows}


def top_articles(session: Session) -> list[tuple[Any, Any]]:
    """Each lookup's top article: kept, and read from its hits."""
    first = func.json_extract(KbLookup.hits, "$[0].article_id")
    return [tuple(row) for row in session.execute(select(KbLookup.top_article_id, first))]


def assert_kept_right(session: Session) -> None:
    session.flush()
    assert kept(session) == worked_out(session)
    stored, computed = reply_times(session)
    assert stored == computed
    assert all(stored == computed for stored, computed in top_articles(session))


def test_a_migrated_sqlite_database_keeps_the_facts(session: Session) -> None:
    assert kpis.facts_kept(session)


def test_the_week_s_facts_are_kept_and_its_report_is_the_same_either_way(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_shop_week(session)
    assert_kept_right(session)
    assert {outcome for *_, outcome in kept(session).values()} == {
        "contained",
        "escalated",
        "abandoned",
        "rated_poor",
    }
    period = ReportRange.of(date(2026, 11, 10), date(2026, 11, 16), "Asia/Shanghai")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    from_kept = asdict(kpis.report(session, period, 300, now))
    monkeypatch.setattr(kpis, "facts_kept", lambda _session: False)
    assert asdict(kpis.report(session, period, 300, now)) == from_kept


def test_feedback_then_a_later_lookup_then_the_lookup_deleted(session: Session) -> None:
    seeded = conversation(session, START).customer("where is my parcel").lookup("answer", "a")
    seeded.bot().feedback("a", helpful=False)
    assert_kept_right(session)
    assert kept(session)[seeded.id][-1] == "abandoned"  # the last answer was not helpful
    seeded.customer("and now?").lookup("answer", "b").bot()
    assert_kept_right(session)
    assert kept(session)[seeded.id][-1] == "contained"  # a lookup after the feedback
    session.execute(delete(KbLookup).where(KbLookup.id == seeded.lookups[-1].id))
    assert_kept_right(session)
    assert kept(session)[seeded.id][-1] == "abandoned"


def test_a_rating_given_changed_and_withdrawn(session: Session) -> None:
    seeded = conversation(session, START).customer("hi").bot().rating(5)
    assert_kept_right(session)
    session.execute(update(ConversationRating).values(score=1))
    assert_kept_right(session)
    assert kept(session)[seeded.id][-2:] == (1, "rated_poor")
    session.execute(delete(ConversationRating))
    assert_kept_right(session)
    assert kept(session)[seeded.id][-2:] == (None, "contained")


def test_a_handoff_added_later_and_the_first_one_deleted(session: Session) -> None:
    seeded = conversation(session, START).customer("hi").bot().rating(2)
    assert kept(session)[seeded.id][-1] == "rated_poor"
    seeded.handoff("frustration").handoff("requested")
    assert_kept_right(session)
    assert kept(session)[seeded.id][-3:] == ("frustration", 2, "escalated")
    first = session.scalars(select(Handoff.id).order_by(Handoff.id)).first()
    session.execute(delete(Handoff).where(Handoff.id == first))
    assert_kept_right(session)
    assert kept(session)[seeded.id][-3] == "requested"
    session.execute(update(Handoff).values(reason="topic"))
    assert_kept_right(session)
    assert kept(session)[seeded.id][-3] == "topic"


def test_messages_inserted_out_of_order_updated_moved_and_deleted(session: Session) -> None:
    one = conversation(session, START).customer("first").bot(after=2).customer("second")
    other = conversation(session, START).customer("elsewhere").bot()
    assert_kept_right(session)
    assert kept(session)[one.id][-1] == "abandoned"  # "second" is unanswered
    # A reply stored with a time before an earlier reply's, and one a bulk insert brings.
    second = one.last_customer
    assert second is not None
    session.add(
        Message(
            conversation_id=one.id,
            sender="bot",
            text="late",
            payload={},
            reply_to=second.id,
            created_at=second.created_at + timedelta(seconds=9),
        )
    )
    session.execute(
        insert(Message),
        [
            {"conversation_id": one.id, "sender": "bot", "text": "early", "payload": {}}
            | {"reply_to": second.id, "created_at": second.created_at + timedelta(seconds=3)}
            | {"awaiting_bot": False, "bot_attempts": 0}
        ],
    )
    assert_kept_right(session)
    assert reply_times(session)[0][second.id] == pytest.approx(3.0, abs=0.001)
    # The customer message's time corrected, a reply deleted, a message moved, a sender changed.
    session.execute(
        update(Message)
        .where(Message.id == second.id)
        .values(created_at=second.created_at - timedelta(seconds=1))
    )
    assert_kept_right(session)
    session.execute(delete(Message).where(Message.text == "early"))
    assert_kept_right(session)
    session.execute(
        update(Message).where(Message.text == "elsewhere").values(conversation_id=one.id)
    )
    assert_kept_right(session)
    session.execute(update(Message).where(Message.text == "first").values(sender="system"))
    assert_kept_right(session)
    assert kept(session)[other.id][0] == 0  # no customer message left: not counted
    session.execute(delete(Message).where(Message.sender == "bot"))
    assert_kept_right(session)


def test_a_lookup_s_band_and_feedback_changed(session: Session) -> None:
    seeded = conversation(session, START).customer("size?").lookup("clarify", "a", "b")
    assert kept(session)[seeded.id][-1] == "abandoned"  # options never answered
    session.execute(update(KbLookup).values(band="answer"))
    seeded.bot().feedback("a", helpful=True)
    assert_kept_right(session)
    assert top_articles(session) == [("a", "a")]
    session.execute(update(KbLookup).values(hits=[{"article_id": "c", "version": 1}]))
    seeded.lookup("none")  # found nothing: no top article
    assert_kept_right(session)
    assert top_articles(session) == [("c", "c"), (None, None)]
    session.execute(update(ArticleFeedback).values(helpful=False))
    assert_kept_right(session)
    assert kept(session)[seeded.id][-1] == "abandoned"


def test_a_deleted_conversation_takes_its_rows_along(session: Session) -> None:
    seeded = conversation(session, START).customer("hi").lookup("none").bot()
    seeded.feedback("a", helpful=True).handoff().rating(4)
    session.flush()
    session.execute(delete(Conversation).where(Conversation.id == seeded.id))
    session.expunge_all()
    assert kept(session) == {} == worked_out(session)
    assert session.scalars(select(Message.id)).all() == []
