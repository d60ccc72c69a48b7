"""The in-process hub: a frame about a conversation reaches each of its sockets, and only its."""

from __future__ import annotations

import asyncio

import pytest

from bot.conversations.hub import MAX_PENDING_FRAMES, ConversationHub
from tests.bot.conftest import drain


def test_a_frame_reaches_every_socket_of_its_conversation_and_no_other() -> None:
    hub = ConversationHub()
    with (
        hub.subscribe("c1") as widget,
        hub.subscribe("c1") as agent,
        hub.subscribe("c2") as other,
    ):
        hub.publish("c1", {"type": "typing", "active": True})
        hub.publish("c1", {"type": "typing", "active": False})

        expected = [{"type": "typing", "active": True}, {"type": "typing", "active": False}]
        assert drain(widget) == expected
        assert drain(agent) == expected
        assert drain(other) == []


def test_a_waiting_socket_is_woken_by_the_next_frame() -> None:
    hub = ConversationHub()

    async def scenario() -> dict[str, object]:
        with hub.subscribe("c1") as socket:
            waiting = asyncio.create_task(socket.frames.get())
            await asyncio.sleep(0)
            hub.publish("c1", {"type": "message", "message": {"text": "hi"}})
            return await asyncio.wait_for(waiting, timeout=1)

    assert asyncio.run(scenario()) == {"type": "message", "message": {"text": "hi"}}


def test_listeners_count_open_sockets_until_they_close() -> None:
    hub = ConversationHub()
    assert hub.listeners("agents") == 0
    with hub.subscribe("agents"):
        with hub.subscribe("agents") as second:
            assert hub.listeners("agents") == 2
            assert hub.listeners("c1") == 0
        assert hub.listeners("agents") == 1
        hub.publish("agents", {"type": "queue_changed"})
        assert drain(second) == []  # a closed socket hears nothing more
    assert hub.listeners("agents") == 0


def test_a_socket_that_fails_is_unsubscribed() -> None:
    hub = ConversationHub()
    with pytest.raises(RuntimeError), hub.subscribe("c1"):
        raise RuntimeError("the socket broke")
    assert hub.listeners("c1") == 0
    hub.publish("c1", {"type": "typing", "active": True})  # nobody listens: nothing happens


def test_publishing_to_a_conversation_nobody_watches_is_harmless() -> None:
    hub = ConversationHub()
    hub.publish("nobody", {"type": "typing", "active": True})
    assert hub.listeners("nobody") == 0


def test_a_socket_that_falls_behind_is_marked_lagging_and_others_are_not() -> None:
    hub = ConversationHub()
    with hub.subscribe("c1") as slow, hub.subscribe("c1") as fast:
        for n in range(MAX_PENDING_FRAMES + 1):
            hub.publish("c1", {"type": "message", "n": n})
            drain(fast)  # this socket keeps up

        assert slow.lagging.is_set()
        assert not fast.lagging.is_set()
        # What the slow socket holds is the oldest frames, in order; it must reconnect and
        # replay the rest from the database.
        kept = drain(slow)
        assert [f["n"] for f in kept] == list(range(MAX_PENDING_FRAMES))


def test_a_full_socket_is_not_lagging_until_a_frame_is_dropped() -> None:
    hub = ConversationHub()
    with hub.subscribe("c1") as socket:
        for n in range(MAX_PENDING_FRAMES):
            hub.publish("c1", {"n": n})
        assert not socket.lagging.is_set()
        hub.publish("c1", {"n": MAX_PENDING_FRAMES})
        assert socket.lagging.is_set()
