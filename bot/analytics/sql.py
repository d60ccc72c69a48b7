"""The few SQL expressions that differ between SQLite and PostgreSQL, for the reports: seconds
between two timestamps, a timestamp's UTC bucket, an exact percentile."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Select, cast, func, select
from sqlalchemy.orm import Session


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in seconds (columns or expressions of timestamps)."""
    if dialect == "sqlite":
        return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)
    return cast(func.extract("epoch", end - start), Float)


def utc_bucket(dialect: str, column: Any, minutes: int) -> ColumnElement[str]:
    """``YYYY-MM-DD HH`` (hours) or ``YYYY-MM-DD HH:MM`` (quarter hours) of a UTC timestamp."""
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff', in UTC
        hour = func.substr(column, 1, 13)
        if minutes == 60:
            return hour
        quarter = cast(func.substr(column, 15, 2), Integer) // 15 * 15
        return hour + ":" + func.printf("%02d", quarter)
    utc = func.timezone("UTC", column)
    if minutes == 60:
        return func.to_char(utc, "YYYY-MM-DD HH24")
    return func.to_char(func.date_bin("15 minutes", utc, "2000-01-01"), "YYYY-MM-DD HH24:MI")


def percentile_rank(count: int, percent: float) -> int:
    """The nearest-rank percentile's offset (0-based) among ``count`` sorted values."""
    return max(math.ceil(percent / 100 * count) - 1, 0)


def percentiles(
    session: Session, values: Select[Any], percents: tuple[float, ...]
) -> dict[float, float | None]:
    """Exact nearest-rank percentiles of a one-column query: one count, then one sorted
    ``LIMIT 1 OFFSET k`` per percentile (no window functions, which SQLite runs slowly)."""
    inner = values.subquery()
    column = inner.c[0]
    count = session.scalar(select(func.count()).select_from(inner).where(column.is_not(None)))
    found: dict[float, float | None] = {}
    for percent in percents:
        if not count:
            found[percent] = None
            continue
        value = session.scalar(
            select(column)
            .where(column.is_not(None))
            .order_by(column)
            .limit(1)
            .offset(percentile_rank(count, percent))
        )
        found[percent] = None if value is None else round(float(value), 3)
    return found
