"""Agents' presence shared by every service worker through Redis.

- ``kefu:presence:chosen``, a hash: agent id → the status they chose (kept until changed,
  across restarts).
- ``kefu:presence:live``, a sorted set: agent id → until when (Unix time) their console
  counts as live. Opening, closing and a heartbeat each push it to *now + timeout*, never
  back (``ZADD GT``): a console open on any worker is renewed every ``timeout / 3`` by its
  worker's heartbeat; a closed one, or one whose worker was killed, stays live for the
  ``timeout`` after it was last seen, as a reload's grace.

The interface stays synchronous: each call is one round trip on the blocking client with a
short timeout (bot/shared/redis.py), which the desk makes in a worker thread (``blocking``),
never in the event loop. After a call fails, the shared breaker keeps Redis unasked for a few
seconds: ``available`` and ``state`` answer what Redis last said (``available`` only while that
is younger than the timeout; else nobody, so new chats wait as tickets and customers are told
so), the console's calls are skipped (the heartbeat says it again once Redis is back), and
``choose`` or a state never read raise ``redis.RedisError``, which the API answers with 503.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

import redis

from bot.handoff.presence import (
    DEFAULT_TIMEOUT,
    AgentPresence,
    AgentPresenceState,
    PresenceStatus,
)
from bot.shared.redis import SharedRedis

log = logging.getLogger(__name__)

FORGET_AFTER = timedelta(days=1)  # a console silent this long leaves the sorted set
MAX_HEARTBEAT_S = 10.0


class RedisPresence(AgentPresence):
    """``AgentPresence`` in Redis, with this worker's open consoles renewed by a heartbeat
    thread (``start`` / ``stop``)."""

    blocking = True

    def __init__(self, shared: SharedRedis, timeout: timedelta = DEFAULT_TIMEOUT) -> None:
        self.shared = shared
        self.timeout = timeout
        self._chosen_key = shared.key("presence", "chosen")
        self._live_key = shared.key("presence", "live")
        self._lock = threading.Lock()
        self._open: dict[int, int] = {}  # this worker's console sockets by agent
        self._stopping = threading.Event()
        self._heartbeat: threading.Thread | None = None
        # What Redis last said, answered while the breaker is open: (when, agents available)
        # and each agent's state.
        self._last_available: tuple[float, list[int]] | None = None
        self._last_state: dict[int, AgentPresenceState] = {}

    # -- this worker's heartbeat -------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._heartbeat = threading.Thread(
            target=self._renew_forever, name="presence-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
            self._heartbeat = None

    def _renew_forever(self) -> None:
        every_s = min(self.timeout.total_seconds() / 3, MAX_HEARTBEAT_S)
        while not self._stopping.wait(every_s):
            with self._lock:
                agents = [agent for agent, sockets in self._open.items() if sockets > 0]
            try:
                self._seen(agents, datetime.now().astimezone())
            except redis.RedisError as error:
                log.warning("presence heartbeat failed (Redis: %s)", error)

    def _guard(self) -> None:
        """Raise at once while the breaker is open (a dead Redis costs nothing per call)."""
        if self.shared.breaker.open:
            raise redis.ConnectionError("Redis failed a moment ago; not asked again yet")

    def _seen(self, agents: list[int], now: datetime) -> None:
        if not agents:
            return
        self._guard()
        until = (now + self.timeout).timestamp()
        with self.shared.calls.pipeline(transaction=False) as pipe:
            pipe.zadd(self._live_key, {str(agent): until for agent in agents}, gt=True)
            pipe.zremrangebyscore(self._live_key, "-inf", (now - FORGET_AFTER).timestamp())
            pipe.execute()

    # -- the interface -----------------------------------------------------------------------

    def _failed(self, error: redis.RedisError) -> None:
        if not self.shared.breaker.open:  # not a call the breaker itself refused
            self.shared.breaker.failed()

    def choose(self, agent_id: int, status: PresenceStatus, now: datetime) -> AgentPresenceState:
        self._guard()
        try:
            self.shared.calls.hset(self._chosen_key, str(agent_id), status)
        except redis.RedisError as error:
            self._failed(error)
            raise
        return self.state(agent_id, now)

    def console_opened(self, agent_id: int, now: datetime) -> None:
        with self._lock:
            self._open[agent_id] = self._open.get(agent_id, 0) + 1
        self._seen_or_log(agent_id, now)

    def console_closed(self, agent_id: int, now: datetime) -> None:
        with self._lock:
            left = self._open.get(agent_id, 0) - 1
            if left > 0:
                self._open[agent_id] = left
            else:
                self._open.pop(agent_id, None)
        self._seen_or_log(agent_id, now)

    def _seen_or_log(self, agent_id: int, now: datetime) -> None:
        try:
            self._seen([agent_id], now)
        except redis.RedisError as error:  # the heartbeat says it again once Redis is back
            self._failed(error)
            log.warning("presence of agent %s not recorded (Redis: %s)", agent_id, error)

    def state(self, agent_id: int, now: datetime) -> AgentPresenceState:
        try:
            self._guard()
            with self.shared.calls.pipeline(transaction=False) as pipe:
                pipe.hget(self._chosen_key, str(agent_id))
                pipe.zscore(self._live_key, str(agent_id))
                chosen, until = pipe.execute()
        except redis.RedisError as error:
            self._failed(error)
            last = self._last_state.get(agent_id)
            if last is None:
                raise
            return last
        self.shared.breaker.succeeded()
        live = until is not None and float(until) > now.timestamp()
        state = self._last_state[agent_id] = AgentPresenceState(agent_id, chosen or "online", live)
        return state

    def available(self, now: datetime) -> list[int]:
        try:
            self._guard()
            with self.shared.calls.pipeline(transaction=False) as pipe:
                pipe.zrangebyscore(self._live_key, f"({now.timestamp()}", "+inf")
                pipe.hgetall(self._chosen_key)
                live, chosen = pipe.execute()
        except redis.RedisError as error:
            self._failed(error)
            last = self._last_available
            if last is not None and time.monotonic() - last[0] < self.timeout.total_seconds():
                return list(last[1])
            log.warning("no agent counted online: Redis is unavailable (%s)", error)
            return []
        self.shared.breaker.succeeded()
        agents = sorted(int(agent) for agent in live if chosen.get(agent, "online") == "online")
        self._last_available = (time.monotonic(), agents)
        return agents


__all__ = ["RedisPresence"]
