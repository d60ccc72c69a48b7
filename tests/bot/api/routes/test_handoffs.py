"""Handoffs through the API: escalation from the bot, the queue, claiming (once), live chat,
notes, resolve or return, the rating — and who may do what."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.auth.store import UserStore
from db.engine import create_engine_for, session_factory
from tests.bot.api.conftest import CONSOLE_ORIGIN
from tests.bot.api.routes.conftest import FakeRasa, open_conversation
from tests.contact.test_email import AT_THE_LIMIT_UNTIL_LOWER_CASE

pytestmark = pytest.mark.slow
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def staff(demo_database_url: str) -> dict[str, str]:
    """One user per role (created once; the database outlives the tests of this module)."""
    engine = create_engine_for(demo_database_url)
    emails = {
        "agent": "alice@shop.test",
        "agent2": "bob@shop.test",
        "editor": "erin@shop.test",
        "supervisor": "sue@shop.test",
        "admin": "ada@shop.test",
    }
    with session_factory(engine)() as session:
        store = UserStore(session)
        for key, email in emails.items():
            if store.authenticate(email, PASSWORD) is None:
                store.create(email, key.capitalize(), key.rstrip("2"), PASSWORD)
    engine.dispose()
    return emails


def login(client: TestClient, email: str) -> dict[str, str]:
    """Bearer headers with a fresh session (the cookie jar is cleared so users don't mix)."""
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.cookies["kefu_session"]
    client.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def agent_online(desk: TestClient, email: str) -> Iterator[tuple[Any, dict[str, str]]]:
    """An agent logged in with the console's queue socket open (so the agent counts as online):
    the socket and the agent's headers."""
    headers = login(desk, email)
    token = headers["Authorization"].removeprefix("Bearer ")
    with desk.websocket_connect(
        "/api/v1/agent/ws", headers={"Cookie": f"kefu_session={token}", "Origin": CONSOLE_ORIGIN}
    ) as console:
        assert console.receive_json() == {"type": "ready"}
        yield console, headers


def escalate(
    client: TestClient, service_headers: dict[str, str], text: str = "我的退款一直没到账"
) -> tuple[str, dict[str, str], int]:
    cid, customer = open_conversation(client)
    client.post(f"/api/v1/conversations/{cid}/messages", json={"text": text}, headers=customer)
    response = client.post(
        "/api/v1/internal/handoffs",
        json={
            "conversation_id": cid,
            "reason": "requested",
            "language": "zh",
            "intents": [{"text": text, "intent": "ask_question", "confidence": 0.91}],
        },
        headers=service_headers,
    )
    assert response.status_code == 201, response.text
    return cid, customer, response.json()["handoff_id"]


@pytest.fixture
def desk(chat: TestClient, staff: dict[str, str]) -> Iterator[TestClient]:
    yield chat


def test_an_escalation_carries_the_packet_into_the_queue(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    _, _, handoff_id = escalate(desk, service_headers, "你们这什么破服务，退款到现在都没到账！")
    alice = login(desk, staff["agent"])
    queue = desk.get("/api/v1/handoffs", headers=alice).json()
    row = next(r for r in queue["data"] if r["id"] == handoff_id)
    assert (row["status"], row["reason"], row["language"]) == ("waiting", "requested", "zh")
    assert row["summary"] == "你们这什么破服务，退款到现在都没到账！"
    assert row["sentiment"] < -0.3  # an angry customer...
    assert row["priority_parts"]["upset"] > 0  # ...goes up the queue
    detail = desk.get(f"/api/v1/handoffs/{handoff_id}", headers=alice).json()
    assert detail["packet"]["intents"][0]["intent"] == "ask_question"
    assert [m["sender"] for m in detail["messages"]] == ["customer", "bot"]


def test_the_queue_is_ordered_by_priority_then_wait(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    _, _, calm = escalate(desk, service_headers, "请帮我查一下订单")
    _, _, angry = escalate(desk, service_headers, "太过分了！三次了还没人处理，我要投诉！")
    rows = desk.get("/api/v1/handoffs", headers=login(desk, staff["agent"])).json()["data"]
    ids = [r["id"] for r in rows]
    assert ids.index(angry) < ids.index(calm)
    priorities = [r["priority"] for r in rows]
    assert priorities == sorted(priorities, reverse=True)


def test_claim_chat_resolve_and_rate(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    cid, customer, handoff_id = escalate(desk, service_headers)
    alice = login(desk, staff["agent"])
    claimed = desk.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=alice)
    assert (claimed.status_code, claimed.json()["status"]) == (200, "assigned")

    # While the agent holds the conversation, the customer's messages reach the agent only.
    FakeRasa.received = []
    answer = desk.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "还在吗？"}, headers=customer
    ).json()
    assert answer["replies"] == [] and FakeRasa.received == []
    sent = desk.post(
        f"/api/v1/handoffs/{handoff_id}/messages", json={"text": "您好，我来看一下"}, headers=alice
    )
    assert sent.status_code == 201
    note = desk.post(
        f"/api/v1/handoffs/{handoff_id}/notes", json={"text": "refund stuck at bank"}, headers=alice
    )
    assert note.status_code == 201

    resolved = desk.post(f"/api/v1/handoffs/{handoff_id}/resolve", headers=alice)
    assert resolved.json()["status"] == "resolved"
    transcript = desk.get(f"/api/v1/conversations/{cid}/messages", headers=customer).json()
    senders = [(m["sender"], m["text"]) for m in transcript["data"]]
    assert ("agent", "您好，我来看一下") in senders
    assert all("refund stuck" not in text for _, text in senders)  # notes stay internal
    assert senders[-1][0] == "system" and "打分" in senders[-1][1]

    rating = desk.post(
        f"/api/v1/conversations/{cid}/rating", json={"score": 5, "comment": "快"}, headers=customer
    )
    assert (rating.status_code, rating.json()["resolved_by"]) == (201, "agent")
    again = desk.post(f"/api/v1/conversations/{cid}/rating", json={"score": 1}, headers=customer)
    assert (again.status_code, again.json()["detail"]) == (
        409,
        "this conversation has been rated already",
    )
    # After the handoff the bot answers again.
    desk.post(f"/api/v1/conversations/{cid}/messages", json={"text": "谢谢"}, headers=customer)
    assert FakeRasa.received[-1]["message"] == "谢谢"


def test_return_to_the_bot(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    cid, customer, handoff_id = escalate(desk, service_headers)
    alice = login(desk, staff["agent"])
    desk.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=alice)
    returned = desk.post(f"/api/v1/handoffs/{handoff_id}/return", headers=alice)
    assert returned.json()["status"] == "returned"
    FakeRasa.received = []
    reply = desk.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "hello"}, headers=customer
    ).json()
    assert reply["replies"][0]["text"] == "echo: hello"


