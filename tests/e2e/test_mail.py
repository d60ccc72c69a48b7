"""Mail on the real stack, to a real SMTP server on loopback: the confirmation when a customer
leaves an address with nobody online, an agent's reply to that customer after they left (after
the grace period, 1 s here), a reply while the mail server is down (it goes once when the
server is back), and the transcript the customer asks for."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from bot.stack import Stack
from tests.e2e.chat import Customer
from tests.e2e.mail import text_of
from tests.e2e.test_handoff import Agent
from tests.servers.smtp import Received, SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def mail_to(
    server: SmtpServer,
    address: str,
    count: int = 1,
    timeout_s: float = 15.0,
    also: Callable[[Received], bool] = lambda r: True,
) -> list[Received]:
    """The mails to ``address`` once ``count`` of them arrived (the server is shared)."""
    deadline = time.monotonic() + timeout_s
    while True:
        mails = [m for m in server.messages if address in m.recipients and also(m)]
        if len(mails) >= count or time.monotonic() > deadline:
            return mails
        time.sleep(0.1)


def leave_a_ticket(stack: Stack, agent_email: str, address: str) -> Customer:
    Agent(stack, agent_email).wait_until_nobody_is_online()
    customer = Customer(stack.config.service_url, "en").open()
    customer.say("My parcel never arrived")
    customer.say("I want to talk to a human")
    [saved] = customer.say(f"it's {address}")
    assert address in saved["text"]
    return customer


def claim(agent: Agent, customer: Customer) -> int:
    [ticket] = [r for r in agent.queue() if r["conversation_id"] == customer.id]
    assert agent.http.post(f"/api/v1/handoffs/{ticket['id']}/claim").status_code == 200
    handoff_id: int = ticket["id"]
    return handoff_id


def confirmed_and_claimed(
    stack: Stack, agent_email: str, mail_server: SmtpServer, address: str
) -> tuple[Customer, Agent, int]:
    """A ticket left with ``address``, its confirmation mailed, claimed by the agent: the
    customer, the agent and the handoff's id."""
    customer = leave_a_ticket(stack, agent_email, address)
    mail_to(mail_server, address)
    agent = Agent(stack, agent_email)
    return customer, agent, claim(agent, customer)


def delivery(agent: Agent, handoff_id: int, message_id: int) -> dict[str, object] | None:
    detail = agent.http.get(f"/api/v1/handoffs/{handoff_id}").json()
    found: dict[str, object] | None = detail["deliveries"].get(str(message_id))
    return found


def test_the_ticket_is_confirmed_and_the_agents_reply_reaches_the_customer_who_left(
    stack: Stack, agent_email: str, mail_server: SmtpServer
) -> None:
    address = "ann.mail@example.com"
    customer = leave_a_ticket(stack, agent_email, address)
    [confirmation] = mail_to(mail_server, address)
    assert confirmation.message["Subject"] == "Your request to Kefu Demo Shop"
    assert confirmation.message["Auto-Submitted"] == "auto-generated"
    assert "My parcel never arrived" in text_of(confirmation)
    # The customer is gone (no widget open); an agent takes the ticket and replies.
    agent = Agent(stack, agent_email)
    handoff_id = claim(agent, customer)
    replied = agent.http.post(
        f"/api/v1/handoffs/{handoff_id}/messages",
        json={"text": "Your parcel left our warehouse today. <b>Tracking</b>: KF123"},
    )
    assert replied.status_code == 201
    message_id = replied.json()["id"]
    assert delivery(agent, handoff_id, message_id)["status"] == "queued"  # type: ignore[index]
    started = time.monotonic()
    mails = mail_to(mail_server, address, count=2)
    assert len(mails) == 2, [m.message["Subject"] for m in mails]
    reply = mails[1]
    assert time.monotonic() - started >= 0.5  # it waited the grace period for the widget
    assert "Your parcel left our warehouse today. <b>Tracking</b>: KF123" in text_of(reply)
    assert "Auto-Submitted" not in reply.message
    assert reply.message["In-Reply-To"] == confirmation.message["Message-ID"]
    state = delivery(agent, handoff_id, message_id)
    assert state is not None and state["status"] == "sent" and state["sent_at"]
    detail = agent.http.get(f"/api/v1/handoffs/{handoff_id}").json()
    assert (detail["channel"], detail["contact_email"]) == ("widget", address)


def test_a_reply_the_customer_sees_in_the_widget_is_not_mailed(
    stack: Stack, agent_email: str, mail_server: SmtpServer
) -> None:
    address = "bo.mail@example.com"
    customer, agent, handoff_id = confirmed_and_claimed(stack, agent_email, mail_server, address)
    with customer.socket():  # the widget is open: the reply is shown there
        replied = agent.http.post(
            f"/api/v1/handoffs/{handoff_id}/messages", json={"text": "Seen in the chat"}
        )
        assert replied.status_code == 201
        time.sleep(2.0)  # beyond the grace period
    assert len(mail_to(mail_server, address, count=2, timeout_s=1.0)) == 1
    assert delivery(agent, handoff_id, replied.json()["id"]) is None


def test_a_reply_while_the_mail_server_is_down_goes_once_when_it_is_back(
    stack: Stack, agent_email: str, mail_server: SmtpServer
) -> None:
    address = "cy.mail@example.com"
    _, agent, handoff_id = confirmed_and_claimed(stack, agent_email, mail_server, address)
    mail_server.stop()
    try:
        replied = agent.http.post(
            f"/api/v1/handoffs/{handoff_id}/messages", json={"text": "Sent while it was down"}
        )
        message_id = replied.json()["id"]
        deadline = time.monotonic() + 15
        while True:  # the grace period, then a failed attempt
            state = delivery(agent, handoff_id, message_id)
            if state and state["attempts"]:
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["status"] == "queued" and state["error"]
        health = httpx.get(f"{stack.config.service_url}/api/v1/health").json()
        assert health["email"]["outbound"] == "failing"
    finally:
        mail_server.start()
    mails = mail_to(mail_server, address, count=2, timeout_s=20)
    time.sleep(2.0)  # anything sent twice would be here by now
    mails = mail_to(mail_server, address, count=3, timeout_s=0.1)
    assert [("Sent while it was down" in text_of(m)) for m in mails] == [False, True]
    assert delivery(agent, handoff_id, message_id)["status"] == "sent"  # type: ignore[index]
    health = httpx.get(f"{stack.config.service_url}/api/v1/health").json()
    assert health["email"]["outbound"] == "ok"


def test_the_customer_asks_for_the_transcript(stack: Stack, mail_server: SmtpServer) -> None:
    customer = Customer(stack.config.service_url, "en").open()
    customer.say("How do I return an item?")
    response = httpx.post(
        f"{stack.config.service_url}/api/v1/conversations/{customer.id}/transcript",
        json={"email": "dee.mail@example.com"},
        headers=customer.auth,
    )
    assert response.status_code == 202
    [transcript] = mail_to(mail_server, "dee.mail@example.com")
    assert transcript.message["Subject"] == "Your conversation with Kefu Demo Shop"
    text = text_of(transcript)
    assert "How do I return an item?" in text and "Assistant" in text
