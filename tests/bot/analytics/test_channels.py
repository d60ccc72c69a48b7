"""The report by channel (widget, email): a hand-computed week, the same from the facts SQLite
keeps and from the rows (PostgreSQL's way, and SQLite's when a trigger is missing), with and
without the channel filter. On PostgreSQL: KEFU_TEST_DATABASE=postgres (docs/scaling.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.analytics import kpis
from bot.analytics.report_range import ReportRange
from bot.auth.store import UserStore
from tests.bot.analytics.seed import conversation
from tests.bot.analytics.shop_week import PASSWORD, at

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


@pytest.fixture(params=["kept", "worked out"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The facts as SQLite's triggers keep them, or worked out from the rows (on PostgreSQL
    both are the latter)."""
    if request.param == "worked out":
        monkeypatch.setattr(kpis, "facts_kept", lambda _session: False)
    return str(request.param)


def seed_two_channels(session: Session) -> None:
    lin = UserStore(session).create("lin@shop.test", "Lin", "agent", PASSWORD).id
    # The widget: W1 contained (rated 5), W2 escalated and resolved by Lin (rated 4),
    # W3 abandoned (never answered).
    conversation(session, at(10, 9)).customer("refund?").bot().rating(5)
    (
        conversation(session, at(11, 9))
        .customer("a person")
        .bot()
        .handoff("requested", lin, claimed_after=10, first_response_after=20, closed_after=60)
        .rating(4, agent_id=lin)
    )
    conversation(session, at(12, 9)).customer("hello?")
    # Email: E1 contained; E2 escalated, resolved by Lin, rated 2 (still escalated: a handoff
    # comes first); E3 escalated, open; E4 answered by the bot, rated 1 (rated_poor).
    conversation(session, at(10, 10), channel="email").customer("shipping?").bot()
    (
        conversation(session, at(13, 10), channel="email")
        .customer("opera?")
        .bot()
        .handoff("unanswered", lin, claimed_after=10, first_response_after=20, closed_after=60)
        .rating(2, "slow", agent_id=lin)
    )
    conversation(session, at(14, 10), channel="email").customer("invoice").bot().handoff(
        "unanswered"
    )
    conversation(session, at(15, 10), channel="email").customer("size?").bot().rating(1)
    # Not counted: no customer message; outside the week.
    conversation(session, at(15, 11), channel="email").bot("welcome", reply=False)
    conversation(session, at(17, 10), channel="email").customer("late").bot().rating(5)
    session.commit()


def by_channel(session: Session, **filters: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    period = ReportRange.of(date(2026, 11, 10), date(2026, 11, 16), "UTC", **filters)
    found = asdict(kpis.report(session, period, 300, NOW))
    return found["tables"]["channels"], {k: v["value"] for k, v in found["kpis"].items()}


WIDGET = {
    "channel": "widget",
    "conversations": 3,
    "contained": 1,
    "escalated": 1,
    "containment_rate": 33.33,
    "escalation_rate": 33.33,
    "csat_mean": 4.5,  # 5, 4
    "csat_count": 2,
}
EMAIL = {
    "channel": "email",
    "conversations": 4,
    "contained": 1,
    "escalated": 2,
    "containment_rate": 25.0,
    "escalation_rate": 50.0,
    "csat_mean": 1.5,  # 2, 1
    "csat_count": 2,
}


def test_each_channel_s_conversations_outcomes_and_rating(session: Session, way: str) -> None:
    seed_two_channels(session)
    rows, totals = by_channel(session)
    assert rows == [WIDGET, EMAIL]
    # The rows add up to the period's KPIs.
    assert totals["conversations"] == 7 and totals["csat_mean"] == 3.0


def test_the_channel_filter_keeps_its_row_alone(session: Session, way: str) -> None:
    seed_two_channels(session)
    rows, totals = by_channel(session, channel="email")
    assert rows == [EMAIL]
    assert (totals["conversations"], totals["escalation_rate"], totals["csat_mean"]) == (
        4,
        50.0,
        1.5,
    )
    widget_rows, _ = by_channel(session, channel="widget")
    assert widget_rows == [WIDGET]


def test_a_channel_with_no_conversation_is_a_row_of_zeros(session: Session) -> None:
    conversation(session, at(10, 9)).customer("hi").bot()
    session.commit()
    rows, _ = by_channel(session)
    assert rows[1] == {
        "channel": "email",
        "conversations": 0,
        "contained": 0,
        "escalated": 0,
        "containment_rate": None,
        "escalation_rate": None,
        "csat_mean": None,
        "csat_count": 0,
    }
