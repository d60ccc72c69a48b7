"""Bad input from a customer or a stranger is a clear 4xx or an error frame, never a 500 or a
dropped socket: absurd ids, text no database can store, frames that are not JSON text."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.bot.api.routes.conftest import open_conversation as open_chat
from tests.bot.api.routes.test_handoffs import login, staff  # noqa: F401  (fixture)

TOO_BIG = 2**63


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"text": "a\\ud800b"}', "unicode"),  # a lone surrogate: not UTF-8
        (b'{"text": "nul\\u0000"}', "NUL"),  # PostgreSQL refuses NUL characters
    ],
)
def test_text_no_database_can_store_is_422_and_nothing_is_stored(
    chat: TestClient, raw: bytes, says: str
) -> None:
    conversation_id, headers = open_chat(chat)
    url = f"/api/v1/conversations/{conversation_id}/messages"
    response = chat.post(url, content=raw, headers=headers | {"Content-Type": "application/json"})
    assert response.status_code == 422
    assert says in response.json()["detail"][0]["msg"]
    assert chat.get(url, headers=headers).json()["count"] == 0


def test_an_absurd_after_is_422(chat: TestClient) -> None:
    conversation_id, headers = open_chat(chat)
    url = f"/api/v1/conversations/{conversation_id}/messages?after={TOO_BIG}"
    response = chat.get(url, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "after"]


def test_an_after_past_what_an_id_column_holds_is_422_on_both_engines(chat: TestClient) -> None:
    """PostgreSQL's INTEGER columns hold 32 bits: a larger id reached the query and failed
    there (500) before ids were bounded by that (the API probe found it on PostgreSQL)."""
    conversation_id, headers = open_chat(chat)
    url = f"/api/v1/conversations/{conversation_id}/messages?after="
    largest = chat.get(url + str(2**31 - 1), headers=headers)
    assert (largest.status_code, largest.json()["count"]) == (200, 0)
    assert chat.get(url + str(2**31), headers=headers).status_code == 422


def test_feedback_naming_an_unknown_lookup_is_kept_without_it(
    chat: TestClient, service_headers: dict[str, str]
) -> None:
    conversation_id, _ = open_chat(chat)
    response = chat.post(
        f"/api/v1/internal/conversations/{conversation_id}/feedback",
        json={"article_id": "returns-policy", "helpful": True, "lookup_id": 987654},
        headers=service_headers,
    )
    assert response.status_code == 201
    assert response.json()["lookup_id"] is None


def test_an_absurd_handoff_id_is_422(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    headers = login(chat, staff["agent"])
    for method, path in (("GET", ""), ("POST", "/claim"), ("POST", "/resolve")):
        for handoff_id in (TOO_BIG, -TOO_BIG * 10**4, 0):  # Schemathesis found the negative
            url = f"/api/v1/handoffs/{handoff_id}{path}"
            response = chat.request(method, url, headers=headers)
            assert response.status_code == 422, (method, url, response.text)


def test_frames_that_are_not_json_text_get_an_error_frame_and_the_socket_stays(
    chat: TestClient,
) -> None:
    conversation_id, headers = open_chat(chat)
    token = headers["Authorization"].removeprefix("Bearer ")
    with chat.websocket_connect(
        f"/api/v1/conversations/{conversation_id}/ws?token={token}"
    ) as socket:
        assert socket.receive_json()["type"] == "ready"
        socket.send_bytes(b"\x00\x01")
        assert socket.receive_json() == {
            "type": "error",
            "detail": "frames are JSON text",
            "client_message_id": None,
        }
        socket.send_text("[" * 5000 + "]" * 5000)  # nested deeper than any parser should go
        assert socket.receive_json()["detail"] == "frame is not valid JSON"
        socket.send_text('{"type": "message", "text": "a\\ud800"}')
        assert socket.receive_json()["type"] == "error"
        socket.send_text('{"type": "message", "text": "still here", "client_message_id": "x1"}')
        frames = [socket.receive_json() for _ in range(2)]
        assert any(f.get("message", {}).get("text") == "still here" for f in frames)
