"""The facts the triggers keep on each conversation, customer message and lookup (migration
0010 on SQLite, 0015 on PostgreSQL) equal the facts worked out from the rows, after inserts,
updates and deletes in any order, and with two writers to one conversation at once; and a
report reads the same numbers either way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.analytics import kpis
from bot.analytics.report_range import ReportRange
from bot.analytics.sql import dialect_of
from bot.conversations.models import ArticleFeedback, Conversation, KbLookup, Message
from bot.handoff.models import ConversationRating, Handoff
from tests.bot.analytics.facts import assert_kept_right, kept, reply_times, top_articles, worked_out
from tests.bot.analytics.seed import conversation
from tests.bot.analytics.shop_week import seed_shop_week

START = datetime(2026, 11, 10, 9, tzinfo=UTC)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


def test_a_migrated_database_keeps_the_facts(session: Session) -> None:
    assert kpis.facts_kept(session)


def test_without_one_of_its_triggers_the_facts_are_worked_out(session: Session) -> None:
    if dialect_of(session) == "sqlite":
        session.execute(text("DROP TRIGGER report_facts_handoffs_update"))
    else:  # as a bulk import might leave them
        session.execute(text("ALTER TABLE handoffs DISABLE TRIGGER report_facts_handoffs_update"))
    assert not kpis.facts_kept(session)


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


ROUNDS = 20
HELD_S = 0.03  # each writer's transaction stays open this long after its writes


def test_two_writers_to_one_conversation_at_once_leave_its_facts_right(
    sessions: sessionmaker[Session],
) -> None:
    """Two connections write to one conversation at the same moment, round after round: one
    a customer message and its lookup, the other a bot reply (each earlier than the last) to
    the first message, feedback and a handoff. Each keeps its transaction open a little after
    writing, so without the triggers' lock on the conversation the later commit would keep
    facts worked out without the other's rows (PostgreSQL's READ COMMITTED); the facts are
    checked after every round."""
    with sessions() as session:
        seeded = conversation(session, START).customer("hi")
        session.commit()
        conversation_id = seeded.id
        first = seeded.last_customer
        assert first is not None
        first_id, first_at = first.id, first.created_at
    both = threading.Barrier(2, timeout=30)

    def customer(n: int) -> None:
        at = START + timedelta(minutes=n + 1)
        message = {"sender": "customer", "text": f"question {n}", "created_at": at}
        lookup = {"question": f"question {n}", "language": "en", "band": "clarify"}
        lookup |= {"hits": [{"article_id": f"a{n}"}], "created_at": at}
        write([Message(conversation_id=conversation_id, payload={}, **message)], [lookup])

    def bot(n: int) -> None:
        at = first_at + timedelta(seconds=100 - n)  # each reply earlier than the ones before
        reply = Message(
            conversation_id=conversation_id,
            sender="bot",
            text=f"answer {n}",
            payload={},
            reply_to=first_id,
            created_at=at,
        )
        verdict = ArticleFeedback(
            conversation_id=conversation_id,
            article_id=f"a{n}",
            version=1,
            helpful=n % 2 == 0,
            created_at=START + timedelta(minutes=n + 1, seconds=1),
        )
        handoff = Handoff(
            conversation_id=conversation_id,
            status="waiting",
            reason="requested" if n else "frustration",
            language="en",
            created_at=at,
        )
        write([reply, verdict, handoff], [])

    def write(rows: list[object], lookups: list[dict[str, object]]) -> None:
        with sessions() as session:
            both.wait()
            session.add_all(rows)
            session.flush()
            for lookup in lookups:
                session.execute(insert(KbLookup).values(conversation_id=conversation_id, **lookup))
            time.sleep(HELD_S)
            session.commit()

    with ThreadPoolExecutor(2) as pool, sessions() as session:
        for n in range(ROUNDS):
            for done in [pool.submit(customer, n), pool.submit(bot, n)]:
                done.result()
            assert_kept_right(session)  # after every round: the next one would mend a miss
            session.rollback()
        facts = kept(session)[conversation_id]
        assert facts[0] == ROUNDS + 1  # customer messages
        assert facts[8] == "frustration"  # the first handoff's reason
        stored, _ = reply_times(session)
        assert stored[first_id] == pytest.approx(100 - (ROUNDS - 1), abs=0.001)
