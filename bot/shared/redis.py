"""The service's connection to Redis: one per worker, opened at start-up.

Two clients over the same URL, on purpose:

- ``streams``, redis-py's asyncio client, for what runs in the event loop: the hub's
  publisher and its one pub/sub listener, and each conversation's lock
  (bot/conversations/locks.py). Its socket timeout (``STREAM_TIMEOUT_S``) bounds a round trip
  to a Redis that went silent; the listener's waits for a frame pass their own timeout, which
  redis-py reads instead, so the socket timeout does not cut them.
- ``calls``, the blocking client, for one-round-trip look-ups: the presence's, which the
  desk makes in worker threads (in the event loop, behind a partition, each call would stall
  every socket and the lock keepers for its whole timeout), and the login throttle's. Short
  socket timeouts bound a lost Redis to ``CALL_TIMEOUT_S`` per call.

``breaker`` is shared by the request-path calls (who watches a conversation, presence): after
one fails, they skip Redis for ``BREAKER_OPEN_S`` and answer a safe default, so a dead Redis
costs a request nothing rather than a timeout each (docs/scaling.md#faults).

Both check a connection idle for ``HEALTH_CHECK_S`` with a PING before using it again, and
ask the kernel for TCP keepalives, so a connection cut without a word (a partition, a NAT
that forgot it) is found out rather than trusted (docs/scaling.md#faults).

``worker`` names this process among the workers sharing the Redis (in keys and frames).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio

log = logging.getLogger(__name__)

KEY_PREFIX = "kefu:"
CALL_TIMEOUT_S = 0.5  # a request-path call to a lost Redis fails after this long
CONNECT_TIMEOUT_S = 2.0
STREAM_TIMEOUT_S = 2.0  # a round trip of the event loop's client (publish, a lock's call)
BREAKER_OPEN_S = 3.0  # after a failed request-path call, Redis is not asked for this long
HEALTH_CHECK_S = 10  # a connection idle this long is PINGed before its next command
# TCP keepalive: the first probe after 30 s of silence, then every 10 s, dead after 3 unanswered
# (Linux's defaults wait two hours). Where the options are unknown, the system's are kept.
KEEPALIVE_OPTIONS = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}


class RedisUnavailableError(RuntimeError):
    """Redis could not be reached; the message names the URL with its password masked."""


def masked_redis_url(url: str) -> str:
    """A Redis URL with any password replaced by ``***``, for logs and error messages (database
    URLs: ``db.engine.masked_url``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class RedisBreaker:
    """A circuit breaker: ``failed()`` opens it for ``open_s``, during which the calls it
    guards are not made (their callers answer a safe default); the first call after that tries
    Redis again."""

    def __init__(self, open_s: float = BREAKER_OPEN_S) -> None:
        self.open_s = open_s
        self._open_until = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() < self._open_until

    def failed(self) -> None:
        if not self.open:
            log.warning("Redis calls skipped for %g s after a failure", self.open_s)
        self._open_until = time.monotonic() + self.open_s

    def succeeded(self) -> None:
        self._open_until = 0.0


def _worker_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class SharedRedis:
    """This worker's clients; ``open`` checks that Redis answers before the service starts."""

    url: str
    calls: redis.Redis
    streams: redis.asyncio.Redis
    worker: str = field(default_factory=_worker_name)
    breaker: RedisBreaker = field(default_factory=RedisBreaker)

    @classmethod
    def open(cls, url: str) -> SharedRedis:
        """Connect and PING; raises RedisUnavailableError naming the (masked) URL."""
        try:
            calls = redis.Redis.from_url(
                url,
                socket_timeout=CALL_TIMEOUT_S,
                socket_connect_timeout=CALL_TIMEOUT_S,
                socket_keepalive=True,
                socket_keepalive_options=KEEPALIVE_OPTIONS,
                health_check_interval=HEALTH_CHECK_S,
                decode_responses=True,
            )
            streams = redis.asyncio.Redis.from_url(
                url,
                socket_timeout=STREAM_TIMEOUT_S,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_keepalive=True,
                socket_keepalive_options=KEEPALIVE_OPTIONS,
                health_check_interval=HEALTH_CHECK_S,
                decode_responses=True,
            )
        except ValueError as error:  # not a redis://, rediss:// or unix:// URL
            raise RedisUnavailableError(
                f"REDIS_URL {masked_redis_url(url)} is not valid: {error}"
            ) from None
        try:
            calls.ping()
        except redis.RedisError as error:
            calls.close()
            raise RedisUnavailableError(
                f"Redis at {masked_redis_url(url)} (REDIS_URL) does not answer: {error}. Start "
                "Redis, or unset REDIS_URL to run a single worker without it."
            ) from None
        shared = cls(url, calls, streams)
        log.info(
            "shared state in Redis at %s, this worker %s", masked_redis_url(url), shared.worker
        )
        return shared

    def key(self, *parts: str | int) -> str:
        return KEY_PREFIX + ":".join(str(part) for part in parts)

    def ping(self) -> str | None:
        """None when Redis answers, else what went wrong (for the health endpoint)."""
        try:
            self.calls.ping()
        except redis.RedisError as error:
            return f"{type(error).__name__}: {error}"
        return None

    async def aclose(self) -> None:
        await self.streams.aclose()
        self.calls.close()
