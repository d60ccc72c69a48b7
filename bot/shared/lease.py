"""A lease in Redis: one worker among several does a job (reading the support mailbox) while
the others stand by, and one of them takes over when the holder stops renewing it.

``kefu:lease:<name>`` holds the holder's worker name for ``ttl_s``; the holder renews it each
time it asks (``SET NX PX``, else a compare-and-renew script), a worker stopping gives it back.
A killed holder's lease lapses after ``ttl_s``.

The lease saves work, it is not what keeps a job done once: when Redis does not answer, every
worker is told it holds the lease (a job must not stop because Redis did), so the job itself
must be safe to run twice at once (the inbox's unique Message-ID: docs/email.md#several-workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis

from bot.shared.redis import SharedRedis

log = logging.getLogger(__name__)

# Each round trip to Redis gives up after this long (a Redis behind a partition).
LEASE_CALL_TIMEOUT_S = 2.0

# Renew only the holder's own lease (another worker may hold it since ours lapsed).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    """``hold()`` says whether this worker holds the lease now (taking or renewing it)."""

    def __init__(self, shared: SharedRedis, name: str, ttl_s: float) -> None:
        self.shared = shared
        self.name = name
        self.key = shared.key("lease", name)
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._redis_lost = False

    async def hold(self) -> bool:
        """Whether this worker holds the lease for the next ``ttl_s``; True too when Redis does
        not answer (said once per outage)."""
        streams, worker = self.shared.streams, self.shared.worker
        try:
            async with asyncio.timeout(LEASE_CALL_TIMEOUT_S):
                taken = await streams.set(self.key, worker, nx=True, px=self.ttl_ms)
                held = bool(taken) or bool(
                    await streams.eval(_RENEW, 1, self.key, worker, str(self.ttl_ms))  # type: ignore[misc]
                )
        except (redis.RedisError, TimeoutError) as error:
            if not self._redis_lost:
                log.warning(
                    "lease %s: Redis does not answer (%s): this worker goes on as if it held it",
                    self.name,
                    str(error) or "timed out",
                )
            self._redis_lost = True
            return True
        self._redis_lost = False
        return held

    async def release(self) -> None:
        """Give the lease back if this worker holds it: another takes over at once."""
        with contextlib.suppress(redis.RedisError, TimeoutError):
            async with asyncio.timeout(LEASE_CALL_TIMEOUT_S):
                await self.shared.streams.eval(_RELEASE, 1, self.key, self.shared.worker)  # type: ignore[misc]
