"""Agents' presence shared by two workers through a real Redis: what an agent chooses and
whether a console of theirs is live anywhere; a killed worker's consoles lapse."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis

from bot.handoff.redis_presence import RedisPresence
from bot.shared.redis import SharedRedis
from tests.servers.redis import RedisServer


def now() -> datetime:
    return datetime.now().astimezone()


@pytest.fixture
def workers(redis_url: str) -> Iterator[tuple[RedisPresence, RedisPresence]]:
    """Two workers' presence, each with its own connection and heartbeat (1 s timeout)."""
    pair = tuple(RedisPresence(SharedRedis.open(redis_url), timedelta(seconds=1)) for _ in "12")
    for presence in pair:
        presence.start()
    yield pair  # type: ignore[misc]
    for presence in pair:
        presence.stop()
        presence.shared.calls.close()


def test_a_console_on_one_worker_makes_the_agent_online_on_the_other(
    workers: tuple[RedisPresence, RedisPresence],
) -> None:
    one, two = workers
    assert two.state(1, now()).status == "offline"
    one.console_opened(1, now())
    assert (two.state(1, now()).status, two.available(now())) == ("online", [1])
    two.choose(1, "away", now())
    assert (one.state(1, now()).status, one.available(now())) == ("away", [])
    one.choose(1, "online", now())
    two.console_opened(2, now())
    assert one.available(now()) == two.available(now()) == [1, 2]


def test_an_open_console_stays_live_past_the_timeout_and_a_closed_one_lapses(
    workers: tuple[RedisPresence, RedisPresence],
) -> None:
    one, two = workers
    one.console_opened(1, now())
    two.console_opened(2, now())
    time.sleep(1.6)  # past the 1 s timeout: the heartbeats kept both live
    assert one.available(now()) == [1, 2]
    two.console_closed(2, now())
    assert one.available(now()) == [1, 2]  # a reload's grace
    time.sleep(1.2)
    assert one.available(now()) == [1]


def test_a_killed_workers_consoles_lapse_after_the_timeout(
    workers: tuple[RedisPresence, RedisPresence],
) -> None:
    one, two = workers
    two.console_opened(2, now())
    two.stop()  # its heartbeat ends as if the process were killed; the console never closed
    assert one.available(now()) == [2]
    time.sleep(1.3)
    assert one.available(now()) == []
    assert one.state(2, now()).status == "offline"


def test_with_redis_lost_nobody_is_available_and_choosing_fails(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.start()
    presence = RedisPresence(SharedRedis.open(redis_server.url), timedelta(seconds=60))
    presence.console_opened(1, now())
    redis_server.stop()
    try:
        assert presence.available(now()) == []  # new chats wait as tickets: no 500
        presence.console_closed(1, now())  # logged, not raised
        with pytest.raises(redis.RedisError):  # the API answers it with 503
            presence.choose(1, "away", now())
        assert "Redis is unavailable" in caplog.text
    finally:
        redis_server.start()


def test_a_silent_redis_never_stalls_the_desks_event_loop_and_presence_answers_as_last_seen(
    redis_server: RedisServer,
) -> None:
    """Behind a partition (SIGSTOP) the desk's presence calls wait in worker threads, never in
    the event loop; after the first failure the breaker skips Redis, so each answers at once
    with what Redis last said (the agent stays counted online, as they were)."""
    from bot.auth.store import StaffUser
    from bot.conversations.hub import ConversationHub
    from bot.handoff.desk import HandoffDesk
    from tests.bot.conversations.test_redis_hub import Ticker

    agent = StaffUser(1, "alice@shop.test", "Alice", "agent")

    async def scenario() -> tuple[float, float, list[int], list[str]]:
        redis_server.start()
        presence = RedisPresence(SharedRedis.open(redis_server.url), timedelta(seconds=60))
        # No database call is made by these (auto-assignment is off).
        desk = HandoffDesk(None, ConversationHub(), None, presence=presence)  # type: ignore[arg-type]
        try:
            await desk.console_opened(agent)
            seen = [await desk.agents_online()]
            statuses = [(await desk.presence_of(agent)).status]
            with redis_server.frozen():
                async with Ticker() as ticker:
                    for _ in range(2):  # the first waits CALL_TIMEOUT_S, in a thread
                        seen.append(await desk.agents_online())
                    started = asyncio.get_running_loop().time()
                    for _ in range(20):
                        seen.append(await desk.agents_online())
                        statuses.append((await desk.presence_of(agent)).status)
                        await desk.console_opened(agent)
                        await desk.console_closed(agent)
                    quick = asyncio.get_running_loop().time() - started
            return ticker.worst, quick, seen, statuses
        finally:
            presence.shared.calls.close()
            await presence.shared.streams.aclose()

    worst, quick, seen, statuses = asyncio.run(scenario())
    assert worst < 0.3, f"the event loop stalled for {worst:.2f} s"
    assert quick < 0.5  # 80 calls: none waited on Redis
    assert seen == [1] * 23
    assert statuses == ["online"] * 21
