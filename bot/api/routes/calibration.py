"""The calibration of the confidence bands, for editors: measured on the knowledge base's own
alternative questions and recomputed in the background after every change (see
``retrieval.calibration``). Under ``/retrieval`` rather than ``/articles``, where the path
would shadow an article whose id is "calibration"."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.deps import CurrentEditor, RetrieverDep, SessionDep, StateDep
from bot.api.schemas.errors import refusals
from bot.api.schemas.retrieval import CalibrationPublic
from kb.store import ArticleStore

router = APIRouter(prefix="/retrieval", tags=["articles"], responses=refusals(401, 403))


@router.get("/calibration", response_model=CalibrationPublic)
def read_calibration(
    editor: CurrentEditor, session: SessionDep, state: StateDep, retriever: RetrieverDep
) -> CalibrationPublic:
    """The calibration in force; ``pending`` until the first one has finished."""
    calibrator = state.calibrator
    calibration = calibrator.current
    if calibration is None:
        return CalibrationPublic.pending(retriever.encoder.name, calibrator.fallback)
    return CalibrationPublic.of(calibration, ArticleStore(session).published())
