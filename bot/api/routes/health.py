"""Liveness and readiness of the service and of what it depends on."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from sqlalchemy import text

from bot.api.deps import SessionDep, StateDep

router = APIRouter(prefix="/health", tags=["health"])


class ComponentHealth(BaseModel):
    status: Literal["ok", "down"]
    detail: str = ""


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: ComponentHealth
    index: ComponentHealth


@router.get("", response_model=HealthPublic)
def health(state: StateDep, session: SessionDep, response: Response) -> HealthPublic:
    try:
        session.execute(text("SELECT 1"))
        database = ComponentHealth(status="ok")
    except Exception as error:  # any database failure makes the service not ready
        database = ComponentHealth(status="down", detail=type(error).__name__)
    retriever = state.retriever
    index = ComponentHealth(
        status="ok",
        detail=f"{len(retriever.article_versions)} articles, {retriever.passage_count} passages, "
        f"encoder {retriever.encoder.name}",
    )
    healthy = database.status == "ok"
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthPublic(status="ok" if healthy else "degraded", database=database, index=index)
