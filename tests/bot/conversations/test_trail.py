"""What the bot tried: its knowledge-base lookups, and customers' feedback tied to the lookup
that offered the article."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.models import KbLookup
from bot.conversations.store import ConversationNotFoundError, ConversationStore
from bot.conversations.trail import BotTrail


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


@pytest.fixture
def trail(session: Session) -> BotTrail:
    return BotTrail(session)


@pytest.fixture
def cid(session: Session) -> str:
    return ConversationStore(session).open("en").id


def hits(*article_ids: str) -> list[dict[str, Any]]:
    return [
        {"article_id": a, "version": 1, "score": 0.9 - n / 10} for n, a in enumerate(article_ids)
    ]


def test_a_lookup_in_a_conversation_is_part_of_its_trail(trail: BotTrail, cid: str) -> None:
    first = trail.record_lookup(cid, "how do I return?", "en", "answer", hits("returns"))
    second = trail.record_lookup(cid, "退货", "zh", "clarify", hits("returns", "refunds"))
    assert [lk.id for lk in trail.lookups(cid)] == [first.id, second.id]
    assert (second.question, second.language, second.band) == ("退货", "zh", "clarify")
    assert [h["article_id"] for h in second.hits] == ["returns", "refunds"]


def test_a_lookup_without_a_conversation_is_recorded_apart(
    trail: BotTrail, cid: str, session: Session
) -> None:
    lookup = trail.record_lookup(None, "opening hours?", "en", "none", [])
    assert lookup.id is not None and lookup.conversation_id is None
    assert session.get(KbLookup, lookup.id) is not None
    assert trail.lookups(cid) == []


def test_a_lookup_in_an_unknown_conversation_is_refused(trail: BotTrail, session: Session) -> None:
    with pytest.raises(ConversationNotFoundError):
        trail.record_lookup("nope", "q", "en", "answer", hits("returns"))
    assert session.scalar(select(func.count()).select_from(KbLookup)) == 0


def test_feedback_belongs_to_the_latest_lookup_that_found_the_article(
    trail: BotTrail, cid: str
) -> None:
    trail.record_lookup(cid, "return?", "en", "answer", hits("returns"))
    latest = trail.record_lookup(cid, "send it back?", "en", "clarify", hits("refunds", "returns"))
    trail.record_lookup(cid, "invoice?", "en", "answer", hits("invoices"))

    feedback = trail.record_feedback(cid, "returns", 1, helpful=True)
    assert feedback.lookup_id == latest.id
    assert feedback.helpful and feedback.version == 1


def test_feedback_keeps_the_lookup_it_names(trail: BotTrail, cid: str) -> None:
    named = trail.record_lookup(cid, "return?", "en", "answer", hits("returns"))
    trail.record_lookup(cid, "send it back?", "en", "answer", hits("returns"))
    feedback = trail.record_feedback(cid, "returns", 1, helpful=False, lookup_id=named.id)
    assert feedback.lookup_id == named.id


def test_feedback_on_an_article_no_lookup_found_has_no_lookup(trail: BotTrail, cid: str) -> None:
    trail.record_lookup(cid, "return?", "en", "answer", hits("returns"))
    assert trail.record_feedback(cid, "invoices", None, helpful=True).lookup_id is None


def test_another_conversations_lookup_is_not_linked(
    trail: BotTrail, cid: str, session: Session
) -> None:
    other = ConversationStore(session).open("en").id
    trail.record_lookup(other, "return?", "en", "answer", hits("returns"))
    trail.record_lookup(None, "return?", "en", "answer", hits("returns"))
    assert trail.record_feedback(cid, "returns", 1, helpful=True).lookup_id is None


def test_the_feedback_of_a_conversation_in_order(
    trail: BotTrail, cid: str, session: Session
) -> None:
    other = ConversationStore(session).open("en").id
    trail.record_feedback(cid, "returns", 1, helpful=False)
    trail.record_feedback(other, "returns", 1, helpful=True)
    trail.record_feedback(cid, "refunds", 2, helpful=True)
    assert [(f.article_id, f.helpful) for f in trail.feedback(cid)] == [
        ("returns", False),
        ("refunds", True),
    ]


def test_feedback_in_an_unknown_conversation_is_refused(trail: BotTrail) -> None:
    with pytest.raises(ConversationNotFoundError):
        trail.record_feedback("nope", "returns", 1, helpful=True)
