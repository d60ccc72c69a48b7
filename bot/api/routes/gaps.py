"""The gap report for editors: unanswered questions grouped by meaning, biggest first."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from bot.analytics.gaps import cluster_questions, unanswered_questions
from bot.api.deps import CurrentEditor, RetrieverDep, SessionDep
from bot.api.schemas.errors import refusals
from bot.api.schemas.gaps import GapReportPublic
from db.base import utcnow
from kb.store import ArticleStore

router = APIRouter(prefix="/gaps", tags=["articles"], responses=refusals(401, 403))


@router.get("", response_model=GapReportPublic)
def gap_report(
    editor: CurrentEditor,
    session: SessionDep,
    retriever: RetrieverDep,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> GapReportPublic:
    topic_of = ArticleStore(session).topic_ids()
    questions = unanswered_questions(session, utcnow() - timedelta(days=days), topic_of)
    return GapReportPublic.of(cluster_questions(questions, retriever.encoder), len(questions))
