"""Every KPI of a hand-computed week (tests/bot/analytics/shop_week.py), exactly: the period's
boundaries at local midnight, a zone with a DST change and one with a half-hour offset, the
filters, the previous period, and an empty period (zeros and nulls, no errors)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.analytics.gaps import unanswered_questions
from bot.analytics.kpis import report
from bot.analytics.report_range import ReportRange, ReportRangeError
from tests.bot.analytics.seed import conversation
from tests.bot.analytics.shop_week import ShopWeek, seed_shop_week

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TARGET_S = 300


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


@pytest.fixture
def shop(session: Session) -> ShopWeek:
    return seed_shop_week(session)


def summary(session: Session, since: str, until: str, tz: str = "UTC", **filters: Any) -> Any:
    period = ReportRange.of(date.fromisoformat(since), date.fromisoformat(until), tz, **filters)
    return asdict(report(session, period, TARGET_S, NOW))


def values(found: Any) -> dict[str, Any]:
    return {name: kpi["value"] for name, kpi in found["kpis"].items()}


def test_every_kpi_of_the_week(session: Session, shop: ShopWeek) -> None:
    found = summary(session, "2026-11-10", "2026-11-16")
    assert values(found) == {
        "conversations": 12,  # J has no customer message; M and N are outside
        "customer_messages": 14,
        "containment_rate": 33.33,  # A G L P
        "escalation_rate": 25.0,  # B I K
        "abandonment_rate": 33.33,  # C D F H
        "bot_reply_p50_s": 1.5,  # 13 replies: 1 1 1 1 1.5 1.5 [1.5] 2 2 2.5 2.5 3.5 4.5
        "bot_reply_p90_s": 3.5,  # rank ceil(0.9 * 13) = 12
        "first_response_p50_s": 40.0,  # 40, 400
        "resolution_p50_s": 100.0,
        "first_response_breach_rate": 66.67,  # I (400 s) and K (never) of 3
        "queue_wait_p50_s": 30.0,  # 30, 200
        "csat_mean": 3.667,  # 5 4 2
        "csat_satisfied_rate": 66.67,
        "csat_bot_mean": 3.5,
        "csat_agent_mean": 4.0,
        "complaint_rate": 8.33,  # I
        "helpful_rate": 50.0,
    }
    assert found["kpis"]["containment_rate"]["outcome"] == "contained"
    series = found["series"]
    assert [(d["date"], d["conversations"]) for d in series["daily"]] == [
        ("2026-11-10", 3),
        ("2026-11-11", 2),
        ("2026-11-12", 2),
        ("2026-11-13", 2),
        ("2026-11-14", 1),
        ("2026-11-15", 1),
        ("2026-11-16", 1),
    ]
    assert series["daily"][0] | {"date": ""} == {
        "date": "",
        "conversations": 3,
        "customer_messages": 3,
        "contained": 2,
        "escalated": 1,
        "abandoned": 0,
        "rated_poor": 0,
        "csat_mean": 4.5,
    }
    assert series["escalation_reasons"] == {
        "requested": 1,
        "frustration": 1,
        "topic": 1,
        "repeated_failure": 0,
        "unanswered": 0,
    }
    assert series["bands"] == {"answer": 3, "clarify": 2, "none": 1}
    assert series["csat_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    heat = {
        (c["weekday"], c["hour"]): c["conversations"]
        for c in series["heatmap"]
        if c["conversations"]
    }
    # 2026-11-10 is a Tuesday (1): P at 00:00, A and B at 09:xx; L is Monday 16th at 23:59.
    assert heat[(1, 0)] == 1 and heat[(1, 9)] == 2 and heat[(0, 23)] == 1
    assert sum(heat.values()) == 12


def test_the_tables_of_the_week(session: Session, shop: ShopWeek) -> None:
    tables = summary(session, "2026-11-10", "2026-11-16")["tables"]
    assert [
        (a["article_id"], a["offered"], a["helpful"], a["not_helpful"])
        for a in tables["top_articles"]
    ] == [
        ("card-b", 2, 0, 0),
        ("gift-card", 2, 0, 0),
        ("shipping", 2, 0, 1),
        ("card-c", 1, 0, 0),
        ("returns-policy", 1, 1, 0),
    ]
    assert [a["article_id"] for a in tables["not_helpful_articles"]] == ["shipping"]
    assert tables["unanswered"] == [
        {"question": "late parcel", "count": 1, "language": "en"},
        {"question": "怎么退货", "count": 1, "language": "zh"},
    ]
    assert tables["agents"] == [
        {"agent_id": shop.bo, "name": "Bo", "handoffs": 1, "resolved": 0}
        | {"first_response_p50_s": 400.0, "csat_mean": None, "csat_count": 0},
        {"agent_id": shop.lin, "name": "Lin", "handoffs": 1, "resolved": 1}
        | {"first_response_p50_s": 40.0, "csat_mean": 4.0, "csat_count": 1},
    ]
    assert [(c["score"], c["comment"], c["resolved_by"]) for c in tables["csat_comments"]] == [
        (2, "=cmd|meh", "bot"),
        (4, "quick and kind", "agent"),
    ]


def test_unanswered_questions_are_the_gap_reports(session: Session, shop: ShopWeek) -> None:
    tables = summary(session, "2026-11-10", "2026-11-16")["tables"]
    gaps = unanswered_questions(session, datetime(2026, 11, 10, tzinfo=UTC))
    in_week = {q.question for q in gaps if q.asked_at < datetime(2026, 11, 17, tzinfo=UTC)}
    assert {row["question"] for row in tables["unanswered"]} == in_week


def test_the_previous_period_has_the_same_length_just_before(
    session: Session, shop: ShopWeek
) -> None:
    found = summary(session, "2026-11-10", "2026-11-16")
    assert found["previous"] == {"since": "2026-11-03", "until": "2026-11-09"}
    previous = {name: kpi["previous"] for name, kpi in found["kpis"].items()}
    assert (previous["conversations"], previous["containment_rate"]) == (1, 100.0)  # N
    assert (previous["csat_mean"], previous["first_response_p50_s"]) == (3.0, None)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"language": "zh"}, {"conversations": 1, "abandonment_rate": 100.0}),
        ({"channel": "email"}, {"conversations": 1, "containment_rate": 100.0}),
        ({"channel": "widget"}, {"conversations": 11, "containment_rate": 27.27}),
    ],
)
def test_filters(
    session: Session, shop: ShopWeek, filters: dict[str, str], expected: dict[str, Any]
) -> None:
    found = values(summary(session, "2026-11-10", "2026-11-16", **filters))
    assert {k: found[k] for k in expected} == expected


def test_the_agent_filter_keeps_the_conversations_an_agent_held(
    session: Session, shop: ShopWeek
) -> None:
    found = values(summary(session, "2026-11-10", "2026-11-16", agent_id=shop.bo))
    assert (found["conversations"], found["complaint_rate"], found["queue_wait_p50_s"]) == (
        1,
        100.0,
        200.0,
    )


def test_one_day_ends_at_its_last_second(session: Session, shop: ShopWeek) -> None:
    assert values(summary(session, "2026-11-16", "2026-11-16"))["conversations"] == 1  # L
    assert values(summary(session, "2026-11-17", "2026-11-17"))["conversations"] == 1  # M


def test_new_york_on_the_day_clocks_go_back(session: Session) -> None:
    # 2026-11-01 in New York: 00:00 EDT (04:00 UTC) to 00:00 EST next day (05:00 UTC), 25 h.
    for stamp in [
        (11, 1, 3, 59, 59),  # 23:59:59 EDT on the 31st: the day before
        (11, 1, 4, 0, 0),  # 00:00 EDT
        (11, 1, 5, 30, 0),  # 01:30 EDT
        (11, 1, 6, 30, 0),  # 01:30 EST, the hour again
        (11, 2, 4, 59, 59),  # 23:59:59 EST
        (11, 2, 5, 0, 0),  # 00:00 on the 2nd: the day after
    ]:
        month, day, hour, minute, second = stamp
        started = datetime(2026, month, day, hour, minute, second, tzinfo=UTC)
        conversation(session, started).customer("hi").bot()
    session.commit()
    found = summary(session, "2026-11-01", "2026-11-01", "America/New_York")
    assert found["kpis"]["conversations"]["value"] == 4
    assert found["kpis"]["conversations"]["previous"] == 1
    assert [d["conversations"] for d in found["series"]["daily"]] == [4]
    heat = {
        (c["weekday"], c["hour"]): c["conversations"]
        for c in found["series"]["heatmap"]
        if c["conversations"]
    }
    assert heat == {(6, 0): 1, (6, 1): 2, (6, 23): 1}  # a Sunday


def test_a_half_hour_zone_puts_conversations_in_quarter_hour_buckets(session: Session) -> None:
    conversation(session, datetime(2026, 11, 10, 18, 29, tzinfo=UTC)).customer("hi")  # 23:59 IST
    conversation(session, datetime(2026, 11, 10, 18, 30, tzinfo=UTC)).customer("hi")  # 00:00
    session.commit()
    found = summary(session, "2026-11-10", "2026-11-11", "Asia/Kolkata")
    assert [d["conversations"] for d in found["series"]["daily"]] == [1, 1]
    heat = {
        (c["weekday"], c["hour"]): c["conversations"]
        for c in found["series"]["heatmap"]
        if c["conversations"]
    }
    assert heat == {(1, 23): 1, (2, 0): 1}


def test_an_empty_period_is_zeros_and_nulls(session: Session, shop: ShopWeek) -> None:
    found = summary(session, "2020-01-01", "2020-01-31")
    kpis = values(found)
    assert (kpis["conversations"], kpis["customer_messages"]) == (0, 0)
    assert {k for k, v in kpis.items() if v is None} == set(kpis) - {
        "conversations",
        "customer_messages",
    }
    assert len(found["series"]["daily"]) == 31
    assert found["tables"]["top_articles"] == [] and found["tables"]["agents"] == []


@pytest.mark.parametrize(
    ("since", "until", "tz", "message"),
    [
        ("2026-11-10", "2026-11-09", "UTC", "until (2026-11-09) is before since (2026-11-10)"),
        ("2025-01-01", "2026-01-02", "UTC", "a report covers at most 366 days"),
        ("2026-11-10", "2026-11-10", "Nowhere/City", "unknown time zone 'Nowhere/City'"),
        ("0001-01-01", "0001-01-02", "UTC", "dates must lie between 1971 and 9998"),
    ],
)
def test_a_period_that_cannot_be_reported(since: str, until: str, tz: str, message: str) -> None:
    with pytest.raises(ReportRangeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReportRange.of(date.fromisoformat(since), date.fromisoformat(until), tz)


def test_the_default_period_is_the_last_30_days_ending_today() -> None:
    period = ReportRange.of(None, None, "Asia/Shanghai", today=date(2026, 11, 30))
    assert (period.since, period.until) == (date(2026, 11, 1), date(2026, 11, 30))
    assert period.previous().since == date(2026, 10, 2)
