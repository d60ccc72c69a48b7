"""A loopback HTTP server in Rasa's place, and an app that talks to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.settings import Settings


class FakeRasa(BaseHTTPRequestHandler):
    """Answers like Rasa's REST channel; records what it was sent."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeRasa.received.append(body)
        replies = [
            {
                "recipient_id": body["sender"],
                "text": f"echo: {body['message']}",
                "buttons": [{"title": "Yes", "payload": '/feedback_helpful{"article_id": "x"}'}],
                "custom": {"articles": [{"id": "x", "title": "X", "url": "/articles/x"}]},
            }
        ]
        data = json.dumps(replies).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rasa_url() -> Iterator[str]:
    FakeRasa.received = []
    server = HTTPServer(("127.0.0.1", 0), FakeRasa)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def chat(settings: Settings, rasa_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"rasa_url": rasa_url}))) as client:
        yield client


def open_conversation(client: TestClient) -> tuple[str, dict[str, str]]:
    response = client.post("/api/v1/conversations", json={"language": "zh"})
    assert response.status_code == 201
    body = response.json()
    return body["id"], {"Authorization": f"Bearer {body['token']}"}
