"""The gap report for editors: unanswered questions grouped by meaning, biggest first."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from bot.analytics.gaps import cluster_questions, unanswered_questions
from bot.api.deps import CurrentEditor, RetrieverDep, SessionDep
from db.base import utcnow

router = APIRouter(prefix="/gaps", tags=["articles"])


@router.get("")
def gap_report(
    editor: CurrentEditor,
    session: SessionDep,
    retriever: RetrieverDep,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> dict[str, Any]:
    questions = unanswered_questions(session, since=utcnow() - timedelta(days=days))
    clusters = cluster_questions(questions, retriever.encoder)
    return {
        "clusters": [cluster.public(index + 1) for index, cluster in enumerate(clusters)],
        "total": len(questions),
    }
