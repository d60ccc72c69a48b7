"""The FastAPI application: routers under /api/v1 and the process-wide state."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api.csrf import CsrfProtection
from bot.api.limits import BodyLimit
from bot.api.openapi import documented
from bot.api.routes import (
    agents,
    article_pages,
    articles,
    auth,
    calibration,
    canned_replies,
    conversations,
    gaps,
    handoffs,
    health,
    internal_conversations,
    internal_handoffs,
    internal_kb,
    metrics,
    reports,
    texts,
    web,
)
from bot.api.state import ServiceState
from bot.api.telemetry import RequestTelemetry, remember_socket_route
from bot.metrics import ServiceMetrics
from bot.settings import Settings, get_settings
from bot.web import STATIC_DIR
from db.engine import RETRY_AFTER_S, UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(health.router)
api_router.include_router(internal_kb.router)
api_router.include_router(conversations.router)
api_router.include_router(internal_conversations.router)
api_router.include_router(internal_handoffs.router)
api_router.include_router(auth.router)
api_router.include_router(handoffs.router)
api_router.include_router(handoffs.agent_router)
api_router.include_router(canned_replies.router)
api_router.include_router(canned_replies.handoff_router)
api_router.include_router(agents.router)
api_router.include_router(articles.router)
api_router.include_router(gaps.router)
api_router.include_router(calibration.router)
api_router.include_router(reports.router)
api_router.include_router(texts.router)

log = logging.getLogger(__name__)


def _printable(value: Any) -> Any:
    """A validation error that quotes invalid text (a lone surrogate) must still be sendable:
    such characters are written as escapes instead of failing the response with a 500."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_printable(item) for item in value]
    if isinstance(value, dict):
        return {key: _printable(item) for key, item in value.items()}
    return value


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    detail = _printable(jsonable_encoder(error.errors()))
    return JSONResponse(status_code=422, content={"detail": detail})


async def _redis_unavailable(_request: Request, error: Exception) -> JSONResponse:
    """What needs the shared state while Redis is lost (an agent's presence): retry soon.
    Customers' messages never come here: they are stored, and their frames only logged."""
    log.warning("503, Redis is unavailable: %s", error)
    return JSONResponse(
        status_code=503,
        content={"detail": "shared state (Redis) is unavailable; try again shortly"},
        headers={"Retry-After": "5"},
    )


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    """The database is down or restarting: 503 with Retry-After, nothing half-done (the unit
    of work rolled back), and the request works again once it is back (pool_pre_ping)."""
    log.warning("database unavailable: %s", type(error).__name__)
    return JSONResponse(
        status_code=503,
        content={"detail": "the database is unavailable; try again shortly"},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every HTTP response: a browser never runs a file
    as a script or a style unless it is served as one (OWASP ASVS 14.4.4)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, with_header)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database and index are opened once, at start-up."""
    settings = settings or get_settings()
    service_metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.kefu = ServiceState.start(settings, service_metrics)
        app.state.kefu.start_sharing()
        app.state.kefu.start_redelivery()
        app.state.kefu.start_index_sync()
        try:
            yield
        finally:
            await app.state.kefu.stop()

    # No /docs or /redoc: FastAPI serves their pages from a CDN, and the service loads nothing
    # from outside; the OpenAPI document stays at /openapi.json (docs/api.md).
    app = FastAPI(
        title="Kefu",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(remember_socket_route)],  # bot/api/telemetry.py
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(redis.RedisError, _redis_unavailable)
    for unavailable in UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.include_router(api_router)
    app.include_router(article_pages.router)
    app.include_router(web.router)
    app.include_router(metrics.router)
    app.mount("/widget", StaticFiles(directory=STATIC_DIR), name="widget")
    # The document also lists what the middleware below refuses (bot/api/openapi.py).
    app.openapi = documented(app.openapi, settings)  # type: ignore[method-assign]
    # Body sizes (bot/api/limits.py): inside every middleware, none of which reads a body, so a
    # 413 carries the CORS headers the widget needs to read it; before any route reads one.
    app.add_middleware(BodyLimit, settings=settings)
    # Cross-site requests with the staff cookie (bot/api/csrf.py); added first, so inside CORS.
    app.add_middleware(CsrfProtection, settings=settings)
    # The widget runs on the company's pages, another origin; it authenticates with bearer
    # tokens, never cookies, so allowing those origins exposes no one's session.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.widget_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    app.add_middleware(NoSniff)
    # Outermost: request ids, latency and open sockets (bot/api/telemetry.py) cover every answer.
    app.add_middleware(RequestTelemetry, metrics=service_metrics)
    return app
