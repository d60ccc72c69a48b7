"""The conversation list's text search finds what LIKE would, whichever path it takes: the
full-text index (a rare text of three characters or more), the walk newest first (a common
text), or LIKE alone (shorter text); and the index follows messages written, edited and
deleted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from bot.analytics import message_search
from bot.analytics.conversation_log import ConversationQuery, conversation_page
from bot.analytics.report_range import ReportRange
from bot.conversations.models import Conversation, Message
from tests.bot.analytics.seed import conversation

DAY = datetime(2026, 11, 10, 9, tzinfo=UTC)
TEXTS = {
    "latin": "Where is my PARCEL? It said 50%_off",
    "chinese": "我想申请退款，订单号是多少",
    "other": "hello there",
}


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        for n, (name, text) in enumerate(TEXTS.items()):
            conversation(session, DAY, id=name).customer(text, after=n).bot("an answer")
        session.commit()
        yield session


def found(session: Session, text: str) -> list[str]:
    period = ReportRange.of(date(2026, 11, 10), date(2026, 11, 10), "UTC")
    items, _ = conversation_page(session, ConversationQuery(period, text=text), None, 50)
    return sorted(item["id"] for item in items)


CASES = [
    ("parcel", ["latin"]),  # any case
    ("50%_off", ["latin"]),  # % and _ are text
    ("50%x", []),
    ("%_", ["latin"]),  # shorter than a trigram: LIKE alone
    ("退款", ["chinese"]),  # two characters: LIKE alone
    ("申请退款", ["chinese"]),  # a substring, no word boundaries needed
    ("an answer", ["chinese", "latin", "other"]),  # the bot's messages count too
    ("no such words", []),
    ('say "hi"', []),  # quotes are text, not FTS5 syntax
]


@pytest.mark.parametrize(("text", "ids"), CASES)
def test_the_index_finds_what_like_finds(session: Session, text: str, ids: list[str]) -> None:
    assert message_search.has_message_index(session)
    assert found(session, text) == ids


@pytest.mark.parametrize(("text", "ids"), CASES)
def test_a_common_text_walks_the_list_with_the_same_result(
    session: Session, monkeypatch: pytest.MonkeyPatch, text: str, ids: list[str]
) -> None:
    monkeypatch.setattr(message_search, "FEW_MESSAGES", 1)  # every text counts as common
    assert found(session, text) == ids


def test_the_index_follows_edits_and_deletions(session: Session) -> None:
    session.execute(
        update(Message).where(Message.conversation_id == "other").values(text="a new coupon")
    )
    assert found(session, "hello") == []
    assert found(session, "coupon") == ["other"]
    session.execute(delete(Message).where(Message.conversation_id == "latin"))
    session.execute(delete(Conversation).where(Conversation.id == "latin"))
    assert found(session, "parcel") == []
