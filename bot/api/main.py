"""The FastAPI application: routers under /api/v1 and the process-wide state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from bot.api.routes import article_pages, conversations, health, internal_kb
from bot.api.state import ServiceState
from bot.settings import Settings, get_settings

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(health.router)
api_router.include_router(internal_kb.router)
api_router.include_router(conversations.router)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database and index are opened once, at start-up."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.kefu = ServiceState.start(settings)
        try:
            yield
        finally:
            app.state.kefu.stop()

    app = FastAPI(title="Kefu", version="0.1.0", lifespan=lifespan)
    app.include_router(api_router)
    app.include_router(article_pages.router)
    return app
