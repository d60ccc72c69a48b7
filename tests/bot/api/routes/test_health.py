import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.settings import Settings

pytestmark = pytest.mark.slow


class _Healthy(BaseHTTPRequestHandler):
    """Rasa's /status (behind its auth token, as with `rasa run --auth-token`) and the action
    server's /health; Rasa answers after ``rasa_delay_s``."""

    rasa_token: ClassVar[str] = ""
    rasa_delay_s: ClassVar[float] = 0.0
    probes: ClassVar[int] = 0  # of Rasa's /status

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/status":
            _Healthy.probes += 1
            time.sleep(self.rasa_delay_s)
        code = 200 if url.path in ("/status", "/health") else 404
        if url.path == "/status" and parse_qs(url.query).get("token") != [self.rasa_token]:
            code = 401
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dependency_url() -> Iterator[str]:
    """A real HTTP server on loopback answering like a healthy Rasa / action server."""
    _Healthy.rasa_delay_s, _Healthy.probes = 0.0, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_health_reports_every_component(settings: Settings, dependency_url: str) -> None:
    settings = settings.model_copy(
        update={"rasa_url": dependency_url, "action_server_url": dependency_url}
    )
    _Healthy.rasa_token = settings.rasa_token
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["index"]["detail"].startswith("54 articles")
    # The probe brought Rasa's token; the answer, which anyone may read, does not show it.
    assert body["rasa"] == {"status": "ok", "detail": f"{dependency_url}/status"}
    assert body["action_server"]["status"] == "ok"
    assert settings.rasa_token not in response.text


def test_rasa_refusing_the_token_degrades(settings: Settings, dependency_url: str) -> None:
    settings = settings.model_copy(
        update={"rasa_url": dependency_url, "action_server_url": dependency_url}
    )
    _Healthy.rasa_token = "another-token"
    with TestClient(create_app(settings)) as client:
        body = client.get("/api/v1/health").json()
    assert body["status"] == "degraded"
    assert body["rasa"] == {"status": "down", "detail": f"{dependency_url}/status: HTTP 401"}
    assert body["action_server"]["status"] == "ok"


def test_rasa_and_action_server_down_degrade_but_do_not_fail(settings: Settings) -> None:
    # Port 9 on loopback: nothing listens there.
    settings = settings.model_copy(
        update={"rasa_url": "http://127.0.0.1:9", "action_server_url": "http://127.0.0.1:9"}
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["rasa"]["status"] == "down"
    assert body["action_server"]["detail"].startswith("http://127.0.0.1:9/health: ConnectError")


def test_a_busy_rasa_is_not_down(settings: Settings, dependency_url: str) -> None:
    """Rasa answering its probe in 1.2 s under load is busy, not down (it used to be 'degraded'
    after 1 s); and health checks in quick succession probe it once."""
    settings = settings.model_copy(
        update={"rasa_url": dependency_url, "action_server_url": dependency_url}
    )
    _Healthy.rasa_token, _Healthy.rasa_delay_s = settings.rasa_token, 1.2
    with TestClient(create_app(settings)) as client:
        first = client.get("/api/v1/health").json()
        again = [client.get("/api/v1/health").json()["status"] for _ in range(5)]
    assert (first["status"], first["rasa"]["status"]) == ("ok", "ok")
    assert again == ["ok"] * 5
    assert _Healthy.probes == 1
