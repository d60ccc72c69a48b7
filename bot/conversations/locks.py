"""One conversation answered by one task at a time, across every service worker.

The gateway answers a conversation's messages in order, one at a time, holding its lock while
it reads what the bot owes, asks Rasa and stores the answer: that is what keeps one message
from being answered twice (by a request and the redelivery loop, or by two workers after one
died). In one process an ``asyncio.Lock`` per conversation does it (``InProcessLocks``, the
embedded default); several workers share a Redis lock per conversation (``RedisLocks``, when
``REDIS_URL`` is set).

A Redis lock lives ``ttl_s`` seconds and its holder renews it a third of that after the last
renewal that succeeded (after a failed one, again soon) while it works, so a worker killed
while holding one (``kill -9``) keeps that conversation waiting at most ``ttl_s``; the other
conversations do not wait at all. A lock can still lapse under its holder (Redis unreachable
for a whole lifetime, or the worker's event loop stalled): that is logged at ERROR and set on
the ``HeldLock`` the holder got. What keeps one answer per message even then is the database:
the bot's answer is stored only while its message is still owed, read under the message's row
lock (``ConversationStore.store_answer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from redis.asyncio.lock import Lock
from redis.exceptions import LockError, LockNotOwnedError, RedisError

from bot.shared.redis import SharedRedis

log = logging.getLogger(__name__)

LOCK_TTL_S = 5.0
# One round trip of the lock's (take, renew, release) to a Redis that has stopped answering,
# behind a network partition say, gives up after this long.
LOCK_CALL_TIMEOUT_S = 2.0


class HeldLock:
    """A conversation's lock as its holder has it: ``lost`` is set if it lapsed while held (not
    renewed for a whole lifetime, or another worker has it now), after which another task may
    hold the conversation too."""

    def __init__(self) -> None:
        self.lost = asyncio.Event()


class ConversationLocks(Protocol):
    def hold(self, conversation_id: str) -> AbstractAsyncContextManager[HeldLock]:
        """Held by one task (of any worker) at a time for the conversation."""
        ...


class InProcessLocks:
    """An ``asyncio.Lock`` per conversation, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[HeldLock]:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        async with lock:
            yield HeldLock()  # never lost: it lives as long as its holder


class RedisLocks:
    """A Redis lock per conversation (redis-py's, on the worker's asyncio client,
    ``SharedRedis.streams``, each round trip bounded by ``LOCK_CALL_TIMEOUT_S``), taken behind this
    worker's own ``asyncio.Lock`` so that a worker's tasks queue in memory rather than poll
    Redis. Its key is ``kefu:conversation-lock:<conversation id>``. If Redis does not answer,
    the conversation is answered under the worker's lock alone (logged): customers keep their
    answers while Redis is away, at the risk of a double answer only if another worker answers
    the same conversation at that moment."""

    def __init__(
        self, shared: SharedRedis, ttl_s: float = LOCK_TTL_S, poll_s: float = 0.02
    ) -> None:
        self._shared = shared
        self._ttl_s = ttl_s
        self._poll_s = poll_s
        self._local = InProcessLocks()

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[HeldLock]:
        async with self._local.hold(conversation_id) as held:
            taken = await self._take(conversation_id)
            lock = taken[0] if taken is not None else None
            keeper = (
                asyncio.create_task(self._keep(conversation_id, *taken, held))
                if taken is not None
                else None
            )
            try:
                yield held
            finally:
                if keeper is not None and lock is not None:
                    keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeper
                    with contextlib.suppress(LockError, RedisError, TimeoutError):
                        async with asyncio.timeout(LOCK_CALL_TIMEOUT_S):
                            await lock.release()

    async def _take(self, conversation_id: str) -> tuple[Lock, float] | None:
        """The conversation's Redis lock, held, and when it was asked for (its lifetime runs
        from no earlier); None when Redis does not answer. Each try is one bounded round trip
        (``SET NX``), then a short sleep while another worker holds it."""
        lock = self._shared.streams.lock(
            self._shared.key("conversation-lock", conversation_id), timeout=self._ttl_s
        )
        loop = asyncio.get_running_loop()
        try:
            while True:
                asked = loop.time()
                async with asyncio.timeout(LOCK_CALL_TIMEOUT_S):
                    if await lock.acquire(blocking=False):
                        return lock, asked
                await asyncio.sleep(self._poll_s)
        except (RedisError, TimeoutError) as error:
            log.warning(
                "Redis lock of conversation %s not taken (%r): answering under this "
                "worker's lock alone",
                conversation_id,
                error,
            )
            return None

    async def _keep(self, conversation_id: str, lock: Lock, renewed: float, held: HeldLock) -> None:
        """Renew the lock's lifetime while its holder works: a third of a lifetime after the
        last renewal that succeeded (``renewed``, on the loop's clock, when it was asked for),
        and after a failed one again soon, each try bounded by the life the lock has left.
        Lost once another worker has it or a whole lifetime passed without a renewal: said at
        ERROR and on ``held``, and no longer renewed."""
        loop = asyncio.get_running_loop()
        retry_s = self._ttl_s / 10
        next_try = renewed + self._ttl_s / 3
        while True:
            await asyncio.sleep(max(0.0, next_try - loop.time()))
            asked = loop.time()
            left_s = renewed + self._ttl_s - asked
            try:
                if left_s <= 0:
                    raise TimeoutError("not renewed for a whole lifetime")
                async with asyncio.timeout(min(LOCK_CALL_TIMEOUT_S, left_s)):
                    await lock.reacquire()
            except LockNotOwnedError as error:
                self._lost(conversation_id, held, error)
                return
            except (LockError, RedisError, TimeoutError) as error:
                if loop.time() >= renewed + self._ttl_s:
                    self._lost(conversation_id, held, error)
                    return
                log.warning(
                    "conversation %s: lock not renewed (%r), trying again", conversation_id, error
                )
                next_try = loop.time() + retry_s
                continue
            renewed = asked
            next_try = renewed + self._ttl_s / 3

    @staticmethod
    def _lost(conversation_id: str, held: HeldLock, error: BaseException) -> None:
        log.error(
            "conversation %s: lock lost while held (%r); another worker may answer it too, and "
            "only the first answer to each message is stored",
            conversation_id,
            error,
        )
        held.lost.set()


def conversation_locks(shared: SharedRedis | None) -> ConversationLocks:
    """Redis locks on the workers' shared Redis (several workers), else this process's own."""
    return RedisLocks(shared) if shared is not None else InProcessLocks()
