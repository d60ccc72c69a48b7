"""Liveness and readiness of the service and of what it depends on."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import APIRouter, Response, status
from sqlalchemy import text

from bot.api.deps import SessionDep, StateDep
from bot.api.schemas.health import ComponentHealth, HealthPublic

router = APIRouter(prefix="/health", tags=["health"])


async def probe(
    client: httpx.AsyncClient, url: str, params: Mapping[str, str] | None = None
) -> ComponentHealth:
    """A dependency is up when its own health URL answers 200 within the timeout. ``params``
    (a token) go with the request but never into the detail, which anyone may read."""
    try:
        answer = await client.get(url, params=params)
    except httpx.HTTPError as error:
        return ComponentHealth(status="down", detail=f"{url}: {type(error).__name__}")
    if answer.status_code != 200:
        return ComponentHealth(status="down", detail=f"{url}: HTTP {answer.status_code}")
    return ComponentHealth(status="ok", detail=url)


@router.get(
    "",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database is down"}},
)
async def health(state: StateDep, session: SessionDep, response: Response) -> HealthPublic:
    """503 when the database is down; Rasa or the action server down only degrades."""
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
    settings = state.settings
    async with httpx.AsyncClient(timeout=settings.dependency_timeout_s) as client:
        # Rasa's /status needs its auth token: a 401 means Rasa and the service disagree on it.
        rasa = await probe(client, f"{settings.rasa_url}/status", {"token": settings.rasa_token})
        actions = await probe(client, f"{settings.action_server_url}/health")
    if database.status != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    everything_up = all(c.status == "ok" for c in (database, rasa, actions))
    return HealthPublic(
        status="ok" if everything_up else "degraded",
        database=database,
        index=index,
        rasa=rasa,
        action_server=actions,
    )
