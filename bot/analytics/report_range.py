"""A report's period and filters: local dates in the manager's time zone, turned into UTC
bounds for the queries and back into local days and hours for the series."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DAYS = 30
MAX_DAYS = 366
# A period and the one before it stay inside what datetime can hold.
MIN_YEAR, MAX_YEAR = 1971, 9998
LANGUAGES = ("en", "zh")
CHANNELS = ("widget", "email")


class ReportRangeError(ValueError):
    """The period or a filter cannot be reported on (unknown zone, until before since…)."""


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ReportRangeError(f"unknown time zone {name!r}") from error


@dataclass(frozen=True)
class ReportRange:
    """Local dates ``since``…``until``, both included, in ``tz``; optional filters."""

    since: date
    until: date
    tz: ZoneInfo
    language: str | None = None
    channel: str | None = None
    agent_id: int | None = None

    @classmethod
    def of(
        cls,
        since: date | None,
        until: date | None,
        tz: str,
        today: date | None = None,
        language: str | None = None,
        channel: str | None = None,
        agent_id: int | None = None,
    ) -> ReportRange:
        """Checked: by default the last 30 days ending today (in ``tz``)."""
        zone = time_zone(tz)
        for day in (since, until):
            if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
                raise ReportRangeError(f"dates must lie between {MIN_YEAR} and {MAX_YEAR}")
        today = today or datetime.now(zone).date()
        until = until or (today if since is None else since + timedelta(days=DEFAULT_DAYS - 1))
        since = since or until - timedelta(days=DEFAULT_DAYS - 1)
        if until < since:
            raise ReportRangeError(f"until ({until}) is before since ({since})")
        if (until - since).days + 1 > MAX_DAYS:
            raise ReportRangeError(f"a report covers at most {MAX_DAYS} days")
        if language is not None and language not in LANGUAGES:
            raise ReportRangeError(f"language must be one of {', '.join(LANGUAGES)}")
        if channel is not None and channel not in CHANNELS:
            raise ReportRangeError(f"channel must be one of {', '.join(CHANNELS)}")
        return cls(since, until, zone, language, channel, agent_id)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    @property
    def tz_name(self) -> str:
        return self.tz.key

    def previous(self) -> ReportRange:
        """The period of the same length just before, with the same filters."""
        return replace(
            self,
            since=self.since - timedelta(days=self.days),
            until=self.since - timedelta(days=1),
        )

    def start_utc(self) -> datetime:
        return local_midnight(self.since, self.tz)

    def end_utc(self) -> datetime:
        """Exclusive: the local midnight after ``until``."""
        return local_midnight(self.until + timedelta(days=1), self.tz)

    def dates(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range(self.days)]

    def bucket_minutes(self) -> int:
        """UTC buckets the queries group by: hours, or quarter hours in a zone whose offset
        is not whole hours (India +5:30, Nepal +5:45) at some point of the period."""
        for day in [*self.dates(), self.until + timedelta(days=1)]:
            offset = local_midnight(day, self.tz).astimezone(self.tz).utcoffset()
            if offset is not None and offset.total_seconds() % 3600:
                return 15
        return 60


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC moment a local day starts. Where DST skips midnight, 00:00 read with the offset
    before the change (PEP 495, fold 0) is the moment of the change: the day's first moment."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
