"""Business hours: when the team is at work, in the business's time zone, so the desk can tell
a customer who asks for a person outside them when the team is back.

Configured as JSON (``KEFU_BUSINESS_HOURS``)::

    {"timezone": "Asia/Shanghai",
     "weekly": {"mon": [["09:00", "18:00"]], "sat": [["10:00", "14:00"]]},
     "holidays": ["2026-10-01"]}

A weekday left out is closed; an interval whose end is not after its start runs past midnight
("22:00"–"02:00" is open until 02:00 the next day); "24:00" is the end of the day. A holiday
closes the intervals that *start* on it. Times are wall-clock times in the zone: a day with a
DST change keeps "09:00"–"18:00" meaning nine to six on the clock, and an opening that falls
in a spring-forward gap opens as if the clock had not moved (02:30 → 03:30). Unset (``None``),
the team is always open and nothing is ever promised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead next_opening looks: a year of holidays and closed weekdays at most.
HORIZON_DAYS = 400


class BusinessHoursError(ValueError):
    """The configuration does not describe business hours; the message says what is wrong."""


@dataclass(frozen=True)
class OpeningInterval:
    """One opening on a weekday, in minutes after midnight; ``end`` may pass 24 * 60."""

    start: int
    end: int


def _minutes(text: str, where: str) -> int:
    hours, sep, minutes = str(text).partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise BusinessHoursError(f"{where}: {text!r} is not a time like 09:00")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60:
        raise BusinessHoursError(f"{where}: {text!r} is not a time of day")
    return value


class BusinessHours:
    """Opening intervals per weekday in an IANA time zone, minus holidays."""

    def __init__(
        self,
        timezone: str,
        weekly: Mapping[str, Sequence[OpeningInterval]],
        holidays: frozenset[date] = frozenset(),
    ) -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BusinessHoursError(f"unknown time zone {timezone!r}") from None
        self.timezone = timezone
        self.weekly = {day: tuple(weekly.get(day, ())) for day in WEEKDAYS}
        self.holidays = holidays

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | str) -> BusinessHours:
        """From the settings' JSON (a string or the parsed object); BusinessHoursError says
        which part is wrong."""
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except json.JSONDecodeError as error:
                raise BusinessHoursError(f"not JSON: {error}") from None
        if not isinstance(config, Mapping):
            raise BusinessHoursError("expected an object with timezone, weekly and holidays")
        unknown = set(config) - {"timezone", "weekly", "holidays"}
        if unknown:
            raise BusinessHoursError(f"unknown keys {sorted(unknown)}")
        weekly_config = config.get("weekly")
        if not isinstance(weekly_config, Mapping):
            raise BusinessHoursError('"weekly" must map weekdays (mon … sun) to intervals')
        weekly: dict[str, list[OpeningInterval]] = {}
        for day, intervals in weekly_config.items():
            if day not in WEEKDAYS:
                raise BusinessHoursError(f"weekly: {day!r} is not one of {', '.join(WEEKDAYS)}")
            if not isinstance(intervals, list):
                raise BusinessHoursError(f"weekly.{day}: expected a list of [start, end] pairs")
            weekly[day] = []
            for pair in intervals:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise BusinessHoursError(f"weekly.{day}: {pair!r} is not [start, end]")
                start, end = (_minutes(value, f"weekly.{day}") for value in pair)
                if end <= start:
                    end += 24 * 60  # past midnight
                weekly[day].append(OpeningInterval(start, end))
        holidays = set()
        for value in config.get("holidays") or []:
            try:
                holidays.add(date.fromisoformat(str(value)))
            except ValueError:
                message = f"holidays: {value!r} is not a date like 2026-10-01"
                raise BusinessHoursError(message) from None
        return cls(str(config.get("timezone") or "UTC"), weekly, frozenset(holidays))

    def _instant(self, day: date, minutes: int) -> datetime:
        """The UTC instant a wall-clock time of a day names. A repeated time (fall back) is its
        first occurrence; a time in a spring-forward gap reads as if the clock had not moved
        yet (02:30 on the day New York skips 02:00–03:00 is 03:30 EDT), as PEP 495 folds it."""
        extra, minutes = divmod(minutes, 24 * 60)
        naive = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60))
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    def _openings(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's openings as UTC instants (none on a holiday). UTC, because aware times
        sharing one zone compare by wall clock, which is wrong across a fall-back overlap."""
        if day in self.holidays:
            return []
        return [
            (self._instant(day, interval.start), self._instant(day, interval.end))
            for interval in self.weekly[WEEKDAYS[day.weekday()]]
        ]

    def is_open(self, at: datetime) -> bool:
        """Whether the team is at work at an aware instant."""
        at = at.astimezone(UTC)
        local = at.astimezone(self.zone)
        # Yesterday's openings may run past midnight into today.
        for day in (local.date() - timedelta(days=1), local.date()):
            if any(start <= at < end for start, end in self._openings(day)):
                return True
        return False

    def next_opening(self, at: datetime) -> datetime | None:
        """When the team is next at work, in the business's zone: ``at`` itself when open now,
        None when no weekday has hours."""
        if self.is_open(at):
            return at.astimezone(self.zone)
        at = at.astimezone(UTC)
        first = at.astimezone(self.zone).date()
        for offset in range(HORIZON_DAYS):
            starts = [start for start, _ in self._openings(first + timedelta(days=offset))]
            later = [start for start in starts if start > at]
            if later:
                return min(later).astimezone(self.zone)
        return None


__all__ = ["WEEKDAYS", "BusinessHours", "BusinessHoursError", "OpeningInterval"]
