"""The demo store page at ``/`` and the widget's files under ``/widget/``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from bot.web import STATIC_DIR

router = APIRouter(tags=["web"])

# The page runs only the widget's own script and talks only to this service.
DEMO_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@router.get("/", include_in_schema=False)
def demo_store() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "demo.html",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": DEMO_PAGE_POLICY, "Cache-Control": "no-cache"},
    )


@router.get("/agent", include_in_schema=False)
def agent_console() -> FileResponse:
    """The agents' console; it logs in through the API and shows nothing before that."""
    return FileResponse(
        STATIC_DIR / "agent.html",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": DEMO_PAGE_POLICY, "Cache-Control": "no-cache"},
    )


@router.get("/editor", include_in_schema=False)
def editor_console() -> FileResponse:
    """The knowledge editors' console; it logs in through the API."""
    return FileResponse(
        STATIC_DIR / "editor.html",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": DEMO_PAGE_POLICY, "Cache-Control": "no-cache"},
    )
