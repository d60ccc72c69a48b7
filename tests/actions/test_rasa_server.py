"""addons/rasa_server.py on the real Rasa: the same checks and tracker store, only faster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from addons import rasa_server

rasa_server.compiled_action_result_validation()
rasa_server.fast_sqlite_tracker_store()
ACTION = RemoteAction("action_answer_from_kb", None)


def test_a_valid_action_result_passes() -> None:
    result = {"events": [{"event": "slot", "name": "band", "value": "answer"}], "responses": []}
    assert ACTION._validate_action_result(result) is True


def test_an_invalid_action_result_raises_rasas_error() -> None:
    with pytest.raises(ValidationError) as raised:
        ACTION._validate_action_result({"events": "not a list"})
    assert "Failed to validate Action server response" in raised.value.message


def test_the_sqlite_tracker_store_is_pooled_wal_and_keeps_trackers(tmp_path: Path) -> None:
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "tracker.db"))
    assert isinstance(store.engine.pool, QueuePool)
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL

    async def save_and_read() -> list[str]:
        tracker = DialogueStateTracker("c1", slots=[])
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered("hello", {"name": "greet", "confidence": 1.0}))
        await store.save(tracker)
        again = await store.retrieve("c1")
        assert again is not None
        return [event.as_dict()["event"] for event in again.events]

    assert asyncio.run(save_and_read())[-2:] == ["action", "user"]


def test_the_token_comes_from_the_environment_and_leaves_it() -> None:
    environ = {"KEFU_RASA_TOKEN": "-t0ken", "OTHER": "x"}
    assert rasa_server.argv_with_token(["run"], environ) == ["run", "--auth-token=-t0ken"]
    assert environ == {"OTHER": "x"}
    assert rasa_server.argv_with_token(["run"], {}) == ["run"]


def test_calls_to_an_endpoint_share_one_connection() -> None:
    from aiohttp import web
    from rasa.utils.endpoints import EndpointConfig

    rasa_server.kept_endpoint_sessions()
    peers: list[tuple[str, int]] = []

    async def webhook(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"events": [], "responses": []})

    async def three_calls() -> None:
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        try:
            for _ in range(3):
                assert await endpoint.request(json={"next_action": "x"}) == {
                    "events": [],
                    "responses": [],
                }
        finally:
            await endpoint.session().session.close()
            await runner.cleanup()

    asyncio.run(three_calls())
    assert len(peers) == 3
    assert len(set(peers)) == 1  # one TCP connection, kept alive
