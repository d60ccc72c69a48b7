"""The conversation hub across service workers: frames travel through Redis pub/sub.

Each frame is delivered at once to this worker's own sockets (as the in-process hub does),
then published to ``kefu:hub:<channel>`` for the other workers. Each worker has one pattern
subscription (``kefu:hub:*``), read by one listener task that hands other workers' frames to
its local sockets; frames of a conversation keep their order because one task publishes them,
in the order ``publish`` was called, and Redis delivers a connection's messages in order.

Who watches a conversation on any worker is a sorted set per conversation and role:
``kefu:watchers:<channel>`` for agent consoles' sockets, ``kefu:customer-watchers:<channel>``
for the customer's widget (an agent's reply it shows is not mailed): each worker with such a
socket is a member whose
score is when its claim expires; a heartbeat renews it while the socket is open, so a killed
worker's claims lapse within ``WATCH_TTL_S``.

When Redis is lost, publishing logs and drops frames for other workers (never raises into a
request: the messages are stored, and the database is the transcript), and the listener
reconnects with backoff. A Redis that goes silent without closing the connection (a network
partition) counts as lost: a publish gives up after ``PUBLISH_TIMEOUT_S``, and the listener,
when no frame has come for a while, PINGs on its connection and reconnects when no PONG
follows. Back, it closes its customers' sockets as lagging: the widget
reconnects and replays from the database what it missed (docs/scaling.md#redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, cast

import redis
import redis.asyncio.client

from bot.conversations.hub import ConversationHub, Subscription
from bot.shared.redis import SharedRedis
from bot.shared.tasks import stopped

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "hub:"
WATCH_TTL_S = 15.0
MAX_OUTBOX = 10_000  # frames waiting for Redis; past it, frames for other workers are dropped
PUBLISH_TIMEOUT_S = 2.0  # a frame Redis has not taken by then is given up (logged)
# The listener PINGs after this long without a frame, and a PONG must follow within the second.
LISTEN_QUIET_S, PONG_WITHIN_S = 5.0, 5.0
LISTENER_PING = "kefu-listener"
RECONNECT_BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class RedisConversationHub(ConversationHub):
    """``ConversationHub`` shared by every worker on one Redis."""

    def __init__(
        self,
        shared: SharedRedis,
        *,
        watch_ttl_s: float = WATCH_TTL_S,
        listen_quiet_s: float = LISTEN_QUIET_S,
        pong_within_s: float = PONG_WITHIN_S,
    ) -> None:
        super().__init__()
        self.shared = shared
        self.watch_ttl_s = watch_ttl_s
        self.listen_quiet_s = listen_quiet_s
        self.pong_within_s = pong_within_s
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(MAX_OUTBOX)
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped = 0
        # Set while the listener's subscription is live (tests and health wait on it).
        self.listening = asyncio.Event()

    def _channel(self, channel: str) -> str:
        return self.shared.key(CHANNEL_PREFIX + channel)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._publish_forever(), name="hub-publisher"),
            asyncio.create_task(self._listen_forever(), name="hub-listener"),
            asyncio.create_task(self._renew_watches_forever(), name="hub-watches"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            await stopped(task)
        self._tasks = []
        self._forget_watches(list(self._watched()))

    # -- publishing --------------------------------------------------------------------------

    def publish(self, conversation_id: str, frame: dict[str, Any]) -> None:
        super().publish(conversation_id, frame)  # this worker's sockets, at once
        payload = json.dumps({"w": self.shared.worker, "f": frame}, ensure_ascii=False)
        try:
            self._outbox.put_nowait((self._channel(conversation_id), payload))
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                log.error("Redis lags: %d frames not sent to other workers", self._dropped)

    def announce(self, channel: str, frame: dict[str, Any]) -> None:
        """Tell the other workers' subscribers of ``channel``, from any thread, at once (one
        blocking PUBLISH); a lost Redis is logged, never raised."""
        payload = json.dumps({"w": self.shared.worker, "f": frame}, ensure_ascii=False)
        try:
            self.shared.calls.publish(self._channel(channel), payload)
        except redis.RedisError as error:
            log.warning("%s not announced to other workers (Redis: %s)", frame.get("type"), error)

    async def _publish_forever(self) -> None:
        streams = self.shared.streams
        unsent = 0  # frames of the current outage
        while True:
            channel, payload = await self._outbox.get()
            try:
                # redis-py retries a lost connection itself: this bounds the whole of it.
                async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                    await streams.publish(channel, payload)
            except (redis.RedisError, TimeoutError) as error:
                # The message is stored; other workers' sockets replay it when they reconnect.
                if not unsent:
                    reason = str(error) or f"no answer within {PUBLISH_TIMEOUT_S:g} s"
                    log.warning("frames not sent to other workers (Redis: %s)", reason)
                unsent += 1
                continue
            if unsent:
                log.warning("publishing again: %d frames were not sent to other workers", unsent)
                unsent = 0

    # -- listening ---------------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        pattern = self._channel("*")
        prefix_length = len(pattern) - 1
        failures = 0
        lost = False
        while True:
            pubsub = self.shared.streams.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(pattern)
                self.listening.set()
                if lost:
                    log.warning("Redis is back: listening to other workers again")
                    self._sockets_missed_frames()
                    lost = False
                failures = 0
                await self._listen(pubsub, prefix_length)
            except (redis.RedisError, OSError) as error:
                self.listening.clear()
                if not lost:
                    log.error("lost Redis (%s): other workers' frames do not arrive", error)
                lost = True
                delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
                failures += 1
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _listen(self, pubsub: redis.asyncio.client.PubSub, prefix_length: int) -> None:
        """Hand the frames to this worker's sockets until the connection fails. A quiet
        connection is asked for a PONG: a Redis behind a partition neither answers nor closes
        it, and only a missing answer shows that (redis-py's own health check sends a PING on
        a pub/sub connection but never waits for its PONG)."""
        loop = asyncio.get_running_loop()
        pinged_at: float | None = None  # an unanswered PING's moment
        while True:
            wait = self.listen_quiet_s if pinged_at is None else self.pong_within_s
            message = await pubsub.get_message(timeout=wait)
            if message is not None:  # anything at all: the connection lives
                pinged_at = None
                if message["type"] == "pmessage":
                    self._deliver(message["channel"][prefix_length:], message["data"])
            elif pinged_at is None:
                await pubsub.ping(LISTENER_PING)
                pinged_at = loop.time()
            elif loop.time() - pinged_at >= self.pong_within_s:
                raise redis.ConnectionError(f"no PONG within {self.pong_within_s:g} s")

    def _deliver(self, conversation_id: str, data: str) -> None:
        try:
            envelope = json.loads(data)
            origin, frame = envelope["w"], envelope["f"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed frame on channel %s", conversation_id)
            return
        if origin != self.shared.worker:  # this worker's own were delivered when published
            super().publish(conversation_id, frame)

    def _sockets_missed_frames(self) -> None:
        """After an outage every socket may have missed frames: make them reconnect, which
        replays the transcript from the database."""
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.lagging.set()

    # -- who watches -------------------------------------------------------------------------

    def _watched(self) -> set[tuple[str, bool]]:
        """(conversation, by an agent) for every kind of socket this worker holds."""
        return {
            (channel, subscription.agent)
            for channel, subscriptions in self._subscriptions.items()
            for subscription in subscriptions
        }

    def _watch_key(self, conversation_id: str, agent: bool) -> str:
        return self.shared.key("watchers" if agent else "customer-watchers", conversation_id)

    def _added(self, conversation_id: str, subscription: Subscription) -> None:
        self._claim_watches([(conversation_id, subscription.agent)])

    def _removed(self, conversation_id: str, subscription: Subscription) -> None:
        if (conversation_id, subscription.agent) not in self._watched():
            self._forget_watches([(conversation_id, subscription.agent)])

    def _claim_watches(self, watches: list[tuple[str, bool]]) -> None:
        if not watches:
            return
        expires = time.time() + self.watch_ttl_s
        try:
            with self.shared.calls.pipeline(transaction=False) as pipe:
                for conversation_id, agent in watches:
                    key = self._watch_key(conversation_id, agent)
                    pipe.zadd(key, {self.shared.worker: expires})
                    pipe.expire(key, int(self.watch_ttl_s) + 1)
                pipe.execute()
        except redis.RedisError as error:
            log.warning("could not say which conversations are watched (Redis: %s)", error)

    def _forget_watches(self, watches: list[tuple[str, bool]]) -> None:
        try:
            with self.shared.calls.pipeline(transaction=False) as pipe:
                for conversation_id, agent in watches:
                    pipe.zrem(self._watch_key(conversation_id, agent), self.shared.worker)
                pipe.execute()
        except redis.RedisError as error:  # the claims lapse by themselves
            log.warning("could not withdraw watches (Redis: %s)", error)

    async def _renew_watches_forever(self) -> None:
        while True:
            await asyncio.sleep(self.watch_ttl_s / 3)
            self._claim_watches(sorted(self._watched()))

    def _watched_elsewhere(self, conversation_id: str, agent: bool) -> bool:
        try:
            watchers = self.shared.calls.zcount(
                self._watch_key(conversation_id, agent), time.time(), "+inf"
            )
        except redis.RedisError:
            return False  # what depends on it (typing frames, mail) could not reach them anyway
        return cast(int, watchers) > 0

    def agents_watching(self, conversation_id: str) -> bool:
        """An agent console has the conversation open on this worker or on another."""
        return super().agents_watching(conversation_id) or self._watched_elsewhere(
            conversation_id, agent=True
        )

    def customers_watching(self, conversation_id: str) -> bool:
        """The customer's widget has the conversation open on this worker or on another (an
        agent's reply pushed now is shown, so it is not mailed)."""
        return super().customers_watching(conversation_id) or self._watched_elsewhere(
            conversation_id, agent=False
        )
