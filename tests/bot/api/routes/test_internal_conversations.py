"""The bot's trail on a conversation: lookups recorded by search, feedback, read back."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.bot.api.routes.conftest import open_conversation

pytestmark = pytest.mark.slow
SEARCH = "/api/v1/internal/kb/search"


def trail_of(client: TestClient, cid: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/api/v1/internal/conversations/{cid}/trail", headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_a_lookup_and_its_feedback_are_recorded_on_the_conversation(
    client: TestClient, service_headers: dict[str, str]
) -> None:
    cid, _ = open_conversation(client)
    search = client.post(
        SEARCH, json={"text": "我想退货", "k": 3, "conversation_id": cid}, headers=service_headers
    ).json()
    top = search["hits"][0]
    feedback = client.post(
        f"/api/v1/internal/conversations/{cid}/feedback",
        json={"article_id": top["article_id"], "version": top["version"], "helpful": False},
        headers=service_headers,
    )
    assert feedback.status_code == 201
    trail = trail_of(client, cid, service_headers)
    [lookup] = trail["lookups"]
    assert (lookup["id"], lookup["question"], lookup["band"]) == (
        search["lookup_id"],
        "我想退货",
        "answer",
    )
    assert [h["article_id"] for h in lookup["hits"]] == [h["article_id"] for h in search["hits"]]
    [given] = trail["feedback"]
    # Without a lookup id, feedback is tied to the last lookup that offered the article.
    assert (given["article_id"], given["helpful"], given["lookup_id"]) == (
        "returns-policy-zh",
        False,
        search["lookup_id"],
    )


def test_the_intent_rasa_detected_is_kept_on_the_lookup(
    client: TestClient, service_headers: dict[str, str]
) -> None:
    cid, _ = open_conversation(client)
    asked = {"text": "我想退货", "conversation_id": cid}
    seen = {"intent": "ask_question", "intent_confidence": 0.87}
    for body in (asked | seen, asked):  # the second: a caller that does not know the intent
        assert client.post(SEARCH, json=body, headers=service_headers).status_code == 200
    lookups = trail_of(client, cid, service_headers)["lookups"]
    assert [(x["intent"], x["intent_confidence"]) for x in lookups] == [
        ("ask_question", 0.87),
        (None, None),
    ]


@pytest.mark.parametrize(
    ("seen", "field"),
    [
        ({"intent": "x" * 65}, "intent"),
        ({"intent": ""}, "intent"),
        ({"intent": "ask_question", "intent_confidence": 1.01}, "intent_confidence"),
        ({"intent": "ask_question", "intent_confidence": -0.1}, "intent_confidence"),
    ],
)
def test_an_intent_the_lookup_cannot_keep_is_422(
    client: TestClient, service_headers: dict[str, str], seen: dict[str, object], field: str
) -> None:
    cid, _ = open_conversation(client)
    body = {"text": "refund", "conversation_id": cid} | seen
    response = client.post(SEARCH, json=body, headers=service_headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert trail_of(client, cid, service_headers)["lookups"] == []


def test_a_search_without_a_conversation_records_nothing(
    client: TestClient, service_headers: dict[str, str]
) -> None:
    body = client.post(SEARCH, json={"text": "refund"}, headers=service_headers).json()
    assert body["lookup_id"] is None


def test_a_search_for_an_unknown_conversation_still_answers(
    client: TestClient, service_headers: dict[str, str]
) -> None:
    # Rasa's sender id of a chat the gateway did not open (rasa shell, other channels).
    sender = "rasa-shell-" + "x" * 60
    search = client.post(
        SEARCH, json={"text": "refund", "conversation_id": sender}, headers=service_headers
    )
    assert search.status_code == 200
    assert search.json()["hits"] and search.json()["lookup_id"] is not None


def test_unknown_conversations_are_404(client: TestClient, service_headers: dict[str, str]) -> None:
    feedback = client.post(
        "/api/v1/internal/conversations/nope/feedback",
        json={"article_id": "returns-policy", "helpful": True},
        headers=service_headers,
    )
    assert feedback.status_code == 404
    trail = client.get("/api/v1/internal/conversations/nope/trail", headers=service_headers)
    assert trail.status_code == 404


def test_the_trail_needs_the_service_token(client: TestClient) -> None:
    cid, customer_auth = open_conversation(client)
    url = f"/api/v1/internal/conversations/{cid}/trail"
    assert client.get(url).status_code == 401
    # A customer's conversation token is not the service token.
    assert client.get(url, headers=customer_auth).status_code == 403


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"article_id": "", "helpful": True}, "article_id"),
        ({"article_id": "x", "helpful": "maybe"}, "helpful"),
        ({"article_id": "x", "helpful": True, "version": 0}, "version"),
        ({"article_id": "x"}, "helpful"),
    ],
)
def test_bad_feedback_is_422(
    client: TestClient, service_headers: dict[str, str], payload: dict[str, Any], field: str
) -> None:
    cid, _ = open_conversation(client)
    response = client.post(
        f"/api/v1/internal/conversations/{cid}/feedback", json=payload, headers=service_headers
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    assert trail_of(client, cid, service_headers)["feedback"] == []
