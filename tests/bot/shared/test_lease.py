"""The lease of one job among workers, on a real Redis (tests/servers/redis.py): one holds it,
the others stand by, and it passes on when the holder gives it back or stops renewing it."""

from __future__ import annotations

import asyncio

from bot.shared.lease import RedisLease
from bot.shared.redis import SharedRedis
from tests.servers.redis import RedisServer


def test_one_worker_holds_the_lease_and_it_passes_on_when_given_back(redis_url: str) -> None:
    async def scenario() -> list[bool]:
        one, two = SharedRedis.open(redis_url), SharedRedis.open(redis_url)
        first, second = RedisLease(one, "job", 10.0), RedisLease(two, "job", 10.0)
        try:
            seen = [await first.hold(), await second.hold(), await first.hold()]  # renewed
            await second.release()  # not its own: nothing happens
            seen.append(await second.hold())
            await first.release()
            seen += [await second.hold(), await first.hold()]
            return seen
        finally:
            await one.aclose()
            await two.aclose()

    assert asyncio.run(scenario()) == [True, False, True, False, True, False]


def test_a_lease_nobody_renews_lapses_and_one_renewed_in_time_does_not(redis_url: str) -> None:
    async def scenario() -> list[bool]:
        killed, holder, other = (SharedRedis.open(redis_url) for _ in range(3))
        try:
            await RedisLease(killed, "a", 0.4).hold()  # taken, then its worker was killed
            await RedisLease(holder, "b", 0.4).hold()
            seen = [await RedisLease(other, "a", 0.4).hold()]
            for _ in range(4):  # 0.8 s, renewed every 0.2 s
                await asyncio.sleep(0.2)
                await RedisLease(holder, "b", 0.4).hold()
            seen.append(await RedisLease(other, "b", 0.4).hold())  # renewed: still the holder's
            seen.append(await RedisLease(other, "a", 0.4).hold())  # lapsed: the other's now
            return seen
        finally:
            for shared in (killed, holder, other):
                await shared.aclose()

    assert asyncio.run(scenario()) == [False, False, True]


def test_without_redis_every_worker_goes_on_as_if_it_held_the_lease(
    redis_url: str, redis_server: RedisServer
) -> None:
    async def scenario() -> list[bool]:
        one, two = SharedRedis.open(redis_url), SharedRedis.open(redis_url)
        first, second = RedisLease(one, "job", 10.0), RedisLease(two, "job", 10.0)
        try:
            seen = [await first.hold(), await second.hold()]
            redis_server.stop()
            seen += [await first.hold(), await second.hold()]
            redis_server.start()
            return seen
        finally:
            await one.aclose()
            await two.aclose()

    assert asyncio.run(scenario()) == [True, False, True, True]
