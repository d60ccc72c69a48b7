"""One conversation answered by one task at a time, across every service worker.

The gateway answers a conversation's messages in order, one at a time, holding its lock while
it reads what the bot owes, asks Rasa and stores the answer: that is what keeps one message
from being answered twice (by a request and the redelivery loop, or by two workers after one
died). In one process an ``asyncio.Lock`` per conversation does it (``InProcessLocks``, the
embedded default); several workers share a Redis lock per conversation (``RedisLocks``, when
``REDIS_URL`` is set).

A Redis lock lives ``ttl_s`` seconds and its holder renews it every third of that while it
works, so a worker killed while holding one (``kill -9``) keeps that conversation waiting at
most ``ttl_s``; the other conversations do not wait at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

log = logging.getLogger(__name__)

LOCK_TTL_S = 5.0
LOCK_PREFIX = "kefu:conversation-lock:"


class ConversationLocks(Protocol):
    def hold(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """Held by one task (of any worker) at a time for the conversation."""
        ...


class InProcessLocks:
    """An ``asyncio.Lock`` per conversation, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        async with lock:
            yield


class RedisLocks:
    """A Redis lock per conversation (redis-py's, on the asyncio client), taken behind this
    worker's own ``asyncio.Lock`` so that a worker's tasks queue in memory rather than poll
    Redis. If Redis does not answer, the conversation is answered under the worker's lock
    alone (logged): customers keep their answers while Redis is away, at the risk of a double
    answer only if another worker answers the same conversation at that moment."""

    def __init__(self, client: Any, ttl_s: float = LOCK_TTL_S, poll_s: float = 0.02) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._poll_s = poll_s
        self._local = InProcessLocks()

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        from redis.exceptions import LockError, RedisError

        async with self._local.hold(conversation_id):
            lock = self._client.lock(
                LOCK_PREFIX + conversation_id, timeout=self._ttl_s, sleep=self._poll_s
            )
            try:
                await lock.acquire()
            except RedisError as error:
                log.warning(
                    "Redis lock of conversation %s not taken (%r): answering under this "
                    "worker's lock alone",
                    conversation_id,
                    error,
                )
                lock = None
            keeper = asyncio.create_task(self._keep(lock)) if lock is not None else None
            try:
                yield
            finally:
                if keeper is not None:
                    keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeper
                    with contextlib.suppress(LockError, RedisError):
                        await lock.release()

    async def _keep(self, lock: Any) -> None:
        """Renew the lock's lifetime while its holder works."""
        from redis.exceptions import LockError, RedisError

        while True:
            await asyncio.sleep(self._ttl_s / 3)
            try:
                await lock.reacquire()
            except (LockError, RedisError) as error:
                log.warning("conversation lock not renewed: %r", error)


def conversation_locks(redis_url: str | None) -> ConversationLocks:
    """Redis locks on ``redis_url`` (several workers), else this process's own."""
    if not redis_url:
        return InProcessLocks()
    import redis.asyncio

    # Short timeouts: a lost Redis costs a message a second or two, then the worker's own lock.
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    return RedisLocks(client)
