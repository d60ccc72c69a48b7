"""The conversation WebSocket: replay, push, resend, bad frames and tokens."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from bot.api.deps import conversation_token
from bot.chat import gateway as gateway_module
from bot.settings import Settings
from tests.bot.api.routes.conftest import FakeRasa, open_conversation

pytestmark = pytest.mark.slow


def socket_url(cid: str, auth: dict[str, str], after: int = 0) -> str:
    token = auth["Authorization"].removeprefix("Bearer ")
    return f"/api/v1/conversations/{cid}/ws?token={token}&after={after}"


def frames_until(ws: WebSocketTestSession, done: str) -> list[dict[str, Any]]:
    """Frames up to and including the first message from ``done`` (or a ``ready``)."""
    frames = []
    while True:
        frame = ws.receive_json()
        frames.append(frame)
        if frame["type"] == done or frame.get("message", {}).get("sender") == done:
            return frames


def messages(frames: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (f["message"]["sender"], f["message"]["text"]) for f in frames if f["type"] == "message"
    ]


def test_a_message_is_echoed_then_answered_with_typing_between(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    with chat.websocket_connect(socket_url(cid, auth)) as ws:
        assert ws.receive_json() == {"type": "ready", "last_id": 0}
        ws.send_json({"type": "message", "text": "我想退货", "client_message_id": "c1"})
        frames = frames_until(ws, "bot")
    assert [f["type"] for f in frames] == ["message", "typing", "typing", "message"]
    assert frames[0]["message"]["client_message_id"] == "c1"
    assert [f.get("active") for f in frames[1:3]] == [True, False]
    assert messages(frames) == [("customer", "我想退货"), ("bot", "echo: 我想退货")]
    assert frames[3]["message"]["buttons"][0]["title"] == "Yes"


def test_reconnecting_replays_only_what_was_missed(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    url = f"/api/v1/conversations/{cid}/messages"
    first = chat.post(url, json={"text": "one"}, headers=auth).json()
    chat.post(url, json={"text": "two"}, headers=auth)
    with chat.websocket_connect(socket_url(cid, auth)) as ws:
        everything = frames_until(ws, "ready")
    with chat.websocket_connect(socket_url(cid, auth, after=first["replies"][0]["id"])) as ws:
        missed = frames_until(ws, "ready")
    assert messages(everything) == [
        ("customer", "one"),
        ("bot", "echo: one"),
        ("customer", "two"),
        ("bot", "echo: two"),
    ]
    assert messages(missed) == [("customer", "two"), ("bot", "echo: two")]
    assert missed[-1] == {"type": "ready", "last_id": everything[-2]["message"]["id"]}


def test_a_message_sent_elsewhere_is_pushed_to_the_socket(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    with chat.websocket_connect(socket_url(cid, auth)) as ws:
        ws.receive_json()
        chat.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth)
        assert messages(frames_until(ws, "bot")) == [("customer", "hi"), ("bot", "echo: hi")]


def test_a_resent_message_is_answered_once_and_sent_back_again(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    frame = {"type": "message", "text": "hello", "client_message_id": "again"}
    with chat.websocket_connect(socket_url(cid, auth)) as ws:
        ws.receive_json()
        ws.send_json(frame)
        first = frames_until(ws, "bot")
        ws.send_json(frame)
        second = frames_until(ws, "bot")
    assert [f["message"]["id"] for f in second] == [
        f["message"]["id"] for f in first if f["type"] == "message"
    ]
    assert len(FakeRasa.received) == 1


def test_messages_sent_back_to_back_are_stored_in_the_order_sent(
    chat: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A widget resends its outbox back to back after a reconnect, and the first message is
    slow to store (a busy database): it is still stored, and answered, first; and the reader
    goes on reading meanwhile (a bad frame after it is answered at once)."""
    store_message = gateway_module._store_message

    def slow_first(session: Session, *args: Any, **kwargs: Any) -> Any:
        if args[1].text == "first":
            time.sleep(0.5)
        return store_message(session, *args, **kwargs)

    monkeypatch.setattr(gateway_module, "_store_message", slow_first)
    cid, auth = open_conversation(chat)
    with chat.websocket_connect(socket_url(cid, auth)) as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "text": "first", "client_message_id": "o-1"})
        ws.send_json({"type": "message", "text": "second", "client_message_id": "o-2"})
        ws.send_text("not json")
        assert ws.receive_json()["type"] == "error"  # before either message is stored
        frames = frames_until(ws, "bot") + frames_until(ws, "bot")
    assert [text for sender, text in messages(frames) if sender == "bot"] == [
        "echo: first",
        "echo: second",
    ]
    transcript = chat.get(f"/api/v1/conversations/{cid}/messages", headers=auth).json()
    by_id = sorted(transcript["data"], key=lambda m: m["id"])
    assert [m["text"] for m in by_id if m["sender"] == "customer"] == ["first", "second"]
    assert [m["text"] for m in by_id if m["sender"] == "bot"] == ["echo: first", "echo: second"]


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("not json", "frame is not valid JSON"),
        ('{"type": "message", "text": ""}', "text: String should have at least 1 character"),
        ('{"type": "message", "text": "' + "x" * 2001 + '"}', "text: String should have at most"),
        ('{"type": "message", "text": 5}', "text: Input should be a valid string"),
        ('{"type": "shout", "text": "hi"}', "type: Input should be 'message'"),
    ],
)
def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(
    chat: TestClient, raw: str, detail: str
) -> None:
    cid, auth = open_conversation(chat)
    with chat.websocket_connect(socket_url(cid, auth)) as ws:
        ws.receive_json()
        ws.send_text(raw)
        error = ws.receive_json()
        assert error["type"] == "error"
        assert error["detail"].startswith(detail)
        ws.send_json({"type": "message", "text": "still here"})
        assert messages(frames_until(ws, "bot"))[0] == ("customer", "still here")
    transcript = chat.get(f"/api/v1/conversations/{cid}/messages", headers=auth).json()
    assert transcript["count"] == 2


def test_html_in_a_frame_comes_back_as_the_same_text(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    text = '<img src=x onerror="alert(1)">'
    with chat.websocket_connect(socket_url(cid, auth)) as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "text": text})
        assert frames_until(ws, "customer")[0]["message"]["text"] == text


def close_code(chat: TestClient, url: str) -> int:
    with chat.websocket_connect(url) as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return closed.value.code


def test_tokens_and_unknown_conversations_close_the_socket(
    chat: TestClient, settings: Settings
) -> None:
    cid, _ = open_conversation(chat)
    _, other_auth = open_conversation(chat)
    assert close_code(chat, f"/api/v1/conversations/{cid}/ws") == 4401
    assert close_code(chat, socket_url(cid, other_auth)) == 4403
    token = conversation_token(settings.secret_key, "no-such-conversation")
    unknown = f"/api/v1/conversations/no-such-conversation/ws?token={token}"
    assert close_code(chat, unknown) == 4404
