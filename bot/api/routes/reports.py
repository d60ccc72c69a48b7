"""The reports for supervisors: KPIs over a period with the previous one, their series and
tables, CSV export, and every conversation (a searchable list, and one read whole)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from bot.analytics.conversation_log import (
    ConversationQuery,
    CursorError,
    conversation_detail,
    conversation_page,
)
from bot.analytics.kpis import report
from bot.analytics.report_range import ReportRange, ReportRangeError
from bot.analytics.report_tables import TableName, to_csv
from bot.api.deps import CurrentSupervisor, SessionDep, StateDep
from bot.api.schemas.errors import refusals
from bot.api.schemas.reports import (
    AgentsPublic,
    ConversationDetailPublic,
    ConversationsPublic,
    Outcome,
    ReportPublic,
)
from bot.auth.store import UserStore
from db.base import MAX_ROW_ID, utcnow

# 422 on the routes that take parameters (the period and filters); the agents' list takes none.
router = APIRouter(prefix="/reports", tags=["reports"], responses=refusals(401, 403))


def report_period(
    state: StateDep,
    since: Annotated[date | None, Query(description="First day, in tz (default: 30 days)")] = None,
    until: Annotated[date | None, Query(description="Last day, included (default: today)")] = None,
    tz: Annotated[str | None, Query(max_length=64, description="IANA time zone")] = None,
    language: Literal["en", "zh"] | None = None,
    channel: Literal["widget", "email"] | None = None,
    agent_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> ReportRange:
    """The common parameters of every report route, checked (a sentence 422 otherwise)."""
    try:
        return ReportRange.of(
            since,
            until,
            tz or state.settings.report_timezone,
            language=language,
            channel=channel,
            agent_id=agent_id,
        )
    except ReportRangeError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error


PeriodDep = Annotated[ReportRange, Depends(report_period)]


@router.get("/summary", response_model=ReportPublic, responses=refusals(422))
def read_summary(
    supervisor: CurrentSupervisor, period: PeriodDep, session: SessionDep, state: StateDep
) -> ReportPublic:
    """Every KPI against the previous period of the same length, the series and the tables."""
    found = report(session, period, state.settings.first_response_target_s, utcnow())
    return ReportPublic.of(found)


@router.get(
    "/export.csv",
    response_class=Response,
    responses={
        **refusals(422),
        200: {
            "description": "One table of the summary, a header row first",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
)
def export_table(
    supervisor: CurrentSupervisor,
    period: PeriodDep,
    session: SessionDep,
    state: StateDep,
    table: TableName,
) -> Response:
    found = report(session, period, state.settings.first_response_target_s, utcnow())
    name = f"kefu-{table}-{period.since}-{period.until}.csv"
    return Response(
        to_csv(found, table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/conversations", response_model=ConversationsPublic, responses=refusals(422))
def list_conversations(
    supervisor: CurrentSupervisor,
    period: PeriodDep,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="Text in any message")] = None,
    outcome: Outcome | None = None,
    rating: Annotated[int | None, Query(ge=1, le=5)] = None,
    article_id: Annotated[str | None, Query(max_length=128)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ConversationsPublic:
    """Newest first; ``next_cursor`` gives the next page."""
    query = ConversationQuery(period, q or None, outcome, rating, article_id)
    try:
        items, next_cursor = conversation_page(session, query, cursor, limit)
    except CursorError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    return ConversationsPublic.model_validate({"items": items, "next_cursor": next_cursor})


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetailPublic,
    responses=refusals(404, 422),
)
def read_conversation(
    supervisor: CurrentSupervisor,
    session: SessionDep,
    conversation_id: Annotated[str, Path(max_length=36)],
) -> ConversationDetailPublic:
    """One conversation read-only: transcript and the bot's trail."""
    found = conversation_detail(session, conversation_id)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"conversation {conversation_id!r} not found"
        )
    return ConversationDetailPublic.model_validate(found)


@router.get("/agents", response_model=AgentsPublic)
def list_agents(supervisor: CurrentSupervisor, session: SessionDep) -> AgentsPublic:
    """Who may hold a handoff (agents and admins), by name: the agent filter's choices."""
    found = UserStore(session).with_role("agent", "admin")
    return AgentsPublic.model_validate({"items": [{"id": u.id, "name": u.name} for u in found]})
