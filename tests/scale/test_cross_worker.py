"""Two service workers are one service: a customer on one and an agent on the other chat live,
an article published through one is answered through the other within a second, and two
agents on two workers claiming one handoff at once leave exactly one holder."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from bot.stack import Stack
from tests.e2e.chat import Customer
from tests.scale.conftest import Staff

pytestmark = [pytest.mark.scale, pytest.mark.slow]

LIVE_S = 5.0  # a frame pushed through the other worker arrives well within this
PUBLISH_TO_ANSWER_S = 1.0  # the bound: published through one, answerable through all


def escalate(stack: Stack, base: str, conversation_id: str) -> int:
    """What the bot does when the customer asks for a person (the internal API)."""
    opened = httpx.post(
        f"{base}/api/v1/internal/handoffs",
        json={"conversation_id": conversation_id, "reason": "requested", "language": "en"},
        headers={"Authorization": f"Bearer {stack.service_token}"},
    )
    assert opened.status_code == 201, opened.text
    handoff_id: int = opened.json()["handoff_id"]
    return handoff_id


@contextmanager
def socket(
    base: str, path: str, headers: dict[str, str] | None = None
) -> Iterator[ClientConnection]:
    url = base.replace("http://", "ws://") + path
    with connect(url, additional_headers=headers or {}, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        yield ws


def next_message(ws: ClientConnection, sender: str, timeout_s: float = LIVE_S) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame["type"] == "message" and frame["message"]["sender"] == sender:
            message: dict[str, Any] = frame["message"]
            return message


@pytest.fixture
def ann_on_second(workers: list[str]) -> Iterator[tuple[Staff, ClientConnection]]:
    """Ann, logged in on the second worker, her console open there (she is online)."""
    ann = Staff(workers[1], "ann@shop.test")
    with socket(ann.base_url, "/api/v1/agent/ws", ann.ws_headers) as queue:
        yield ann, queue


def test_a_customer_on_one_worker_and_an_agent_on_the_other_chat_live_both_ways(
    scale: Stack, workers: list[str], ann_on_second: tuple[Staff, ClientConnection]
) -> None:
    ann, queue = ann_on_second
    customer = Customer(workers[0], "en").open()
    with customer.socket() as widget:
        assert json.loads(widget.recv(timeout=10))["type"] == "ready"
        handoff = escalate(scale, workers[0], customer.id)
        # The queue changed on the first worker; the console on the second hears it.
        assert json.loads(queue.recv(timeout=LIVE_S))["type"] == "queue_changed"
        with socket(ann.base_url, f"/api/v1/handoffs/{handoff}/ws", ann.ws_headers) as console:
            assert ann.http.post(f"/api/v1/handoffs/{handoff}/claim").status_code == 200
            next_message(widget, "system")  # "Ann has joined"
            sent = time.monotonic()
            ann.http.post(f"/api/v1/handoffs/{handoff}/messages", json={"text": "Hi, Ann here"})
            assert next_message(widget, "agent")["text"] == "Hi, Ann here"
            agent_to_customer_s = time.monotonic() - sent
            sent = time.monotonic()
            widget.send(json.dumps({"type": "message", "text": "My order is A1234"}))
            assert next_message(console, "customer")["text"] == "My order is A1234"
            customer_to_agent_s = time.monotonic() - sent
    print(
        f"across workers: agent → customer {agent_to_customer_s * 1000:.0f} ms, "
        f"customer → agent {customer_to_agent_s * 1000:.0f} ms"
    )
    # Both sides are stored once, in order, whichever worker took them.
    texts = [m["text"] for m in customer.transcript_from_server()]
    assert texts.count("Hi, Ann here") == texts.count("My order is A1234") == 1
    assert texts.index("Hi, Ann here") < texts.index("My order is A1234")


ARTICLE = {
    "id": "bikes-on-trains",
    "title": "Bringing a folding bike to the pick-up point",
    "body": "Folding bikes may be brought to every pick-up point if they are folded.",
    "questions": ["Can I bring my folding bike to the pick-up point?"],
    "category": "stores",
    "language": "en",
    "status": "draft",
}
QUESTION = "May I bring my folding bike to the pick-up point?"


def top_hit(scale: Stack, base: str) -> str | None:
    """The first article the worker at ``base`` finds for QUESTION (as the bot asks it)."""
    found = httpx.post(
        f"{base}/api/v1/internal/kb/search",
        json={"text": QUESTION, "language": "en"},
        headers={"Authorization": f"Bearer {scale.service_token}"},
    )
    found.raise_for_status()
    hits = found.json()["hits"]
    return hits[0]["article_id"] if hits else None


def test_an_article_published_through_one_worker_is_answered_through_the_other_within_1s(
    scale: Stack, workers: list[str]
) -> None:
    first, second = workers
    assert top_hit(scale, second) != ARTICLE["id"]
    erin = Staff(first, "erin@shop.test")
    draft = erin.http.post("/api/v1/articles", json=ARTICLE)
    assert draft.status_code == 201, draft.text
    published = erin.http.post(
        f"/api/v1/articles/{ARTICLE['id']}/status",
        json={"status": "published", "expected_version": draft.json()["version"]},
    )
    assert published.status_code == 200, published.text
    started = time.monotonic()
    while top_hit(scale, second) != ARTICLE["id"]:
        assert time.monotonic() - started < PUBLISH_TO_ANSWER_S, "not in the other worker's index"
        time.sleep(0.02)
    print(f"published on one worker → found on the other in {time.monotonic() - started:.2f} s")
    # And the bot answers with it to a customer of the second worker.
    customer = Customer(second, "en").open()
    replies = customer.say(QUESTION)
    assert ARTICLE["id"] in [a["id"] for r in replies for a in r["articles"]]


def claim_at_once(agents: list[Staff], handoff: int) -> list[int]:
    """Both agents claim the handoff at the same moment; the statuses, in the agents' order."""
    barrier = threading.Barrier(len(agents))
    statuses = [0] * len(agents)

    def claim(index: int) -> None:
        barrier.wait()
        statuses[index] = agents[index].http.post(f"/api/v1/handoffs/{handoff}/claim").status_code

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(agents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_two_agents_on_two_workers_claim_one_handoff_at_once_and_exactly_one_wins(
    scale: Stack, workers: list[str]
) -> None:
    agents = [Staff(workers[0], "ann@shop.test"), Staff(workers[1], "ben@shop.test")]
    winners = []
    with ExitStack() as consoles:  # both online, each on a worker
        for agent in agents:
            consoles.enter_context(socket(agent.base_url, "/api/v1/agent/ws", agent.ws_headers))
        for _ in range(5):
            customer = Customer(workers[0], "en").open()
            handoff = escalate(scale, workers[0], customer.id)
            statuses = claim_at_once(agents, handoff)
            assert sorted(statuses) == [200, 409], statuses
            winner = agents[statuses.index(200)]
            winners.append(winner.base_url)
            # The winner holds it; the loser cannot write to the chat.
            assert winner.http.get(f"/api/v1/handoffs/{handoff}").json()["status"] == "assigned"
            loser = agents[statuses.index(409)]
            refused = loser.http.post(f"/api/v1/handoffs/{handoff}/messages", json={"text": "x"})
            assert refused.status_code in (403, 404, 409), refused.text
            assert winner.http.post(f"/api/v1/handoffs/{handoff}/resolve").status_code == 200
    print(f"claim races won through: {winners}")
