"""Action tests: trackers from tests/data/trackers/, a real local HTTP server as the service.

These run in the Rasa environment (`.venv-rasa/bin/pytest tests/actions`), where rasa_sdk is.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa_sdk import Tracker

from contact.email import InvalidEmailError, customer_email

TRACKERS = Path(__file__).resolve().parent.parent / "data" / "trackers"
TOKEN = "action-test-token"

HIT = {
    "article_id": "refund-timeline",
    "version": 2,
    "title": "How long refunds take",
    "language": "en",
    "answer": "Refunds arrive in 3-10 business days.",
    "url": "/articles/refund-timeline",
    "score": 0.93,
    "matched": {"kind": "question", "text": "How long does a refund take?"},
}


def load_tracker(name: str) -> Tracker:
    return Tracker.from_dict(json.loads((TRACKERS / f"{name}.json").read_text(encoding="utf-8")))


class FakeService:
    """The service's internal API as the actions see it, over real HTTP on loopback; it checks
    a customer's email with the service's rule (contact.email)."""

    def __init__(self) -> None:
        self.search_result: dict[str, Any] = {
            "band": "answer",
            "language": "en",
            "hits": [HIT],
            "lookup_id": 7,
        }
        self.status = 200
        self.requests: list[dict[str, Any]] = []
        self.request_ids: list[str | None] = []  # the X-Request-ID of each search and handoff
        self.peers: list[tuple[str, int]] = []  # the client's address of each search
        self.feedback: list[dict[str, Any]] = []
        self.handoffs: list[dict[str, Any]] = []
        self.agents_online = 1
        self.notice: str | None = None  # what the service says to promise with nobody online
        # Addresses refused although the shared rule takes them (a service that checks more).
        self.refused_emails: set[str] = set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/internal/kb/search", self.search)
        app.router.add_get("/api/v1/internal/kb/articles/{article_id}", self.article)
        app.router.add_post(
            "/api/v1/internal/conversations/{conversation_id}/feedback", self.record_feedback
        )
        app.router.add_post("/api/v1/internal/handoffs", self.open_handoff)
        return app

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def search(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"detail": "invalid service token"}, status=403)
        self.requests.append(await request.json())
        self.request_ids.append(request.headers.get("X-Request-ID"))
        assert request.transport is not None
        self.peers.append(request.transport.get_extra_info("peername"))
        return web.json_response(self.search_result, status=self.status)

    async def record_feedback(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"detail": "invalid service token"}, status=403)
        body = await request.json()
        self.feedback.append({"conversation_id": request.match_info["conversation_id"], **body})
        return web.json_response({"id": len(self.feedback), **body}, status=self.status + 1)

    async def open_handoff(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"detail": "invalid service token"}, status=403)
        body = await request.json()
        self.request_ids.append(request.headers.get("X-Request-ID"))
        if body["conversation_id"] == "unknown":
            return web.json_response({"detail": "conversation 'unknown' not found"}, status=404)
        email = body.get("customer_email")
        if email is not None:
            try:
                refused = customer_email(email) != email or email in self.refused_emails
            except InvalidEmailError:
                refused = True
            if refused:  # as FastAPI answers a field its schema refuses
                error = {"type": "value_error", "loc": ["body", "customer_email"], "msg": "no"}
                return web.json_response({"detail": [error]}, status=422)
        self.handoffs.append(body)
        opened = {"handoff_id": 1, "status": "waiting", "agents_online": self.agents_online}
        if self.notice is not None:
            opened["notice"] = self.notice
        return web.json_response(opened | {"created": len(self.handoffs) == 1}, status=201)

    async def article(self, request: web.Request) -> web.Response:
        article_id = request.match_info["article_id"]
        if article_id != HIT["article_id"]:
            return web.json_response({"detail": "not found"}, status=404)
        return web.json_response({k: v for k, v in HIT.items() if k not in ("score", "matched")})


RunWithService = Callable[[Callable[[str], Awaitable[Any]]], Any]


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
def with_service(service: FakeService) -> RunWithService:
    """Run ``body(base_url)`` while the fake service listens on a free loopback port."""

    def run(body: Callable[[str], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            server = TestServer(service.app(), host="127.0.0.1")
            await server.start_server()
            try:
                return await body(str(server.make_url("")).rstrip("/"))
            finally:
                await server.close()

        return asyncio.run(main())

    return run
