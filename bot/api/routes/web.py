"""The demo store page at ``/``, the consoles at ``/agent``, ``/editor``, ``/reports`` and
``/conversations``; the widget's and consoles' files are served under ``/widget/`` (a static
mount, see ``bot.api.main``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from bot.web import STATIC_DIR

router = APIRouter(tags=["web"])

# The page runs only the widget's own script and talks only to this service.
DEMO_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _page(name: str) -> FileResponse:
    return FileResponse(
        STATIC_DIR / name,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": DEMO_PAGE_POLICY, "Cache-Control": "no-cache"},
    )


# The pages are files sent as they are; response_class tells the OpenAPI document so.


@router.get("/", response_class=HTMLResponse)
def demo_store() -> FileResponse:
    """A demo shop page with the chat widget on it."""
    return _page("demo.html")


@router.get("/agent", response_class=HTMLResponse)
def agent_console() -> FileResponse:
    """The agents' console; it logs in through the API and shows nothing before that."""
    return _page("agent.html")


@router.get("/editor", response_class=HTMLResponse)
def editor_console() -> FileResponse:
    """The knowledge editors' console; it logs in through the API."""
    return _page("editor.html")


# One page, two views (reports.js picks the view by path): a number on the reports leads to the
# conversations behind it without losing the period and filters.
@router.get("/reports", response_class=HTMLResponse)
def reports_console() -> FileResponse:
    """The supervisors' reports: KPIs, charts and tables; it logs in through the API."""
    return _page("reports.html")


@router.get("/conversations", response_class=HTMLResponse)
def conversations_console() -> FileResponse:
    """Every conversation for supervisors: search, filter, and one read with its trail."""
    return _page("reports.html")
