"""A report's tables as rows (the CSV export, ``kefu report``), and CSV that a spreadsheet
opens as text: a cell that starts like a formula is prefixed with ``'`` (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from typing import Any, Literal, get_args

from bot.analytics.kpis import Report, kpi_rows

TableName = Literal[
    "kpis",
    "daily",
    "heatmap",
    "top_articles",
    "not_helpful_articles",
    "unanswered",
    "agents",
    "csat_comments",
    "channels",
]
TABLES: tuple[str, ...] = get_args(TableName)
# What a spreadsheet may read as a formula (=, +, -, @) or a field break (tab, carriage return).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADERS = {
    "kpis": ["kpi", "value", "previous", "unit"],
    "daily": [
        "date",
        "conversations",
        "customer_messages",
        "contained",
        "escalated",
        "abandoned",
        "rated_poor",
        "csat_mean",
    ],
    "heatmap": ["weekday", "hour", "conversations"],
    "top_articles": ["article_id", "title", "offered", "helpful", "not_helpful"],
    "not_helpful_articles": ["article_id", "title", "offered", "helpful", "not_helpful"],
    "unanswered": ["question", "count", "language"],
    "agents": [
        "agent_id",
        "name",
        "handoffs",
        "resolved",
        "first_response_p50_s",
        "csat_mean",
        "csat_count",
    ],
    "csat_comments": ["conversation_id", "score", "comment", "resolved_by", "created_at"],
    "channels": [
        "channel",
        "conversations",
        "contained",
        "escalated",
        "containment_rate",
        "escalation_rate",
        "csat_mean",
        "csat_count",
    ],
}


def table_rows(report: Report, table: str) -> Sequence[dict[str, Any]]:
    if table == "kpis":
        return kpi_rows(report)
    if table in ("daily", "heatmap"):
        rows: list[Any] = report.series[table]
    else:
        rows = report.tables[table]
    return [asdict(row) if is_dataclass(row) else row for row in rows]  # type: ignore[arg-type]


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def to_csv(report: Report, table: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = HEADERS[table]
    writer.writerow(header)
    for row in table_rows(report, table):
        writer.writerow([safe_cell(row.get(column)) for column in header])
    return out.getvalue()
