"""In-process publish/subscribe: every frame about a conversation reaches each of its sockets.

One process holds all sockets in the default deployment. Several service workers share one
Redis instead: ``RedisConversationHub`` (bot/conversations/redis_hub.py) behind the same
methods.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

MAX_PENDING_FRAMES = 500
# The WebSocket close code of a socket that missed frames (4000-4999 are the application's):
# the widget and the consoles reconnect and replay from the database.
CLOSE_LAGGING = 4408


@dataclass(eq=False)
class Subscription:
    """One socket's frames; ``lagging`` when it fell too far behind (it must reconnect and
    replay from the database, so nothing is lost)."""

    frames: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(MAX_PENDING_FRAMES)
    )
    lagging: asyncio.Event = field(default_factory=asyncio.Event)
    agent: bool = False  # an agent console's socket, not the customer's widget

    def offer(self, frame: dict[str, Any]) -> None:
        try:
            self.frames.put_nowait(frame)
        except asyncio.QueueFull:
            self.lagging.set()


class ConversationHub:
    """The sockets of this process by channel (a conversation id, or ``agents``)."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)

    def start(self) -> None:
        """In the event loop, before the first socket (nothing to do in one process)."""

    async def aclose(self) -> None:
        """At shutdown."""

    @contextmanager
    def subscribe(self, conversation_id: str, *, agent: bool = False) -> Iterator[Subscription]:
        subscription = Subscription(agent=agent)
        self._subscriptions[conversation_id].add(subscription)
        self._added(conversation_id, subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscriptions[conversation_id]
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[conversation_id]
            self._removed(conversation_id, subscription)

    def _added(self, conversation_id: str, subscription: Subscription) -> None:
        """A socket subscribed (a shared hub tells the other workers who watches)."""

    def _removed(self, conversation_id: str, subscription: Subscription) -> None:
        """A socket went away."""

    def publish(self, conversation_id: str, frame: dict[str, Any]) -> None:
        for subscription in self._subscriptions.get(conversation_id, ()):
            subscription.offer(frame)

    def listeners(self, conversation_id: str) -> int:
        return len(self._subscriptions.get(conversation_id, ()))

    async def customers_watching(self, conversation_id: str) -> bool:
        """Whether the customer's widget has the conversation open (a socket that is not an
        agent's): a message pushed now is shown to them. A coroutine: a shared hub asks
        Redis, which must not block the event loop."""
        return any(not s.agent for s in self._subscriptions.get(conversation_id, ()))

    async def agents_watching(self, conversation_id: str) -> bool:
        """Whether an agent console has the conversation open (a handoff socket)."""
        return any(s.agent for s in self._subscriptions.get(conversation_id, ()))
