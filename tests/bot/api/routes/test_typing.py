"""Typing both ways: the customer's frames reach the agents who watch the handoff, the holder's
reach the widget; neither is stored, and a bad one is an error frame on an open socket."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from tests.bot.api.conftest import CONSOLE_ORIGIN
from tests.bot.api.routes.test_conversation_socket import frames_until, socket_url
from tests.bot.api.routes.test_handoffs import escalate, login, staff  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

CUSTOMER_TYPING = {"type": "typing", "active": True, "from": "customer"}


@contextmanager
def handoff_socket(
    client: TestClient, handoff_id: int, headers: dict[str, str]
) -> Iterator[WebSocketTestSession]:
    token = headers["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(
        f"/api/v1/handoffs/{handoff_id}/ws",
        headers={"Cookie": f"kefu_session={token}", "Origin": CONSOLE_ORIGIN},
    ) as socket:
        assert socket.receive_json() == {"type": "ready"}
        yield socket


@contextmanager
def widget_socket(client: TestClient, cid: str, customer: dict[str, str]) -> Iterator[Any]:
    with client.websocket_connect(socket_url(cid, customer)) as socket:
        frames_until(socket, "ready")  # the transcript's replay
        yield socket


def stored(client: TestClient, cid: str, customer: dict[str, str]) -> int:
    url = f"/api/v1/conversations/{cid}/messages"
    count: int = client.get(url, headers=customer).json()["count"]
    return count


def test_the_customers_typing_reaches_the_watching_agent_and_is_not_stored(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    cid, customer, handoff_id = escalate(chat, service_headers)
    before = stored(chat, cid, customer)
    alice = login(chat, staff["agent"])  # watching a waiting handoff, not holding it
    with (
        widget_socket(chat, cid, customer) as widget,
        handoff_socket(chat, handoff_id, alice) as agent,
    ):
        widget.send_json({"type": "typing", "active": True})
        assert agent.receive_json() == CUSTOMER_TYPING
        # The widget's own echo carries from: customer, so the widget can skip it.
        assert widget.receive_json() == CUSTOMER_TYPING
        widget.send_json({"type": "typing", "active": False})
        assert agent.receive_json() == {**CUSTOMER_TYPING, "active": False}
    assert stored(chat, cid, customer) == before


def test_with_no_agent_watching_the_customers_typing_goes_nowhere(chat: TestClient) -> None:
    from tests.bot.api.routes.conftest import open_conversation

    cid, customer = open_conversation(chat)
    with widget_socket(chat, cid, customer) as widget:
        widget.send_json({"type": "typing", "active": True})
        widget.send_json({"type": "message", "text": "hi"})
        # The next frame is the message's echo: no typing frame was published before it.
        frames = frames_until(widget, "bot")
    # The echo comes first, then the bot's own typing (no "from") and its answer.
    assert [(f["type"], f.get("from")) for f in frames] == [
        ("message", None),
        ("typing", None),
        ("typing", None),
        ("message", None),
    ]
    assert stored(chat, cid, customer) == 2


@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ({"type": "typing"}, "active: Field required"),
        ({"type": "typing", "active": "yes"}, "active: Input should be a valid boolean"),
        ({"type": "typing", "active": True, "text": "hi"}, "text: Extra inputs are not permitted"),
    ],
)
def test_a_bad_typing_frame_from_the_widget_is_an_error_frame(
    chat: TestClient, service_headers: dict[str, str], frame: dict[str, Any], detail: str
) -> None:
    cid, customer, _ = escalate(chat, service_headers)
    with widget_socket(chat, cid, customer) as widget:
        widget.send_json(frame)
        assert widget.receive_json() == {
            "type": "error",
            "detail": detail,
            "client_message_id": None,
        }
        widget.send_json({"type": "message", "text": "still here"})
        assert frames_until(widget, "customer")[-1]["message"]["text"] == "still here"


def test_the_holders_typing_reaches_the_widget_and_is_not_stored(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    cid, customer, handoff_id = escalate(chat, service_headers)
    alice = login(chat, staff["agent"])
    assert chat.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=alice).status_code == 200
    before = stored(chat, cid, customer)
    with (
        widget_socket(chat, cid, customer) as widget,
        handoff_socket(chat, handoff_id, alice) as agent,
    ):
        agent.send_json({"type": "typing", "active": True})
        assert widget.receive_json() == {"type": "typing", "active": True, "from": "agent"}
        agent.send_json({"type": "typing", "active": False})
        assert widget.receive_json() == {"type": "typing", "active": False, "from": "agent"}
    assert stored(chat, cid, customer) == before


def test_an_agent_who_does_not_hold_the_handoff_cannot_type_to_the_customer(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    cid, customer, handoff_id = escalate(chat, service_headers)
    alice = login(chat, staff["agent"])
    with (
        widget_socket(chat, cid, customer) as widget,
        handoff_socket(chat, handoff_id, alice) as agent,
    ):
        agent.send_json({"type": "typing", "active": True})
        assert agent.receive_json() == {
            "type": "error",
            "detail": f"handoff {handoff_id} is waiting, not assigned",
        }
        agent.send_text("not json")
        assert agent.receive_json()["detail"].startswith("frame: Invalid JSON")
        agent.send_json({"type": "message", "text": "hi"})
        assert agent.receive_json()["detail"] == "type: Input should be 'typing'"
        # Nothing reached the customer: the next frame the widget sees is its own message.
        widget.send_json({"type": "message", "text": "hello?"})
        assert widget.receive_json()["message"]["text"] == "hello?"
