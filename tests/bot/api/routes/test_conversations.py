"""Conversations over HTTP, with a real SQLite file and a loopback server in Rasa's place."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.settings import Settings
from tests.bot.api.routes.conftest import FakeRasa, open_conversation

pytestmark = pytest.mark.slow


def test_message_is_stored_answered_and_in_the_transcript(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    response = chat.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"text": "我想退货", "client_message_id": "m1"},
        headers=auth,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"]["text"] == "我想退货"
    assert [r["text"] for r in body["replies"]] == ["echo: 我想退货"]
    assert body["replies"][0]["articles"][0]["url"] == "/articles/x"
    metadata = {
        "language": "zh",
        "kefu_message_id": body["message"]["id"],
        "kefu_request_id": response.headers["X-Request-ID"],  # for the actions' logs
    }
    assert FakeRasa.received == [{"sender": cid, "message": "我想退货", "metadata": metadata}]
    transcript = chat.get(f"/api/v1/conversations/{cid}/messages", headers=auth).json()
    assert [(m["sender"], m["text"]) for m in transcript["data"]] == [
        ("customer", "我想退货"),
        ("bot", "echo: 我想退货"),
    ]


def test_a_resent_message_is_not_stored_or_answered_twice(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    url = f"/api/v1/conversations/{cid}/messages"
    first = chat.post(url, json={"text": "hello", "client_message_id": "same"}, headers=auth)
    again = chat.post(url, json={"text": "hello", "client_message_id": "same"}, headers=auth)
    assert again.json()["duplicate"] is True
    assert again.json()["replies"] == first.json()["replies"]
    assert len(FakeRasa.received) == 1
    assert chat.get(url, headers=auth).json()["count"] == 2


def test_transcript_survives_a_restart_of_the_service(settings: Settings, rasa_url: str) -> None:
    settings = settings.model_copy(update={"rasa_url": rasa_url})
    with TestClient(create_app(settings)) as client:
        cid, auth = open_conversation(client)
        client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth)
    with TestClient(create_app(settings)) as restarted:
        transcript = restarted.get(f"/api/v1/conversations/{cid}/messages", headers=auth).json()
    assert [m["text"] for m in transcript["data"]] == ["hi", "echo: hi"]


def test_html_is_stored_and_returned_as_text(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    text = "<script>alert(1)</script><b>hi</b>"
    reply = chat.post(f"/api/v1/conversations/{cid}/messages", json={"text": text}, headers=auth)
    assert reply.json()["message"]["text"] == text
    assert reply.headers["content-type"] == "application/json"


def test_rasa_down_gives_an_apology_and_keeps_the_message(settings: Settings) -> None:
    settings = settings.model_copy(update={"rasa_url": "http://127.0.0.1:9"})
    with TestClient(create_app(settings)) as client:
        cid, auth = open_conversation(client)
        url = f"/api/v1/conversations/{cid}/messages"
        body = client.post(url, json={"text": "我的快递呢"}, headers=auth).json()
        assert body["replies"][0]["sender"] == "system"
        assert body["replies"][0]["text"].startswith("抱歉")
        assert client.get(url, headers=auth).json()["data"][0]["text"] == "我的快递呢"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 2001}, "text"),
        ({"text": ["not", "a", "string"]}, "text"),
        ({"text": "hi", "client_message_id": "x" * 65}, "client_message_id"),
        ({"text": "hi", "extra": 1}, "extra"),
    ],
)
def test_bad_messages_are_422_and_nothing_is_stored(
    chat: TestClient, payload: dict[str, Any], field: str
) -> None:
    cid, auth = open_conversation(chat)
    url = f"/api/v1/conversations/{cid}/messages"
    response = chat.post(url, json=payload, headers=auth)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    assert chat.get(url, headers=auth).json()["count"] == 0


def test_tokens_are_bound_to_their_conversation(chat: TestClient) -> None:
    cid, _ = open_conversation(chat)
    _, other_auth = open_conversation(chat)
    url = f"/api/v1/conversations/{cid}/messages"
    assert chat.get(url).status_code == 401
    forbidden = chat.get(url, headers=other_auth)
    assert (forbidden.status_code, forbidden.json()["detail"]) == (
        403,
        "this token is not for this conversation",
    )
    assert chat.post(url, json={"text": "hi"}, headers=other_auth).status_code == 403


def test_unknown_conversation_is_404(chat: TestClient, settings: Settings) -> None:
    from bot.api.deps import conversation_token

    token = conversation_token(settings.secret_key, "no-such-conversation")
    response = chat.get(
        "/api/v1/conversations/no-such-conversation/messages",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "conversation 'no-such-conversation' not found"


def test_a_button_payload_goes_to_rasa_and_its_title_is_stored(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    url = f"/api/v1/conversations/{cid}/messages"
    payload = '/feedback_helpful{"article_id": "returns"}'
    response = chat.post(url, json={"text": "Helpful", "payload": payload}, headers=auth)
    body = response.json()
    assert body["message"]["text"] == "Helpful"
    assert FakeRasa.received == [
        {
            "sender": cid,
            "message": '/feedback_helpful{"article_id": "returns", "language": "en"}',
            "metadata": {
                "language": "en",
                "kefu_message_id": body["message"]["id"],
                "kefu_request_id": response.headers["X-Request-ID"],
            },
        }
    ]


def test_a_payload_must_be_an_intent(chat: TestClient) -> None:
    cid, auth = open_conversation(chat)
    url = f"/api/v1/conversations/{cid}/messages"
    response = chat.post(url, json={"text": "x", "payload": "hello"}, headers=auth)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "payload"
