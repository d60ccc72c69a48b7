"""Two service workers' hubs over one real Redis (tests/servers/redis.py): frames cross,
in order; who watches a conversation is known everywhere; a lost Redis is survived."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.conversations.hub import Subscription
from bot.conversations.redis_hub import PUBLISH_TIMEOUT_S, RedisConversationHub
from bot.shared.redis import SharedRedis
from tests.servers.redis import RedisServer


@asynccontextmanager
async def worker_hub(url: str, **options: Any) -> AsyncIterator[RedisConversationHub]:
    """A hub with its own connections, as a separate worker process has."""
    hub = RedisConversationHub(SharedRedis.open(url), **options)
    hub.start()
    await asyncio.wait_for(hub.listening.wait(), 5)
    try:
        yield hub
    finally:
        await hub.aclose()
        await hub.shared.aclose()


async def frames(subscription: Subscription, count: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(subscription.frames.get(), 5) for _ in range(count)]


async def eventually(check: Callable[[], bool], timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the timeout"
        await asyncio.sleep(0.02)


def test_a_frame_published_on_one_worker_reaches_a_socket_on_the_other_in_order(
    redis_url: str,
) -> None:
    async def scenario() -> tuple[list[Any], list[Any], int]:
        async with worker_hub(redis_url) as one, worker_hub(redis_url) as two:
            with one.subscribe("c1") as customer, two.subscribe("c1") as agent:
                for n in range(200):
                    (two if n % 2 else one).publish("c1", {"type": "message", "n": n})
                got_one = [f["n"] for f in await frames(customer, 200)]
                got_two = [f["n"] for f in await frames(agent, 200)]
                await asyncio.sleep(0.1)  # nothing doubled arrives late
                return got_one, got_two, customer.frames.qsize() + agent.frames.qsize()

    got_one, got_two, extra = asyncio.run(scenario())
    # Each worker's own frames keep their order everywhere, and none is lost or doubled.
    for got in (got_one, got_two):
        assert sorted(got) == list(range(200))
        assert [n for n in got if n % 2] == list(range(1, 200, 2))
        assert [n for n in got if not n % 2] == list(range(0, 200, 2))
    assert extra == 0


def test_another_conversations_frames_do_not_reach_a_socket(redis_url: str) -> None:
    async def scenario() -> list[Any]:
        async with worker_hub(redis_url) as one, worker_hub(redis_url) as two:
            with one.subscribe("mine") as customer:
                two.publish("other", {"n": 1})
                two.publish("mine", {"n": 2})
                return await frames(customer, 1)

    assert asyncio.run(scenario()) == [{"n": 2}]


def test_an_agent_watching_on_one_worker_is_seen_from_the_other(redis_url: str) -> None:
    async def scenario() -> list[bool]:
        async with worker_hub(redis_url) as one, worker_hub(redis_url) as two:
            seen = [two.agents_watching("c1")]
            with one.subscribe("c1"):  # the customer's own socket is no agent
                seen.append(two.agents_watching("c1"))
                with one.subscribe("c1", agent=True):
                    seen += [two.agents_watching("c1"), one.agents_watching("c1")]
                seen.append(two.agents_watching("c1"))  # closed: at once, no TTL to wait
            return seen

    assert asyncio.run(scenario()) == [False, False, True, True, False]


def test_a_customers_widget_on_one_worker_is_seen_from_the_other(redis_url: str) -> None:
    """An agent's reply through worker two is not mailed while the widget is open on one."""

    async def scenario() -> list[bool]:
        async with worker_hub(redis_url) as one, worker_hub(redis_url) as two:
            seen = [two.customers_watching("c1")]
            with one.subscribe("c1", agent=True):  # an agent's console is not the customer
                seen.append(two.customers_watching("c1"))
                with one.subscribe("c1"), one.subscribe("c1"):  # two tabs
                    seen += [two.customers_watching("c1"), one.customers_watching("c1")]
                seen.append(two.customers_watching("c1"))
                seen.append(two.agents_watching("c1"))  # the agent's watch is still there
            return seen

    assert asyncio.run(scenario()) == [False, False, True, True, False, True]


