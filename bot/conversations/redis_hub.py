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
worker's claims lapse within ``WATCH_TTL_S``. One task writes the claims (a socket's subscribe
and unsubscribe only wake it), and the look-ups are awaited on the asyncio client, bounded by
``CALL_TIMEOUT_S`` and skipped while the shared breaker is open: no call on the request path
blocks the event loop, and a dead Redis costs a look-up nothing (docs/scaling.md#faults).

When Redis is lost, publishing logs and drops frames for other workers (never raises into a
request: the messages are stored, and the database is the transcript), and the listener
reconnects with backoff. A Redis that goes silent without closing the connection (a network
partition) counts as lost: a publish gives up after ``PUBLISH_TIMEOUT_S``, and the listener,
when no frame has come for a while, PINGs on its connection and reconnects when no PONG
follows. Back, it closes its customers' sockets as lagging: the widget
reconnects and replays from the database what it missed (docs/scaling.md#redis). The frames
the publisher had to drop are recovered the same way: once it publishes again, it sends a
resync marker on each conversation it dropped frames of (or one for all, past
``MAX_MISSED_CHANNELS``), and the other workers' sockets of those conversations turn lagging.
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
from bot.shared.redis import CALL_TIMEOUT_S, SharedRedis
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
# Past this many conversations with dropped frames, one marker makes every socket resync.
MAX_MISSED_CHANNELS = 1000
RESYNC_ALL = "*resync*"  # the channel of that marker (no conversation or channel is so named)
RESYNC_RETRY_S = 1.0  # with resyncs owed and nothing to publish, the publisher tries this often
LISTENER_RESTART_S = 1.0  # a listener that died of a bug starts again after this long


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
        # Conversations (Redis channels) whose frames were dropped, owed a resync marker;
        # None: too many to name, every socket resyncs.
        self._missed: set[str] | None = set()
        self._claimed: set[tuple[str, bool]] = set()  # the watches written to Redis
        self._watches_changed = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._closing = False
        # Set while the listener's subscription is live (tests and health wait on it).
        self.listening = asyncio.Event()

    def _channel(self, channel: str) -> str:
        return self.shared.key(CHANNEL_PREFIX + channel)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._publish_forever(), name="hub-publisher"),
            asyncio.create_task(self._write_watches_forever(), name="hub-watches"),
        ]
        self._start_listener(after_failure=False)

    def _start_listener(self, after_failure: bool = True) -> None:
        if self._closing:
            return
        self._listener = asyncio.create_task(
            self._listen_forever(after_failure), name="hub-listener"
        )
        self._listener.add_done_callback(self._listener_ended)
        self._tasks.append(self._listener)

    def _listener_ended(self, task: asyncio.Task[None]) -> None:
        """The listener only ends by a bug (it survives a lost Redis): say so, and start it
        again (its sockets resync once it listens, as after an outage)."""
        if task.cancelled() or self._closing:
            return
        self.listening.clear()
        log.error("the hub's listener died; restarting it", exc_info=task.exception())
        self._tasks.remove(task)
        asyncio.get_running_loop().call_later(LISTENER_RESTART_S, self._start_listener)

    @property
    def listener_running(self) -> bool:
        """The listener task is alive (the health endpoint reports it)."""
        return self._listener is not None and not self._listener.done()

    async def aclose(self) -> None:
        self._closing = True
        for task in self._tasks:
            await stopped(task)
        self._tasks = []
        with contextlib.suppress(redis.RedisError, TimeoutError):
            async with asyncio.timeout(CALL_TIMEOUT_S):
                await self._write_watches(set(), self._claimed)  # the claims lapse otherwise

    # -- publishing --------------------------------------------------------------------------

    def publish(self, conversation_id: str, frame: dict[str, Any]) -> None:
        super().publish(conversation_id, frame)  # this worker's sockets, at once
        payload = json.dumps({"w": self.shared.worker, "f": frame}, ensure_ascii=False)
        try:
            self._outbox.put_nowait((self._channel(conversation_id), payload))
        except asyncio.QueueFull:
            self._missed_frames_of(self._channel(conversation_id))
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

    def _missed_frames_of(self, channel: str) -> None:
        if self._missed is not None:
            self._missed.add(channel)
            if len(self._missed) > MAX_MISSED_CHANNELS:
                self._missed = None

    async def _publish_forever(self) -> None:
        unsent = 0  # frames of the current outage
        while True:
            owed = self._missed is None or bool(self._missed)
            try:
                async with asyncio.timeout(RESYNC_RETRY_S if owed else None):
                    channel, payload = await self._outbox.get()
            except TimeoutError:  # nothing to publish: the resyncs owed are tried on their own
                await self._send_resyncs()
                continue
            try:
                await self._send(channel, payload)
            except (redis.RedisError, TimeoutError) as error:
                # The message is stored; other workers' sockets replay it when they resync.
                self._missed_frames_of(channel)
                if not unsent:
                    reason = str(error) or f"no answer within {PUBLISH_TIMEOUT_S:g} s"
                    log.warning("frames not sent to other workers (Redis: %s)", reason)
                unsent += 1
                continue
            if unsent:
                log.warning("publishing again: %d frames were not sent to other workers", unsent)
                unsent = 0
            await self._send_resyncs()

    async def _send(self, channel: str, payload: str) -> None:
        # redis-py retries a lost connection itself: this bounds the whole of it.
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await self.shared.streams.publish(channel, payload)

    async def _send_resyncs(self) -> None:
        """Tell the other workers' sockets of each conversation whose frames were dropped to
        reconnect and replay from the database (one marker for all when there were many)."""
        missed, self._missed = self._missed, set()
        channels = [self._channel(RESYNC_ALL)] if missed is None else sorted(missed)
        marker = json.dumps({"w": self.shared.worker, "resync": True})
        for sent, channel in enumerate(channels):
            try:
                await self._send(channel, marker)
            except (redis.RedisError, TimeoutError):
                for unsent in channels[sent:]:  # owed still (tried again in a while)
                    self._missed_frames_of(unsent)
                return
        if channels:
            log.warning("resync sent for %d conversations whose frames were dropped", len(channels))

    # -- listening ---------------------------------------------------------------------------

    async def _listen_forever(self, after_failure: bool) -> None:
        pattern = self._channel("*")
        prefix_length = len(pattern) - 1
        failures = 0
        lost = after_failure
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
            origin = envelope["w"]
            frame = None if envelope.get("resync") else envelope["f"]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed frame on channel %s", conversation_id)
            return
        if origin == self.shared.worker:  # this worker's own were delivered when published
            return
        if frame is not None:
            super().publish(conversation_id, frame)
        elif conversation_id == RESYNC_ALL:
            self._sockets_missed_frames()
        else:  # the publisher dropped frames of this conversation
            for subscription in self._subscriptions.get(conversation_id, ()):
                subscription.lagging.set()

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
        self._watches_changed.set()  # written by the watches' task, off the request

    def _removed(self, conversation_id: str, subscription: Subscription) -> None:
        self._watches_changed.set()

    async def _write_watches_forever(self) -> None:
        """Claims the watches of this worker's sockets when they open, renews them every
        third of the TTL and withdraws them when they close: one task, so claims and
        withdrawals reach Redis in order; with Redis lost, tried again at the next change or
        renewal (a claim not withdrawn lapses by itself)."""
        renew_at = 0.0
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(renew_at - loop.time(), 0)):
                    await self._watches_changed.wait()
            self._watches_changed.clear()
            watched = self._watched()
            renewing = loop.time() >= renew_at
            if renewing:
                renew_at = loop.time() + self.watch_ttl_s / 3
            claim = watched if renewing else watched - self._claimed
            try:
                async with asyncio.timeout(CALL_TIMEOUT_S):
                    await self._write_watches(claim, self._claimed - watched)
            except (redis.RedisError, TimeoutError) as error:
                log.warning("could not say which conversations are watched (Redis: %s)", error)
                continue
            self._claimed = watched

    async def _write_watches(
        self, claim: set[tuple[str, bool]], withdraw: set[tuple[str, bool]]
    ) -> None:
        if not (claim or withdraw):
            return
        expires = time.time() + self.watch_ttl_s
        async with self.shared.streams.pipeline(transaction=False) as pipe:
            for conversation_id, agent in sorted(claim):
                key = self._watch_key(conversation_id, agent)
                pipe.zadd(key, {self.shared.worker: expires})
                pipe.expire(key, int(self.watch_ttl_s) + 1)
            for conversation_id, agent in sorted(withdraw):
                pipe.zrem(self._watch_key(conversation_id, agent), self.shared.worker)
            await pipe.execute()

    async def _watched_elsewhere(self, conversation_id: str, agent: bool, unknown: bool) -> bool:
        """Whether another worker has such a socket; ``unknown`` when Redis does not say (at
        once while the breaker is open)."""
        breaker = self.shared.breaker
        if breaker.open:
            return unknown
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                watchers = await self.shared.streams.zcount(
                    self._watch_key(conversation_id, agent), time.time(), "+inf"
                )
        except (redis.RedisError, TimeoutError):
            breaker.failed()
            return unknown
        breaker.succeeded()
        return cast(int, watchers) > 0

    async def agents_watching(self, conversation_id: str) -> bool:
        """An agent console has the conversation open on this worker or on another; without
        an answer from Redis, yes (a typing frame sent for nobody costs nothing)."""
        return await super().agents_watching(conversation_id) or await self._watched_elsewhere(
            conversation_id, agent=True, unknown=True
        )

    async def customers_watching(self, conversation_id: str) -> bool:
        """The customer's widget has the conversation open on this worker or on another (an
        agent's reply pushed now is shown, so it is not mailed); without an answer from
        Redis, no (the reply is mailed after its grace rather than perhaps never seen)."""
        return await super().customers_watching(conversation_id) or await self._watched_elsewhere(
            conversation_id, agent=False, unknown=False
        )
