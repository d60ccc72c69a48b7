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


async def written(hub: RedisConversationHub) -> None:
    """Until the hub's watches task has written its sockets' claims to Redis."""
    await eventually(lambda: hub._claimed == hub._watched())


def test_an_agent_watching_on_one_worker_is_seen_from_the_other(redis_url: str) -> None:
    async def scenario() -> list[bool]:
        async with worker_hub(redis_url) as one, worker_hub(redis_url) as two:
            seen = [await two.agents_watching("c1")]
            with one.subscribe("c1"):  # the customer's own socket is no agent
                await written(one)
                seen.append(await two.agents_watching("c1"))
                with one.subscribe("c1", agent=True):
                    await written(one)
                    seen += [await two.agents_watching("c1"), await one.agents_watching("c1")]
                await written(one)  # closed: withdrawn at once, no TTL to wait
                seen.append(await two.agents_watching("c1"))
            return seen

    assert asyncio.run(scenario()) == [False, False, True, True, False]


def test_a_customers_widget_on_one_worker_is_seen_from_the_other(redis_url: str) -> None:
    """An agent's reply through worker two is not mailed while the widget is open on one."""

    async def scenario() -> list[bool]:
        async with worker_hub(redis_url) as one, worker_hub(redis_url) as two:
            seen = [await two.customers_watching("c1")]
            with one.subscribe("c1", agent=True):  # an agent's console is not the customer
                await written(one)
                seen.append(await two.customers_watching("c1"))
                with one.subscribe("c1"), one.subscribe("c1"):  # two tabs
                    await written(one)
                    seen += [await two.customers_watching("c1"), await one.customers_watching("c1")]
                await written(one)
                seen.append(await two.customers_watching("c1"))
                seen.append(await two.agents_watching("c1"))  # the agent's watch is still there
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
                await written(two)
                assert await one.agents_watching("dead")
                for task in two._tasks:  # and its heartbeat died with it
                    task.cancel()
                await asyncio.sleep(1.5)  # past the TTL; worker one renewed "live" meanwhile
                return await one.agents_watching("dead"), await two.agents_watching("live")

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
                local = await two.customers_watching("c1")  # answers without Redis (False)
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


class Ticker:
    """A task that sleeps 50 ms again and again: the longest gap between its ticks is how long
    the event loop was stalled (every socket of the worker with it)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.05)
            now = loop.time()
            self.worst, last = max(self.worst, now - last), now

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        await asyncio.sleep(0.06)  # one more tick: it measures a stall that just ended
        self._task.cancel()


def test_a_silent_redis_never_stalls_the_event_loop_and_typing_goes_out_anyway(
    redis_server: RedisServer,
) -> None:
    """Behind a partition (SIGSTOP), who watches a conversation is asked off the event loop
    and, after the first failure, not asked at all for a while; sockets that open and close
    wake the watches' task only; the customer's typing frames are still published."""
    from bot.chat.gateway import ChatGateway

    async def scenario() -> tuple[float, float, list[Any], bool]:
        redis_server.start()
        async with worker_hub(redis_server.url) as hub:
            gateway = ChatGateway(None, None, hub, None)  # type: ignore[arg-type]
            with hub.subscribe("c1") as customer:
                await written(hub)
                with redis_server.frozen():
                    async with Ticker() as ticker:
                        started = asyncio.get_running_loop().time()
                        for _ in range(3):  # the first waits CALL_TIMEOUT_S, off the loop
                            await gateway.customer_typing("c1", True)
                        after_first = asyncio.get_running_loop().time()
                        for _ in range(20):
                            await gateway.customer_typing("c1", True)
                            widget_open = await hub.customers_watching("c2")
                            with hub.subscribe("c2", agent=True):
                                await asyncio.sleep(0.01)
                        quick = asyncio.get_running_loop().time() - after_first
                    assert after_first - started < 1.5
                    typing = [customer.frames.get_nowait() for _ in range(23)]
                return ticker.worst, quick, typing, widget_open

    worst, quick, typing, widget_open = asyncio.run(scenario())
    assert worst < 0.3, f"the event loop stalled for {worst:.2f} s"
    assert quick < 1.0  # 20 rounds, 10 ms of sleep each: no Redis round trip waited on
    assert typing == [{"type": "typing", "active": True, "from": "customer"}] * 23
    assert widget_open is False  # unknown: the agent's reply is mailed, not perhaps lost


def test_frames_a_worker_could_not_publish_make_the_other_workers_sockets_resync(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis pauses writes (CLIENT PAUSE WRITE) past PUBLISH_TIMEOUT_S: worker two gives its
    frame up while worker one's subscription stays connected. Once two publishes again, one's
    socket of that conversation turns lagging (it reconnects and replays from the database);
    a socket of another conversation does not."""
    import redis

    async def scenario() -> tuple[bool, bool]:
        async with worker_hub(redis_url) as one, worker_hub(redis_url) as two:
            with one.subscribe("c1") as customer, one.subscribe("c9") as other:
                two.publish("c1", {"n": 1})
                assert await frames(customer, 1) == [{"n": 1}]
                pause_ms = int((PUBLISH_TIMEOUT_S + 1) * 1000)
                with redis.Redis.from_url(redis_url) as admin:
                    admin.execute_command("CLIENT", "PAUSE", pause_ms, "WRITE")
                two.publish("c1", {"n": 2})
                await eventually(lambda: "frames not sent to other workers" in caplog.text, 8)
                await eventually(customer.lagging.is_set, timeout=8)
                await asyncio.sleep(0.2)
                return one.listening.is_set(), other.lagging.is_set()

    listening, other_lagging = asyncio.run(scenario())
    assert listening  # the listener never lost Redis: the marker did it
    assert other_lagging is False
    assert "resync sent for 1 conversations" in caplog.text


def test_a_listener_that_dies_is_reported_and_restarted(
    redis_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug kills the listener (not a lost Redis, which it survives): health can tell, it
    starts again, and its sockets resync (they missed the frame the bug lost)."""

    async def scenario() -> tuple[bool, list[Any]]:
        async with worker_hub(redis_url) as one, worker_hub(redis_url) as two:
            with one.subscribe("c1") as customer:
                healthy = one._deliver

                def broken(*_: Any) -> None:
                    monkeypatch.setattr(one, "_deliver", healthy)  # once
                    raise RuntimeError("a bug in the listener")

                monkeypatch.setattr(one, "_deliver", broken)
                two.publish("c1", {"n": 1})  # lost to the bug
                await eventually(lambda: not one.listener_running)
                await eventually(lambda: one.listener_running and one.listening.is_set())
                await eventually(customer.lagging.is_set)
                two.publish("c1", {"n": 2})
                return customer.frames.empty(), await frames(customer, 1)

    nothing_before, got = asyncio.run(scenario())
    assert nothing_before and got == [{"n": 2}]
    assert "the hub's listener died; restarting it" in caplog.text