def test_a_dead_workers_watch_lapses_and_a_live_one_is_renewed(redis_url: str) -> None:
    async def scenario() -> tuple[bool, bool]:
        async with (
            worker_hub(redis_url, watch_ttl_s=1.0) as one,
            worker_hub(redis_url, watch_ttl_s=1.0) as two,
        ):
            with one.subscribe("live", agent=True):
                dead = two.subscribe("dead", agent=True)
                dead.__enter__()  # never left: as if the worker were killed
                for task in two._tasks:  # and its heartbeat died with it
                    task.cancel()
                await asyncio.sleep(1.5)  # past the TTL; worker one renewed "live" meanwhile
                return one.agents_watching("dead"), two.agents_watching("live")

    assert asyncio.run(scenario()) == (False, True)


def test_a_hub_resumes_after_redis_restarts_and_its_sockets_replay(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[list[Any], bool, bool]:
        redis_server.start()
        async with worker_hub(redis_server.url) as one, worker_hub(redis_server.url) as two:
            with one.subscribe("c1") as customer:
                two.publish("c1", {"n": 1})
                before = await frames(customer, 1)
                redis_server.stop()
                await eventually(lambda: not one.listening.is_set())
                two.publish("c1", {"n": 2})  # lost for worker one: logged, not raised
                local = two.agents_watching("c1")  # answers without Redis (False)
                redis_server.start()
                await eventually(lambda: one.listening.is_set() and two.listening.is_set())
                # Back: the socket is told to reconnect, which replays from the database.
                await eventually(customer.lagging.is_set)
                two.publish("c1", {"n": 3})
                after = await frames(customer, 1)
                return before + after, local, customer.lagging.is_set()

    got, watching, lagging = asyncio.run(scenario())
    assert got == [{"n": 1}, {"n": 3}]
    assert (watching, lagging) == (False, True)
    assert "lost Redis" in caplog.text and "Redis is back" in caplog.text


def test_a_silent_redis_is_noticed_by_the_listener_which_reconnects(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind a partition Redis neither answers nor closes the connection (the process
    stopped by SIGSTOP): the listener's PING gets no PONG, so it stops saying it listens, and
    when Redis answers again it subscribes anew and its sockets replay."""

    async def scenario() -> tuple[float, list[Any]]:
        redis_server.start()
        quick = {"listen_quiet_s": 0.5, "pong_within_s": 0.5}
        async with (
            worker_hub(redis_server.url, **quick) as one,
            worker_hub(redis_server.url) as two,
        ):
            with one.subscribe("c1") as customer:
                with redis_server.frozen():
                    started = asyncio.get_running_loop().time()
                    await eventually(lambda: not one.listening.is_set(), timeout=8)
                    noticed = asyncio.get_running_loop().time() - started
                await eventually(one.listening.is_set, timeout=15)
                await eventually(customer.lagging.is_set)
                two.publish("c1", {"n": 1})
                return noticed, await frames(customer, 1)

    noticed, got = asyncio.run(scenario())
    assert noticed < 3 and got == [{"n": 1}]
    assert "lost Redis" in caplog.text and "Redis is back" in caplog.text


def test_a_silent_redis_costs_the_publisher_a_bounded_wait(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A frame published while Redis is silent is given up after PUBLISH_TIMEOUT_S (logged, as
    when Redis is down) rather than waited on until TCP gives up; frames flow again after."""

    async def scenario() -> tuple[float, list[Any]]:
        redis_server.start()
        async with worker_hub(redis_server.url) as one, worker_hub(redis_server.url) as two:
            with one.subscribe("c1") as customer:
                with redis_server.frozen():
                    started = asyncio.get_running_loop().time()
                    two.publish("c1", {"n": 1})
                    await eventually(
                        lambda: "frames not sent to other workers" in caplog.text, timeout=8
                    )
                    gave_up = asyncio.get_running_loop().time() - started
                await eventually(lambda: one.listening.is_set() and two.listening.is_set(), 15)
                two.publish("c1", {"n": 2})
                got = await frames(customer, 1)
                while got[-1] != {"n": 2}:  # n 1 may come late: its bytes were sent
                    got += await frames(customer, 1)
                return gave_up, got

    gave_up, got = asyncio.run(scenario())
    assert gave_up < PUBLISH_TIMEOUT_S + 1.5
    assert got[-1] == {"n": 2}
