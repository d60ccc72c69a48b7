from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.handoff.priority import priority

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_an_upset_customer_outranks_a_calm_one_who_asked_at_the_same_time() -> None:
    calm = priority("requested", 0.2, 0, NOW, NOW)
    upset = priority("requested", -0.8, 0, NOW, NOW)
    assert (calm.total, upset.total) == (10, 10 + 24)


def test_waiting_adds_a_point_a_minute_up_to_an_hour() -> None:
    assert priority("requested", 0.0, 0, NOW - timedelta(minutes=7), NOW).waiting == 7
    assert priority("requested", 0.0, 0, NOW - timedelta(hours=5), NOW).waiting == 60


def test_reasons_and_topics_weigh_in() -> None:
    assert priority("frustration", 0.0, 0, NOW, NOW).total == 30
    assert priority("topic", 0.0, 20, NOW, NOW).total == 40
    assert priority("repeated_failure", 0.0, 0, NOW, NOW).total == 20
