"""Canned replies through the API: personal and shared ones and who sees or changes which, the
placeholders refused on save, one filled in for a held handoff — and every refusal."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.bot.api.conftest import console_headers
from tests.bot.api.routes.conftest import open_conversation
from tests.bot.api.routes.test_handoffs import PASSWORD, login, staff  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
URL = "/api/v1/canned-replies"
REFUND = "Hi {customer_name}, this is {agent_name}: {article:refund-timeline}"


def shortcut() -> str:
    """The tests share one database: every reply gets a shortcut of its own."""
    return f"refund-{uuid.uuid4().hex[:8]}"


def create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"shortcut": shortcut(), "language": "en", "title": "Refund", "body": REFUND}
    response = client.post(URL, json=body | fields, headers=headers)
    assert response.status_code == 201, response.text
    reply: dict[str, Any] = response.json()
    return reply


def held_handoff(
    client: TestClient, service_headers: dict[str, str], agent: dict[str, str], name: str | None
) -> int:
    cid, _ = open_conversation(client)
    response = client.post(
        "/api/v1/internal/handoffs",
        json={"conversation_id": cid, "reason": "requested", "customer_name": name},
        headers=service_headers,
    )
    handoff_id: int = response.json()["handoff_id"]
    assert client.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=agent).status_code == 200
    return handoff_id


def test_an_agent_lists_their_own_and_the_shared_replies(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    alice, bob = login(chat, staff["agent"]), login(chat, staff["agent2"])
    admin = login(chat, staff["admin"])
    mine = create(chat, alice)
    bobs = create(chat, bob)
    team = create(chat, admin, shared=True, language="zh", title="退款说明")
    listed = chat.get(URL, headers=alice).json()
    ids = {r["id"] for r in listed["data"]}
    assert {mine["id"], team["id"]} <= ids and bobs["id"] not in ids
    assert listed["count"] == len(listed["data"])
    row = next(r for r in listed["data"] if r["id"] == team["id"])
    assert (row["shared"], row["mine"], row["language"]) == (True, False, "zh")
    only_zh = chat.get(URL, params={"language": "zh"}, headers=alice).json()["data"]
    assert {r["language"] for r in only_zh} == {"zh"}
    by_shortcut = chat.get(URL, params={"q": mine["shortcut"]}, headers=alice).json()["data"]
    assert [r["id"] for r in by_shortcut] == [mine["id"]]
    by_title = chat.get(URL, params={"q": "退款"}, headers=alice).json()["data"]
    assert team["id"] in {r["id"] for r in by_title}


def test_the_owner_edits_and_deletes_a_reply(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    alice = login(chat, staff["agent"])
    mine = create(chat, alice)
    changed = chat.patch(f"{URL}/{mine['id']}", json={"title": "Refunds"}, headers=alice)
    assert (changed.status_code, changed.json()["title"]) == (200, "Refunds")
    assert chat.delete(f"{URL}/{mine['id']}", headers=alice).status_code == 204
    gone = chat.delete(f"{URL}/{mine['id']}", headers=alice)
    assert (gone.status_code, gone.json()["detail"]) == (
        404,
        f"canned reply {mine['id']} not found",
    )


def test_a_reply_is_rendered_for_the_held_handoff(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    alice = login(chat, staff["agent"])
    handoff_id = held_handoff(chat, service_headers, alice, "Mei")
    mine = create(chat, alice)
    rendered = chat.post(
        f"/api/v1/handoffs/{handoff_id}/canned-replies/{mine['id']}/render", headers=alice
    )
    assert rendered.status_code == 200, rendered.text
    body = rendered.json()
    assert body["text"].startswith("Hi Mei, this is Agent: ")
    assert body["articles"][0]["article_id"] == "refund-timeline"
    assert body["text"].endswith(f"{body['articles'][0]['title']} (/articles/refund-timeline)")
    # The link is the article's public page.
    assert chat.get(body["articles"][0]["url"]).status_code == 200


def test_rendering_refuses_another_agents_handoff_and_unknown_ids(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    alice, bob = login(chat, staff["agent"]), login(chat, staff["agent2"])
    handoff_id = held_handoff(chat, service_headers, alice, None)
    team = create(chat, login(chat, staff["admin"]), shared=True)
    path = f"/api/v1/handoffs/{handoff_id}/canned-replies/{team['id']}/render"
    refused = chat.post(path, headers=bob)
    assert (refused.status_code, refused.json()["detail"]) == (
        403,
        f"handoff {handoff_id} is held by another agent",
    )
    unknown = chat.post(f"/api/v1/handoffs/999999/canned-replies/{team['id']}/render", headers=bob)
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "handoff 999999 not found")
    missing = chat.post(f"/api/v1/handoffs/{handoff_id}/canned-replies/999999/render", headers=bob)
    assert (missing.status_code, missing.json()["detail"]) == (
        404,
        "canned reply 999999 not found",
    )
    bobs = create(chat, bob)
    other = chat.post(
        f"/api/v1/handoffs/{handoff_id}/canned-replies/{bobs['id']}/render", headers=alice
    )
    assert (other.status_code, other.json()["detail"]) == (
        403,
        f"canned reply {bobs['id']} is another agent's",
    )
    # An admin steps in, and the customer without a name is addressed politely.
    by_admin = chat.post(path, headers=login(chat, staff["admin"])).json()
    assert by_admin["text"].startswith("Hi valued customer, this is Admin: ")


def test_shared_replies_are_for_admins_and_personal_ones_for_their_owner(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    alice, bob = login(chat, staff["agent"]), login(chat, staff["agent2"])
    admin = login(chat, staff["admin"])
    body = {"shortcut": shortcut(), "language": "en", "title": "T", "body": "B", "shared": True}
    refused = chat.post(URL, json=body, headers=alice)
    assert (refused.status_code, refused.json()["detail"]) == (
        403,
        "shared canned replies are for admins",
    )
    team = create(chat, admin, shared=True)
    for method in ("PATCH", "DELETE"):
        response = chat.request(method, f"{URL}/{team['id']}", json={"title": "x"}, headers=alice)
        assert (response.status_code, response.json()["detail"]) == (
            403,
            "shared canned replies are for admins to change",
        )
    mine = create(chat, alice)
    for who in (bob, admin):
        response = chat.patch(f"{URL}/{mine['id']}", json={"title": "x"}, headers=who)
        assert (response.status_code, response.json()["detail"]) == (
            403,
            f"canned reply {mine['id']} is another agent's",
        )
    assert chat.patch(f"{URL}/{team['id']}", json={"title": "y"}, headers=admin).status_code == 200


def test_every_route_needs_a_login_and_the_agent_role(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    routes = [
        ("GET", URL),
        ("POST", URL),
        ("PATCH", f"{URL}/1"),
        ("DELETE", f"{URL}/1"),
        ("POST", "/api/v1/handoffs/1/canned-replies/1/render"),
    ]
    editor = login(chat, staff["editor"])
    for method, path in routes:
        anonymous = chat.request(method, path, json={})
        assert (anonymous.status_code, anonymous.json()["detail"]) == (401, "log in first")
        refused = chat.request(method, path, json={}, headers=editor)
        assert (refused.status_code, refused.json()["detail"]) == (403, "this needs the agent role")


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"body": "Order {order_id}"}, "unknown placeholder {order_id}: use {customer_name}"),
        ({"body": "{article:no-such-article}"}, "no published article no-such-article"),
    ],
)
def test_a_body_with_an_unknown_placeholder_or_article_is_refused(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    fields: dict[str, str],
    detail: str,
) -> None:
    alice = login(chat, staff["agent"])
    body = {"shortcut": shortcut(), "language": "en", "title": "T"} | fields
    refused = chat.post(URL, json=body, headers=alice)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith(detail)
    mine = create(chat, alice)
    changed = chat.patch(f"{URL}/{mine['id']}", json=fields, headers=alice)
    assert (changed.status_code, changed.json()["detail"][: len(detail)]) == (422, detail)


@pytest.mark.parametrize(
    "fields",
    [
        {"shortcut": "Refund"},  # capitals
        {"shortcut": "r" * 33},
        {"shortcut": "-refund"},
        {"language": "fr"},
        {"title": "t" * 121},
        {"title": "   "},
        {"body": "b" * 4001},
        {"body": "nul \x00"},
    ],
)
def test_malformed_replies_are_422(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    fields: dict[str, str],
) -> None:
    body = {"shortcut": shortcut(), "language": "en", "title": "T", "body": "B"} | fields
    response = chat.post(URL, json=body, headers=login(chat, staff["agent"]))
    assert response.status_code == 422, response.text


def test_absurd_ids_and_queries_are_422(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    alice = login(chat, staff["agent"])
    for path in (f"{URL}/0", f"{URL}/{2**64}", f"{URL}/x"):
        assert chat.patch(path, json={}, headers=alice).status_code == 422
    assert chat.post("/api/v1/handoffs/0/canned-replies/1/render", headers=alice).status_code == 422
    assert chat.get(URL, params={"q": "q" * 121}, headers=alice).status_code == 422


def test_a_duplicate_shortcut_in_the_same_language_is_409(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    alice = login(chat, staff["agent"])
    mine = create(chat, alice)
    again = chat.post(
        URL,
        json={"shortcut": mine["shortcut"], "language": "en", "title": "T", "body": "B"},
        headers=alice,
    )
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"/{mine['shortcut']} is your canned reply in en already",
    )


def test_with_the_cookie_a_change_needs_the_csrf_token(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    response = chat.post("/api/v1/auth/login", json={"email": staff["agent"], "password": PASSWORD})
    assert response.status_code == 200
    body = {"shortcut": shortcut(), "language": "en", "title": "T", "body": "B"}
    refused = chat.post(URL, json=body, headers={"Origin": "http://testserver"})
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["detail"]
    assert chat.post(URL, json=body, headers=console_headers(chat)).status_code == 201
    chat.cookies.clear()