def test_transfer_to_another_agent_and_back_to_the_queue(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    _, _, handoff_id, alice = claimed_handoff(desk, staff, service_headers)
    bob = login(desk, staff["agent2"])
    bob_id = desk.get("/api/v1/auth/me", headers=bob).json()["id"]
    url = f"/api/v1/handoffs/{handoff_id}/transfer"
    moved = desk.post(url, json={"to_agent_id": bob_id, "note": "refund over 500"}, headers=alice)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["status"], moved.json()["agent_id"]) == ("assigned", bob_id)
    detail = desk.get(f"/api/v1/handoffs/{handoff_id}", headers=bob).json()
    assert [n["text"] for n in detail["notes"]] == ["refund over 500"]
    back = desk.post(url, json={"to_agent_id": None, "note": "needs Cantonese"}, headers=bob)
    assert (back.status_code, back.json()["status"]) == (200, "waiting")
    # Nobody holds it now: transferring again needs a claim first.
    again = desk.post(url, json={"note": "x"}, headers=bob)
    assert again.status_code == 409


def test_bad_transfers_are_refused(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    _, _, handoff_id, alice = claimed_handoff(desk, staff, service_headers)
    url = f"/api/v1/handoffs/{handoff_id}/transfer"
    erin_id = desk.get("/api/v1/auth/me", headers=login(desk, staff["editor"])).json()["id"]
    for body in ({}, {"note": ""}, {"note": "x" * 2001}, {"to_agent_id": 0, "note": "x"}):
        assert desk.post(url, json=body, headers=alice).status_code == 422, body
    refused = desk.post(url, json={"to_agent_id": erin_id, "note": "an editor"}, headers=alice)
    assert (refused.status_code, refused.json()["detail"]) == (422, f"no agent with id {erin_id}")
    unknown = desk.post("/api/v1/handoffs/999999/transfer", json={"note": "x"}, headers=alice)
    assert unknown.status_code == 404


def test_two_agents_claiming_at_the_same_moment_exactly_one_wins(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    _, _, handoff_id = escalate(desk, service_headers)
    headers = [login(desk, staff["agent"]), login(desk, staff["agent2"])]
    start = threading.Barrier(2)
    results: list[tuple[int, dict[str, Any]]] = []

    def claim(auth: dict[str, str]) -> None:
        start.wait()
        response = desk.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=auth)
        results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=claim, args=(h,)) for h in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in results) == [200, 409]
    winner = next(body for code, body in results if code == 200)
    loser = next(body for code, body in results if code == 409)
    assert loser["detail"] == f"handoff {handoff_id} is assigned, claimed by {winner['agent_name']}"


