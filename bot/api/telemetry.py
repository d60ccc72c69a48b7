"""Every HTTP request and WebSocket, as operators see them: a request id (the caller's
``X-Request-ID`` if sane, else a new one) in the logs and sent back, the latency histogram by
route template, and the count of open WebSockets (bot/metrics.py)."""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.metrics import ServiceMetrics
from tracing import request_id

# No route answered: an unknown path, or a refusal made before routing (body limit, CSRF, CORS).
UNMATCHED = "unmatched"


class RouteTemplates:
    """The template of the route that answers a request (``/api/v1/handoffs/{handoff_id}``),
    never its raw path: one series per route, whatever the ids. Read from the OpenAPI
    document's paths and the static mounts: since FastAPI nests included routers, a route
    object knows only its own router's part of the prefix."""

    def __init__(self) -> None:
        self._paths: list[tuple[re.Pattern[str], str, frozenset[str]]] | None = None

    def _load(self, app: Any) -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
        if self._paths is None:
            paths = [
                (compile_path(path)[0], path, frozenset(m.upper() for m in item))
                for path, item in app.openapi()["paths"].items()
            ]
            mounts = [
                (compile_path(f"{route.path}/{{path:path}}")[0], f"{route.path}/{{path}}", ANY)
                for route in app.routes
                if isinstance(route, Mount)
            ]
            self._paths = paths + mounts
        return self._paths

    def of(self, scope: Scope) -> str:
        other_method = None
        for pattern, template, methods in self._load(scope["app"]):
            if pattern.match(scope["path"]):
                if methods is ANY or scope["method"] in methods:
                    return template
                other_method = other_method or template  # the path, not the method: 405
        return other_method or UNMATCHED


ANY: frozenset[str] = frozenset({"*"})
SOCKET_ROUTE = "kefu.socket_route"  # the scope's box for the route of a WebSocket


def remember_socket_route(connection: HTTPConnection) -> None:
    """An app-wide dependency: a WebSocket route knows its whole path, but middleware may hand
    the router a copy of the scope; the box the copy shares carries the path back out."""
    box = connection.scope.get(SOCKET_ROUTE)
    path = getattr(connection.scope.get("route"), "path", None)
    if isinstance(box, list) and isinstance(path, str):
        box.append(path)


class RequestTelemetry:
    """The outermost middleware, so that its timing and its header cover every answer."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send)
        elif scope["type"] == "http":
            await self._request(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _request(self, scope: Scope, receive: Receive, send: Send) -> None:
        current = request_id.accepted(Headers(scope=scope).get(request_id.HEADER))
        status = 500  # an exception that escapes the app is answered 500 further out
        started = time.perf_counter()

        async def with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[request_id.HEADER] = current
            await send(message)

        try:
            with request_id.handling(current):
                await self.app(scope, receive, with_request_id)
        finally:
            self.metrics.request_duration.labels(
                self.routes.of(scope), scope["method"], f"{status // 100}xx"
            ).observe(time.perf_counter() - started)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Open from the accept to the end; each customer message gets its own request id
        (bot/api/routes/conversations.py), not the socket's."""
        accepted_route: str | None = None
        box: list[str] = []
        scope[SOCKET_ROUTE] = box

        async def counting(message: Message) -> None:
            nonlocal accepted_route
            if message["type"] == "websocket.accept" and accepted_route is None:
                accepted_route = box[0] if box else UNMATCHED
                self.metrics.websockets_open.labels(accepted_route).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting)
        finally:
            if accepted_route is not None:
                self.metrics.websockets_open.labels(accepted_route).dec()
