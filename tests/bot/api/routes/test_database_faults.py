"""PostgreSQL taken away and brought back under a running service (the harness's own server,
stopped and started): the health endpoint says the database is down, a request is a 503 with
Retry-After, a customer's message over the socket is refused with a close the widget
reconnects after (it sends the message again: stored once), and everything works again when
the database returns. And a service whose database cannot be reached does not start."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from bot.api.deps import CLOSE_TRY_AGAIN
from bot.api.main import create_app
from bot.auth.store import UserStore
from bot.cli import app as cli
from bot.database import upgrade_database
from bot.settings import Settings
from bot.stack import free_port
from db.engine import DatabaseUnavailable, create_engine_for, session_factory
from tests.bot.api.conftest import CONSOLE_ORIGIN
from tests.bot.api.routes.conftest import open_conversation
from tests.bot.api.routes.test_conversation_socket import frames_until, socket_url
from tests.servers.databases import on_postgres
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A server of this module's own: stopping it leaves the others' databases alone."""
    if not on_postgres():
        pytest.skip("PostgreSQL faults: run with KEFU_TEST_DATABASE=postgres (make test-scale)")
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture
def service(postgres: PostgresServer, rasa_url: str, tmp_path: Path) -> Iterator[TestClient]:
    url = postgres.create_database("faults")
    upgrade_database(url)
    settings = Settings(
        database_url=url, index_dir=tmp_path / "index", environment="test", rasa_url=rasa_url
    )
    try:
        with TestClient(create_app(settings)) as client:
            yield client
    finally:
        if not postgres.is_running():
            postgres.start()
        postgres.drop_database("faults")


def test_a_database_lost_and_back(service: TestClient, postgres: PostgresServer) -> None:
    cid, auth = open_conversation(service)
    assert service.get("/api/v1/health").json()["database"]["status"] == "ok"
    postgres.stop()

    health = service.get("/api/v1/health")
    assert health.status_code == 503
    assert health.json()["database"]["status"] == "down"
    refused = service.post("/api/v1/conversations", json={"language": "en"})
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert refused.json()["detail"] == "the database is unavailable; try again shortly"
    sent = service.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth)
    assert sent.status_code == 503

    postgres.start()
    assert service.get("/api/v1/health").json()["database"]["status"] == "ok"
    assert service.post("/api/v1/conversations", json={"language": "en"}).status_code == 201


def test_a_database_that_stops_answering_is_down_in_the_health_check_within_its_bound(
    postgres: PostgresServer, rasa_url: str, tmp_path: Path
) -> None:
    """Behind a partition the database neither answers nor refuses (the cluster frozen with
    SIGSTOP): the health endpoint says "down" after health_probe_timeout_s, and meanwhile the
    worker's event loop serves other requests."""
    url = postgres.create_database("frozen")
    upgrade_database(url)
    settings = Settings(
        database_url=url,
        index_dir=tmp_path / "index",
        environment="test",
        rasa_url=rasa_url,
        health_probe_timeout_s=1.0,
    )
    answered: dict[str, tuple[float, Response]] = {}

    def get(client: TestClient, path: str) -> None:
        started = time.monotonic()
        response = client.get(path)
        answered[path] = (time.monotonic() - started, response)

    try:
        with TestClient(create_app(settings)) as service:
            assert service.get("/api/v1/health").json()["database"]["status"] == "ok"
            service.get("/openapi.json")  # built once, before
            with postgres.frozen():
                checking = threading.Thread(target=get, args=(service, "/api/v1/health"))
                checking.start()
                time.sleep(0.3)  # the check is waiting on the database now
                other = threading.Thread(target=get, args=(service, "/openapi.json"))
                other.start()
                other.join(timeout=3)
                checking.join(timeout=4)
                during = dict(answered)
            checking.join(timeout=30)
            other.join(timeout=30)
            assert service.get("/api/v1/health").json()["database"]["status"] == "ok"
    finally:
        postgres.drop_database("frozen")
    assert "/openapi.json" in during, "the event loop was blocked by the health check"
    assert during["/openapi.json"][0] < 1.0
    assert "/api/v1/health" in during, "the health check did not answer within its bound"
    took, health = during["/api/v1/health"]
    assert health.status_code == 503 and 0.9 < took < 2.5
    assert health.json()["database"] == {"status": "down", "detail": "no answer within 1 s"}


def test_a_message_sent_while_the_database_is_down_is_sent_again_and_stored_once(
    service: TestClient, postgres: PostgresServer
) -> None:
    cid, auth = open_conversation(service)
    frame = {"type": "message", "text": "where is my parcel", "client_message_id": "m1"}
    with service.websocket_connect(socket_url(cid, auth)) as ws:
        assert ws.receive_json()["type"] == "ready"
        postgres.stop()
        ws.send_json(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == CLOSE_TRY_AGAIN  # the widget reconnects after any such close
    postgres.start()
    # What the widget does on "ready": sends its outbox again, with the same ids.
    with service.websocket_connect(socket_url(cid, auth)) as ws:
        assert ws.receive_json()["type"] == "ready"
        ws.send_json(frame)
        frames = frames_until(ws, "bot")
    with service.websocket_connect(socket_url(cid, auth)) as ws:
        replayed = frames_until(ws, "ready")
    customer = [f["message"] for f in frames + replayed if f["type"] == "message"]
    stored = {m["id"] for m in customer if m["sender"] == "customer"}
    assert len(stored) == 1  # stored once, echoed and replayed
    assert any(m["sender"] == "bot" for m in customer)


def test_sockets_opened_while_the_database_is_down_are_told_to_try_again(
    service: TestClient, postgres: PostgresServer
) -> None:
    """The widget's socket (its replay reads the database) and an agent's console socket (its
    login does) close with 1013 and a reason, which both reconnect after; not 1011."""
    engine = create_engine_for(postgres.url("faults"))
    with session_factory(engine)() as session:
        UserStore(session).create("ann@shop.test", "Ann", "agent", "a long enough password")
        session.commit()
    engine.dispose()
    cid, auth = open_conversation(service)
    login = {"email": "ann@shop.test", "password": "a long enough password"}
    token = service.post("/api/v1/auth/login", json=login).cookies["kefu_session"]
    service.cookies.clear()
    console = {"Cookie": f"kefu_session={token}", "Origin": CONSOLE_ORIGIN}
    postgres.stop()
    for url, headers in ((socket_url(cid, auth), {}), ("/api/v1/agent/ws", console)):
        with (
            service.websocket_connect(url, headers=headers) as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_json()
        assert (closed.value.code, closed.value.reason) == (
            CLOSE_TRY_AGAIN,
            "the database is unavailable; reconnect shortly",
        ), url
    postgres.start()
    with service.websocket_connect(socket_url(cid, auth)) as ws:
        assert frames_until(ws, "ready")[-1]["type"] == "ready"


def test_an_unreachable_database_stops_the_service_at_start(tmp_path: Path) -> None:
    url = f"postgresql://kefu:s3cret@127.0.0.1:{free_port()}/kefu"
    with pytest.raises(DatabaseUnavailable, match=r"kefu:\*\*\*@127\.0\.0\.1"):
        upgrade_database(url)
    result = CliRunner().invoke(cli, ["serve"], env={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert "cannot reach the database postgresql+psycopg://kefu:***@127.0.0.1" in result.output
    assert "s3cret" not in result.output
