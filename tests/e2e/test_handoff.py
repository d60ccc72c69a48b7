"""Handoff on the real stack: the customer asks for a person, an agent takes over, chats,
resolves, and the customer rates — plus the ticket path with nobody online, and the rating
after the bot helped."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from bot.stack import Stack
from tests.e2e.chat import Customer, bot_messages, socket_say
from tests.e2e.conftest import AGENT_PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class Agent:
    def __init__(self, stack: Stack, email: str) -> None:
        self.base_url = stack.config.service_url
        response = httpx.post(
            f"{self.base_url}/api/v1/auth/login", json={"email": email, "password": AGENT_PASSWORD}
        )
        response.raise_for_status()
        self.token = response.cookies["kefu_session"]
        self.http = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def socket(self, path: str) -> ClientConnection:
        ws = connect(
            self.base_url.replace("http://", "ws://") + path,
            additional_headers={
                "Cookie": f"kefu_session={self.token}",
                "Origin": self.base_url,  # as a browser sends it; the service refuses others
            },
            open_timeout=10,
        )
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        return ws

    def queue(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.http.get("/api/v1/handoffs").json()["data"]
        return rows

    def wait_until_nobody_is_online(self, timeout_s: float = 15.0) -> None:
        """An agent whose console closed still counts online for KEFU_PRESENCE_TIMEOUT_S (the
        stack's is 1 s): wait it out after the tests before, which had consoles open."""
        deadline = time.monotonic() + timeout_s
        while any(m["status"] == "online" for m in self.http.get("/api/v1/agents").json()["items"]):
            assert time.monotonic() < deadline, "an agent is still online"
            time.sleep(0.2)


@pytest.fixture
def online_agent(stack: Stack, agent_email: str) -> Iterator[tuple[Agent, ClientConnection]]:
    """An agent with the console open: the queue socket is what makes them online."""
    agent = Agent(stack, agent_email)
    with agent.socket("/api/v1/agent/ws") as queue_socket:
        yield agent, queue_socket


def next_message(ws: ClientConnection, sender: str) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.recv(timeout=30))
        if frame["type"] == "message" and frame["message"]["sender"] == sender:
            message: dict[str, Any] = frame["message"]
            return message


def test_a_customer_reaches_an_agent_who_resolves_and_is_rated(
    stack: Stack, online_agent: tuple[Agent, ClientConnection]
) -> None:
    agent, queue_socket = online_agent
    customer = Customer(stack.config.service_url, "zh").open()
    with customer.socket() as widget:
        widget.recv(timeout=10)  # ready
        bot_messages(socket_say(widget, "退款申请了一周了还没到账"))
        [connecting] = bot_messages(socket_say(widget, "转人工"))
        assert connecting["text"].startswith("正在为您转接人工客服")
        assert json.loads(queue_socket.recv(timeout=10))["type"] == "queue_changed"

        [row] = [r for r in agent.queue() if r["conversation_id"] == customer.id]
        assert (row["status"], row["reason"]) == ("waiting", "requested")
        assert row["summary"] == "退款申请了一周了还没到账"
        packet = agent.http.get(f"/api/v1/handoffs/{row['id']}").json()["packet"]
        assert [i["intent"] for i in packet["intents"]][-1] == "request_human"
        assert (
            packet["articles"] and packet["articles"][0]["question"] == "退款申请了一周了还没到账"
        )
        assert len(packet["sentiment"]) == 2

        with agent.socket(f"/api/v1/handoffs/{row['id']}/ws") as console:
            assert agent.http.post(f"/api/v1/handoffs/{row['id']}/claim").status_code == 200
            assert "已接入" in next_message(widget, "system")["text"]
            agent.http.post(f"/api/v1/handoffs/{row['id']}/messages", json={"text": "您好，我是林"})
            assert next_message(widget, "agent")["text"] == "您好，我是林"
            # The customer answers; the agent sees it, and the bot stays silent.
            widget.send(json.dumps({"type": "message", "text": "订单号 A1234"}))
            assert next_message(console, "customer")["text"] == "订单号 A1234"
            agent.http.post(f"/api/v1/handoffs/{row['id']}/resolve")
            rating_request = next_message(widget, "system")
            assert rating_request["kind"] == "csat_request"
    transcript = customer.transcript_from_server()
    answered = [m["text"] for m in transcript].index("订单号 A1234")
    assert [m["sender"] for m in transcript[answered + 1 :]] == ["system"]  # no bot reply
    rating = httpx.post(
        f"{stack.config.service_url}/api/v1/conversations/{customer.id}/rating",
        json={"score": 5},
        headers=customer.auth,
    )
    assert (rating.status_code, rating.json()["resolved_by"]) == (201, "agent")


def test_with_nobody_online_the_customer_leaves_an_email_for_a_ticket(
    stack: Stack, agent_email: str
) -> None:
    Agent(stack, agent_email).wait_until_nobody_is_online()
    customer = Customer(stack.config.service_url, "en").open()
    customer.say("My parcel never arrived")
    replies = customer.say("I want to talk to a human")
    texts = [r["text"] for r in replies]
    assert any("no one from our team is online" in t for t in texts), texts
    assert texts[-1] == "What's your email address?"
    saved_replies = customer.say("it's ann@example.com")
    assert len(saved_replies) == 1, saved_replies
    [saved] = saved_replies
    assert "ann@example.com" in saved["text"]
    agent = Agent(stack, agent_email)
    [ticket] = [r for r in agent.queue() if r["conversation_id"] == customer.id]
    assert (ticket["status"], ticket["customer_email"]) == ("waiting", "ann@example.com")
    # The bot keeps answering while the ticket waits.
    assert customer.say("hello")


def test_a_chinese_customer_with_nobody_online_is_asked_in_chinese_and_may_walk_away(
    stack: Stack, agent_email: str
) -> None:
    Agent(stack, agent_email).wait_until_nobody_is_online()
    customer = Customer(stack.config.service_url, "zh").open()
    # The widget's button: a payload with no words of the customer's, and a Chinese title.
    texts = [r["text"] for r in customer.say("转人工客服", "/request_human")]
    assert any("没有人工客服在线" in t for t in texts), texts
    assert texts[-1] == "请问您的邮箱地址是？"
    # A question while the form waits is answered, then the form asks once more.
    replies = customer.say("发票怎么开")
    assert not any("邮箱地址好像不对" in r["text"] for r in replies), replies
    assert replies[-1]["text"] == "请问您的邮箱地址是？", replies
    # "算了" leaves the form; the request stays in the queue.
    [left] = customer.say("算了")
    assert "排队" in left["text"] or "人工客服上线" in left["text"], left


def test_after_a_helpful_answer_and_goodbye_the_customer_is_asked_to_rate(stack: Stack) -> None:
    customer = Customer(stack.config.service_url, "en").open()
    replies = customer.say("How long does a refund take?")
    answer = next(r for r in replies if r["articles"])
    customer.press(answer, "Yes")
    goodbye = customer.say("bye")
    assert goodbye[-1]["kind"] == "csat_request", goodbye
    rating = httpx.post(
        f"{stack.config.service_url}/api/v1/conversations/{customer.id}/rating",
        json={"score": 4, "comment": "quick"},
        headers=customer.auth,
    )
    assert rating.json()["resolved_by"] == "bot"