def test_a_handoff_is_opened_once_per_conversation(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    cid, _, handoff_id = escalate(desk, service_headers)
    again = desk.post(
        "/api/v1/internal/handoffs",
        json={"conversation_id": cid, "reason": "frustration", "customer_email": "Chen@D.com"},
        headers=service_headers,
    )
    assert (again.json()["handoff_id"], again.json()["created"]) == (handoff_id, False)
    detail = desk.get(f"/api/v1/handoffs/{handoff_id}", headers=login(desk, staff["agent"]))
    # Kept as the contact form keeps it (contact.email): in lower case.
    assert detail.json()["customer_email"] == "chen@d.com"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "bored"}, "reason"),
        ({"reason": "requested", "customer_email": "not-an-email"}, "customer_email"),
        # The contact form's rule: no display name, and the length limit after lower case.
        ({"reason": "requested", "customer_email": "Ann <ann@example.com>"}, "customer_email"),
        (
            {"reason": "requested", "customer_email": AT_THE_LIMIT_UNTIL_LOWER_CASE},
            "customer_email",
        ),
        ({"reason": "requested", "language": "fr"}, "language"),
    ],
)
def test_bad_escalations_are_422(
    desk: TestClient, service_headers: dict[str, str], body: dict[str, Any], field: str
) -> None:
    cid, _ = open_conversation(desk)
    response = desk.post(
        "/api/v1/internal/handoffs", json={"conversation_id": cid, **body}, headers=service_headers
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field


def test_an_escalation_of_an_unknown_conversation_is_404(
    desk: TestClient, service_headers: dict[str, str]
) -> None:
    response = desk.post(
        "/api/v1/internal/handoffs",
        json={"conversation_id": "nope", "reason": "requested"},
        headers=service_headers,
    )
    assert (response.status_code, response.json()["detail"]) == (
        404,
        "conversation 'nope' not found",
    )


AGENT_ROUTES = [
    ("GET", "/api/v1/handoffs", None),
    ("GET", "/api/v1/handoffs/{id}", None),
    ("POST", "/api/v1/handoffs/{id}/claim", None),
    ("POST", "/api/v1/handoffs/{id}/messages", {"text": "hi"}),
    ("POST", "/api/v1/handoffs/{id}/notes", {"text": "note"}),
    ("POST", "/api/v1/handoffs/{id}/resolve", None),
    ("POST", "/api/v1/handoffs/{id}/return", None),
    ("GET", "/api/v1/agent/kb/search?q=refund", None),
    ("POST", "/api/v1/handoffs/{id}/transfer", {"note": "back to the queue"}),
]


@pytest.mark.parametrize(("method", "path", "body"), AGENT_ROUTES)
def test_every_agent_route_needs_a_login_and_the_agent_role(
    desk: TestClient,
    staff: dict[str, str],
    service_headers: dict[str, str],
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    _, customer, handoff_id = escalate(desk, service_headers)
    url = path.format(id=handoff_id)
    anonymous = desk.request(method, url, json=body)
    assert (anonymous.status_code, anonymous.json()["detail"]) == (401, "log in first")
    # A customer's conversation token is no login.
    assert desk.request(method, url, json=body, headers=customer).status_code == 401
    for role in ("editor", "supervisor"):  # a supervisor reads conversations, takes no chat
        refused = desk.request(method, url, json=body, headers=login(desk, staff[role]))
        assert (refused.status_code, refused.json()["detail"]) == (403, "this needs the agent role")


@pytest.mark.parametrize(("method", "path", "body"), AGENT_ROUTES[1:7])
def test_another_agents_handoff_is_403_but_an_admin_may_do_everything(
    desk: TestClient,
    staff: dict[str, str],
    service_headers: dict[str, str],
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    _, _, handoff_id = escalate(desk, service_headers)
    assert desk.post(
        f"/api/v1/handoffs/{handoff_id}/claim", headers=login(desk, staff["agent"])
    ).is_success
    url = path.format(id=handoff_id)
    other = desk.request(method, url, json=body, headers=login(desk, staff["agent2"]))
    if path.endswith("/claim"):
        assert other.status_code == 409, other.text
    else:
        detail = f"handoff {handoff_id} is held by another agent"
        assert (other.status_code, other.json()["detail"]) == (403, detail)
    # An admin steps in on another agent's handoff: look, reply, note, resolve, return.
    admin = desk.request(method, url, json=body, headers=login(desk, staff["admin"]))
    expected = {"claim": 409, "messages": 201, "notes": 201}.get(path.rsplit("/", 1)[1], 200)
    assert admin.status_code == expected, admin.text


def test_an_unknown_handoff_is_404(desk: TestClient, staff: dict[str, str]) -> None:
    response = desk.get("/api/v1/handoffs/999999", headers=login(desk, staff["agent"]))
    assert (response.status_code, response.json()["detail"]) == (404, "handoff 999999 not found")


def test_bad_agent_messages_are_422(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    _, _, handoff_id = escalate(desk, service_headers)
    alice = login(desk, staff["agent"])
    desk.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=alice)
    for text in ("", "   ", "x" * 2001):
        response = desk.post(
            f"/api/v1/handoffs/{handoff_id}/messages", json={"text": text}, headers=alice
        )
        assert response.status_code == 422


def test_a_rating_must_be_one_to_five(desk: TestClient) -> None:
    cid, customer = open_conversation(desk)
    for score in (0, 6, "five"):
        response = desk.post(
            f"/api/v1/conversations/{cid}/rating", json={"score": score}, headers=customer
        )
        assert response.status_code == 422


def test_a_bot_resolved_conversation_is_rated_as_the_bots(desk: TestClient) -> None:
    cid, customer = open_conversation(desk)
    response = desk.post(f"/api/v1/conversations/{cid}/rating", json={"score": 4}, headers=customer)
    assert (response.status_code, response.json()["resolved_by"]) == (201, "bot")


def test_with_an_agent_online_the_bot_falls_silent_and_the_customer_hears_the_queue(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    with agent_online(desk, staff["agent"]) as (console, alice):
        cid, customer, handoff_id = escalate(desk, service_headers)
        assert console.receive_json() == {"type": "queue_changed"}
        FakeRasa.received = []
        url = f"/api/v1/conversations/{cid}/messages"
        first = desk.post(url, json={"text": "有人吗"}, headers=customer).json()
        [notice] = first["replies"]
        assert (notice["sender"], notice["kind"]) == ("system", "queue_position")
        assert notice["text"].startswith("您目前排在第")
        again = desk.post(url, json={"text": "还要多久"}, headers=customer).json()
        assert again["replies"] == []  # not on every message
        desk.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=alice)
        after_claim = desk.post(url, json={"text": "好的"}, headers=customer).json()
        assert after_claim["replies"] == []
        assert FakeRasa.received == []  # the bot never answered


def test_a_ticket_joins_the_live_queue_when_the_customer_asks_again_with_an_agent_online(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    # Nobody online: the handoff waits as a ticket and the bot keeps the conversation.
    cid, customer, handoff_id = escalate(desk, service_headers)
    url = f"/api/v1/conversations/{cid}/messages"
    FakeRasa.received = []
    desk.post(url, json={"text": "那我先问点别的"}, headers=customer)
    assert FakeRasa.received[-1]["message"] == "那我先问点别的"

    with agent_online(desk, staff["agent"]):
        again = desk.post(
            "/api/v1/internal/handoffs",
            json={"conversation_id": cid, "reason": "requested", "language": "zh"},
            headers=service_headers,
        ).json()
        assert (again["handoff_id"], again["created"], again["agents_online"]) == (
            handoff_id,
            False,
            1,
        )
        FakeRasa.received = []
        waiting = desk.post(url, json={"text": "人呢"}, headers=customer).json()
        assert FakeRasa.received == []  # told "connecting", so the bot is silent now
        assert waiting["replies"][0]["kind"] == "queue_position"


def test_leaving_an_email_keeps_a_ticket_with_the_bot(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    cid, customer, _ = escalate(desk, service_headers)
    with agent_online(desk, staff["agent"]):
        desk.post(
            "/api/v1/internal/handoffs",
            json={"conversation_id": cid, "reason": "requested", "customer_email": "c@d.com"},
            headers=service_headers,
        )
        FakeRasa.received = []
        desk.post(f"/api/v1/conversations/{cid}/messages", json={"text": "谢谢"}, headers=customer)
        assert FakeRasa.received[-1]["message"] == "谢谢"  # promised an email, not a live chat


# -- link cards and ratings (issue 14) ----------------------------------------------------------


@pytest.fixture(scope="module")
def articles(demo_database_url: str) -> Iterator[dict[str, str]]:
    """A published demo article, and a draft of this module's (gone again afterwards)."""
    from kb.models import Article
    from kb.schemas import ArticleIn, ArticleStatus, Language
    from kb.store import ArticleStore

    engine = create_engine_for(demo_database_url)
    sessions = session_factory(engine)
    with sessions() as session:
        published = next(a for a in ArticleStore(session).published() if a.language == "zh")
        draft = ArticleIn(
            id="card-draft",
            title="草稿",
            body="还没发布",
            language=Language.ZH,
            status=ArticleStatus.DRAFT,
        )
        ArticleStore(session).upsert(draft)
        session.commit()
    yield {"published": published.id, "title": published.title, "draft": "card-draft"}
    with sessions() as session:
        session.delete(session.get(Article, "card-draft"))
        session.commit()
    engine.dispose()


def claimed_handoff(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> tuple[str, dict[str, str], int, dict[str, str]]:
    cid, customer, handoff_id = escalate(desk, service_headers)
    alice = login(desk, staff["agent"])
    assert desk.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=alice).status_code == 200
    return cid, customer, handoff_id, alice


def test_an_inserted_article_reaches_the_customer_as_the_bots_link_card(
    desk: TestClient,
    staff: dict[str, str],
    service_headers: dict[str, str],
    articles: dict[str, str],
) -> None:
    cid, customer, handoff_id, alice = claimed_handoff(desk, staff, service_headers)
    article = articles["published"]
    sent = desk.post(
        f"/api/v1/handoffs/{handoff_id}/messages",
        json={"text": "这篇文章说明了流程", "article_ids": [article, article]},
        headers=alice,
    )
    card = {"id": article, "title": articles["title"], "url": f"/articles/{article}"}
    assert sent.status_code == 201, sent.text
    assert [{k: a[k] for k in card} for a in sent.json()["articles"]] == [card]
    # Stored with the message: the customer's transcript (and the widget) has the same card.
    transcript = desk.get(f"/api/v1/conversations/{cid}/messages", headers=customer).json()
    mine = next(m for m in transcript["data"] if m["text"] == "这篇文章说明了流程")
    assert (mine["sender"], mine["agent_name"]) == ("agent", "Agent")
    assert [{k: a[k] for k in card} for a in mine["articles"]] == [card]
    # The public page the card links to is there.
    assert desk.get(card["url"]).status_code == 200


@pytest.mark.parametrize(
    ("article_ids", "detail"),
    [
        (["no-such-article"], "no published article no-such-article"),
        (["card-draft"], "no published article card-draft"),
    ],
)
def test_an_unknown_or_unpublished_article_is_refused(
    desk: TestClient,
    staff: dict[str, str],
    service_headers: dict[str, str],
    articles: dict[str, str],
    article_ids: list[str],
    detail: str,
) -> None:
    cid, customer, handoff_id, alice = claimed_handoff(desk, staff, service_headers)
    response = desk.post(
        f"/api/v1/handoffs/{handoff_id}/messages",
        json={"text": "看看这个", "article_ids": [articles["published"], *article_ids]},
        headers=alice,
    )
    assert (response.status_code, response.json()["detail"]) == (422, detail)
    transcript = desk.get(f"/api/v1/conversations/{cid}/messages", headers=customer).json()
    assert all(m["text"] != "看看这个" for m in transcript["data"])  # nothing half sent


def test_more_than_three_articles_are_refused(
    desk: TestClient,
    staff: dict[str, str],
    service_headers: dict[str, str],
    articles: dict[str, str],
) -> None:
    _, _, handoff_id, alice = claimed_handoff(desk, staff, service_headers)
    response = desk.post(
        f"/api/v1/handoffs/{handoff_id}/messages",
        json={"text": "看看这些", "article_ids": [articles["published"]] * 4},
        headers=alice,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "article_ids"]


def test_the_customers_rating_shows_on_the_resolved_handoff_and_in_the_agents_history(
    desk: TestClient, staff: dict[str, str], service_headers: dict[str, str]
) -> None:
    cid, customer, handoff_id, alice = claimed_handoff(desk, staff, service_headers)
    desk.post(f"/api/v1/handoffs/{handoff_id}/resolve", headers=alice)
    detail = desk.get(f"/api/v1/handoffs/{handoff_id}", headers=alice).json()
    assert detail["rating"] is None  # not rated yet
    desk.post(
        f"/api/v1/conversations/{cid}/rating",
        json={"score": 4, "comment": "解决了，谢谢"},
        headers=customer,
    )
    detail = desk.get(f"/api/v1/handoffs/{handoff_id}", headers=alice).json()
    assert (detail["rating"]["score"], detail["rating"]["comment"]) == (4, "解决了，谢谢")
    history = desk.get("/api/v1/handoffs?status=resolved", headers=alice).json()["data"]
    row = next(r for r in history if r["id"] == handoff_id)
    assert (row["rating"]["score"], row["rating"]["comment"]) == (4, "解决了，谢谢")
