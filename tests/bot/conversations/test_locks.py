"""A conversation's lock across workers, on a real Redis (tests/servers/redis.py): two
RedisLocks on one server, each on its own SharedRedis, are two workers."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis.asyncio

from bot.conversations.locks import LOCK_CALL_TIMEOUT_S, InProcessLocks, RedisLocks
from bot.shared.redis import SharedRedis
from tests.servers.redis import RedisServer


def workers(url: str, count: int = 2, ttl_s: float = 5.0) -> list[RedisLocks]:
    """The locks of ``count`` workers, each with its own connection as the service opens it."""
    return [RedisLocks(SharedRedis.open(url), ttl_s=ttl_s) for _ in range(count)]


async def holds_in_turn(locks: list[RedisLocks] | list[InProcessLocks]) -> list[str]:
    """Each of three tasks per worker holds conversation "c" for 20 ms; what they did, in
    order: every "in" followed by its own "out" means nobody held it at the same time."""
    trail: list[str] = []

    async def work(name: str, lock: RedisLocks | InProcessLocks) -> None:
        async with lock.hold("c"):
            trail.append(f"in {name}")
            await asyncio.sleep(0.02)
            trail.append(f"out {name}")

    await asyncio.gather(
        *(work(f"{w}.{t}", lock) for w, lock in enumerate(locks) for t in range(3))
    )
    return trail


def one_at_a_time(trail: list[str]) -> bool:
    return all(
        trail[i].startswith("in ") and trail[i + 1] == "out " + trail[i][3:]
        for i in range(0, len(trail), 2)
    )


def test_two_workers_never_hold_one_conversation_at_once(redis_url: str) -> None:
    trail = asyncio.run(holds_in_turn(workers(redis_url)))
    assert len(trail) == 12 and one_at_a_time(trail)
    assert {entry.split()[1].split(".")[0] for entry in trail} == {"0", "1"}


def test_other_conversations_do_not_wait(redis_url: str) -> None:
    first, second = workers(redis_url)

    async def scenario() -> float:
        async with first.hold("busy"):
            started = time.monotonic()
            async with second.hold("other"):
                return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.5


def test_a_lock_is_kept_while_its_holder_works_longer_than_its_lifetime(redis_url: str) -> None:
    first, second = workers(redis_url, ttl_s=0.3)

    async def scenario() -> list[str]:
        trail: list[str] = []

        async def long_work() -> None:
            async with first.hold("c"):
                trail.append("first in")
                await asyncio.sleep(1.0)  # three lifetimes of the lock
                trail.append("first out")

        async def wants_it() -> None:
            await asyncio.sleep(0.05)
            async with second.hold("c"):
                trail.append("second in")

        await asyncio.gather(long_work(), wants_it())
        return trail

    assert asyncio.run(scenario()) == ["first in", "first out", "second in"]


def test_a_lock_whose_worker_died_is_free_after_its_lifetime(redis_url: str) -> None:
    """A killed worker never releases: its lock expires, and another worker goes on."""

    async def scenario() -> float:
        client = redis.asyncio.Redis.from_url(redis_url)
        dead = client.lock("kefu:conversation-lock:c", timeout=0.5)
        assert await dead.acquire()  # taken, then the worker is gone: never renewed or released
        [survivor] = workers(redis_url, count=1)
        started = time.monotonic()
        async with survivor.hold("c"):
            return time.monotonic() - started

    waited = asyncio.run(scenario())
    assert 0.3 < waited < 2.0


def test_without_redis_a_worker_answers_under_its_own_lock(
    redis_url: str, redis_server: RedisServer
) -> None:
    locks = workers(redis_url, count=1)  # connected at start, then Redis is lost
    redis_server.stop()
    try:
        trail = asyncio.run(holds_in_turn(locks))
    finally:
        redis_server.start()
    assert len(trail) == 6 and one_at_a_time(trail)


def test_a_redis_that_stops_answering_costs_a_lock_a_bounded_wait(
    redis_url: str, redis_server: RedisServer
) -> None:
    """Behind a partition Redis neither answers nor closes the connection: the lock's round
    trip gives up after LOCK_CALL_TIMEOUT_S, and the worker answers under its
    own lock."""
    [locks] = workers(redis_url, count=1)

    async def scenario() -> float:
        async with locks.hold("warm"):  # the pool's connection is open before the freeze
            pass
        with redis_server.frozen():
            started = time.monotonic()
            async with locks.hold("c"):
                return time.monotonic() - started

    waited = asyncio.run(asyncio.wait_for(scenario(), 10))  # without a bound: TimeoutError
    assert LOCK_CALL_TIMEOUT_S * 0.9 < waited < LOCK_CALL_TIMEOUT_S + 1.5


def test_in_process_locks_hold_one_task_at_a_time() -> None:
    trail = asyncio.run(holds_in_turn([InProcessLocks()]))
    assert len(trail) == 6 and one_at_a_time(trail)


def test_a_lock_kept_while_its_holder_works_is_not_lost(redis_url: str) -> None:
    [locks] = workers(redis_url, count=1, ttl_s=0.3)

    async def scenario() -> bool:
        async with locks.hold("c") as held:
            await asyncio.sleep(1.0)  # three lifetimes
            return held.lost.is_set()

    assert asyncio.run(scenario()) is False


def test_a_lock_another_worker_took_is_lost_and_said_so(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The lock lapsed (say the worker stalled) and another worker took it: the holder's next
    renewal finds it gone, says so at ERROR, and the holder can see it."""
    [locks] = workers(redis_url, count=1, ttl_s=0.3)

    async def scenario() -> bool:
        client = redis.asyncio.Redis.from_url(redis_url)
        async with locks.hold("c") as held:
            await client.set("kefu:conversation-lock:c", "another worker's token", px=300)
            await asyncio.wait_for(held.lost.wait(), 2.0)
            lost = held.lost.is_set()
        assert await client.get("kefu:conversation-lock:c") == b"another worker's token"
        await client.aclose()
        return lost

    with caplog.at_level(logging.ERROR, logger="bot.conversations.locks"):
        assert asyncio.run(scenario()) is True
    assert any("lock lost" in r.getMessage() for r in caplog.records)


def test_a_lock_redis_does_not_renew_for_a_lifetime_is_lost(
    redis_url: str, redis_server: RedisServer
) -> None:
    [locks] = workers(redis_url, count=1, ttl_s=0.6)

    async def scenario() -> tuple[bool, float]:
        async with locks.hold("c") as held:
            started = time.monotonic()
            with redis_server.frozen():
                await asyncio.wait_for(held.lost.wait(), 3.0)
            return held.lost.is_set(), time.monotonic() - started

    lost, after = asyncio.run(scenario())
    assert lost and after < LOCK_CALL_TIMEOUT_S  # about its lifetime, not a call timeout
