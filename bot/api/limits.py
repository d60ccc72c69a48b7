"""Request bodies are limited before they are read (OWASP ASVS 13.1.3): a request whose
``Content-Length`` is over its route's limit is refused at once with 413, before any route,
authentication included, reads a byte of it; a body without ``Content-Length`` (chunked) is
counted as it arrives and refused the moment it goes over.

The limits by route class (bot/settings.py):

- the editors' import, ``max_import_body_bytes`` (16 MiB): one file may hold 5,000,000
  characters (``MAX_IMPORT_BYTES``), 15 MB of Chinese in UTF-8;
- the editors' article routes and the actions' internal API, ``max_article_body_bytes``
  (1 MiB): an article's body may be 20,000 characters, a handoff carries 50 messages of 2,000;
- everything else, ``max_body_bytes`` (64 KiB): customer messages (2,000 characters), logins,
  handoff actions.

WebSocket messages are not request bodies: uvicorn's ``ws_max_size`` bounds them.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.settings import Settings

IMPORT_PATH = "/api/v1/articles/import"
LARGE_PREFIXES = ("/api/v1/articles", "/api/v1/internal")


def body_limit(settings: Settings, path: str) -> int:
    """The most bytes a request body to ``path`` may have."""
    if path == IMPORT_PATH:
        return settings.max_import_body_bytes
    if any(path == prefix or path.startswith(prefix + "/") for prefix in LARGE_PREFIXES):
        return settings.max_article_body_bytes
    return settings.max_body_bytes


class BodyLimit:
    """The ASGI middleware of the rules above, in front of the routes (bot/api/main.py)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit(self, path: str) -> int:
        return body_limit(self.settings, path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                await _refuse(400, "Content-Length is not a number")(scope, receive, send)
                return
            if int(declared) > limit:
                await _too_large(limit)(scope, receive, send)
                return
        received = 0
        refused = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _too_large(limit)(scope, receive, send)
                    # The route sees the client gone, and whatever it answers is dropped.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The route failed on the body it was refused (ClientDisconnect): answered already.


def _refuse(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers={"Connection": "close"})


def _too_large(limit: int) -> JSONResponse:
    return _refuse(413, f"request body too large (at most {limit} bytes here)")
