"""Business hours: open or closed at an instant and the next opening, in the business's zone,
across midnight, weekends, holidays and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.handoff.hours import BusinessHours, BusinessHoursError

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = {
    "timezone": "Asia/Shanghai",
    "weekly": {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-10-01", "2026-10-02"],
}


def hours(**changes: Any) -> BusinessHours:
    return BusinessHours.from_config(OFFICE | changes)


def test_open_inside_the_interval_in_the_business_zone_whatever_the_callers_zone() -> None:
    office = hours()
    # Tuesday 2026-12-08 09:30 in Shanghai is 01:30 UTC.
    assert office.is_open(datetime(2026, 12, 8, 1, 30, tzinfo=UTC))
    assert office.is_open(datetime(2026, 12, 8, 9, 30, tzinfo=SHANGHAI))
    # 08:59 and 18:00 (the end is excluded) are closed.
    assert not office.is_open(datetime(2026, 12, 8, 8, 59, tzinfo=SHANGHAI))
    assert not office.is_open(datetime(2026, 12, 8, 18, 0, tzinfo=SHANGHAI))
    # Monday 20:00 in New York is Tuesday 09:00 in Shanghai: open.
    assert office.is_open(datetime(2026, 12, 7, 20, 0, tzinfo=NEW_YORK))


def test_next_opening_is_the_same_day_later_or_now() -> None:
    office = hours()
    early = datetime(2026, 12, 8, 7, 0, tzinfo=SHANGHAI)
    assert office.next_opening(early) == datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI)
    now = datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI)
    assert office.next_opening(now) == now


def test_next_opening_across_a_weekend_is_monday_morning() -> None:
    friday_evening = datetime(2026, 12, 11, 18, 30, tzinfo=SHANGHAI)
    opening = hours().next_opening(friday_evening)
    assert opening == datetime(2026, 12, 14, 9, 0, tzinfo=SHANGHAI)
    assert opening is not None and opening.weekday() == 0
    assert opening.utcoffset() == SHANGHAI.utcoffset(opening)  # in the business's zone


def test_a_holiday_is_closed_and_the_next_opening_skips_it() -> None:
    office = hours()
    assert not office.is_open(datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI))  # a Thursday
    # Wednesday evening: Thursday and Friday are holidays, then the weekend.
    opening = office.next_opening(datetime(2026, 9, 30, 19, 0, tzinfo=SHANGHAI))
    assert opening == datetime(2026, 10, 5, 9, 0, tzinfo=SHANGHAI)


def test_an_interval_across_midnight_belongs_to_the_day_it_starts() -> None:
    night = hours(weekly={"fri": [["22:00", "02:00"]]}, holidays=["2026-12-12"])
    assert night.is_open(datetime(2026, 12, 11, 23, 0, tzinfo=SHANGHAI))  # Friday night
    assert night.is_open(datetime(2026, 12, 12, 1, 59, tzinfo=SHANGHAI))  # Saturday, a holiday
    assert not night.is_open(datetime(2026, 12, 12, 2, 0, tzinfo=SHANGHAI))
    assert not night.is_open(datetime(2026, 12, 11, 1, 0, tzinfo=SHANGHAI))  # Thursday's night
    # A holiday on the day the interval starts closes it.
    closed = hours(weekly={"fri": [["22:00", "02:00"]]}, holidays=["2026-12-11"])
    assert not closed.is_open(datetime(2026, 12, 11, 23, 0, tzinfo=SHANGHAI))
    assert closed.next_opening(datetime(2026, 12, 11, 23, 0, tzinfo=SHANGHAI)) == datetime(
        2026, 12, 18, 22, 0, tzinfo=SHANGHAI
    )


def test_24_00_ends_the_day_and_a_weekday_without_hours_is_closed() -> None:
    all_day = hours(weekly={"sat": [["00:00", "24:00"]]}, holidays=[])
    assert all_day.is_open(datetime(2026, 12, 12, 23, 59, tzinfo=SHANGHAI))
    assert not all_day.is_open(datetime(2026, 12, 13, 0, 0, tzinfo=SHANGHAI))
    assert not all_day.is_open(datetime(2026, 12, 14, 12, 0, tzinfo=SHANGHAI))


NEW_YORK_OFFICE = {
    "timezone": "America/New_York",
    "weekly": {"sun": [["01:00", "04:00"]], "mon": [["09:00", "17:00"]]},
}


def test_spring_forward_keeps_the_wall_clock_hours_and_a_gap_time_moves_on() -> None:
    office = BusinessHours.from_config(NEW_YORK_OFFICE)
    # 2026-03-08: clocks go from 02:00 EST to 03:00 EDT. 01:00–04:00 lasts two real hours.
    assert office.is_open(datetime(2026, 3, 8, 6, 30, tzinfo=UTC))  # 01:30 EST
    assert office.is_open(datetime(2026, 3, 8, 7, 30, tzinfo=UTC))  # 03:30 EDT
    assert not office.is_open(datetime(2026, 3, 8, 8, 0, tzinfo=UTC))  # 04:00 EDT
    # Monday after: 09:00 EDT is 13:00 UTC (it was 14:00 UTC a week before).
    assert office.next_opening(datetime(2026, 3, 9, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 9, 13, 0, tzinfo=UTC
    )
    assert office.next_opening(datetime(2026, 3, 2, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 2, 14, 0, tzinfo=UTC
    )
    # An opening at 02:30, a time that day does not have, opens at 03:30 EDT.
    gap = BusinessHours.from_config(
        {"timezone": "America/New_York", "weekly": {"sun": [["02:30", "05:00"]]}}
    )
    opening = gap.next_opening(datetime(2026, 3, 8, 5, 0, tzinfo=UTC))
    assert opening == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert opening is not None and (opening.hour, opening.minute) == (3, 30)  # on its clock


def test_fall_back_keeps_the_wall_clock_hours_through_the_repeated_hour() -> None:
    office = BusinessHours.from_config(NEW_YORK_OFFICE)
    # 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST. 01:00–04:00 lasts four hours:
    # it opens at the first 01:00 (05:00 UTC) and closes at 04:00 EST (09:00 UTC).
    assert not office.is_open(datetime(2026, 11, 1, 4, 59, tzinfo=UTC))
    assert office.is_open(datetime(2026, 11, 1, 5, 0, tzinfo=UTC))  # 01:00 EDT
    assert office.is_open(datetime(2026, 11, 1, 6, 30, tzinfo=UTC))  # 01:30 EST, the second time
    assert office.is_open(datetime(2026, 11, 1, 8, 59, tzinfo=UTC))  # 03:59 EST
    assert not office.is_open(datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    # The Monday after: 09:00 EST is 14:00 UTC.
    assert office.next_opening(datetime(2026, 11, 2, 13, 0, tzinfo=UTC)) == datetime(
        2026, 11, 2, 14, 0, tzinfo=UTC
    )


def test_no_hours_at_all_means_no_opening_to_promise() -> None:
    never = BusinessHours.from_config({"timezone": "UTC", "weekly": {}})
    assert not never.is_open(datetime(2026, 12, 8, tzinfo=UTC))
    assert never.next_opening(datetime(2026, 12, 8, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ("{not json", "not JSON"),
        ({"timezone": "Mars/Olympus", "weekly": {}}, "unknown time zone 'Mars/Olympus'"),
        ({"weekly": {"monday": []}}, "'monday' is not one of mon"),
        ({"weekly": {"mon": [["9am", "18:00"]]}}, "'9am' is not a time like 09:00"),
        ({"weekly": {"mon": [["09:00", "25:00"]]}}, "'25:00' is not a time of day"),
        ({"weekly": {"mon": [["09:00"]]}}, "is not [start, end]"),
        ({"weekly": {}, "holidays": ["1 Oct"]}, "'1 Oct' is not a date like 2026-10-01"),
        ({"weekly": {}, "hours": {}}, "unknown keys ['hours']"),
        ({"timezone": "UTC"}, '"weekly" must map weekdays'),
    ],
)
def test_a_wrong_configuration_says_what_is_wrong(config: Any, reason: str) -> None:
    with pytest.raises(BusinessHoursError) as error:
        BusinessHours.from_config(config)
    assert reason in str(error.value)
