"""The health probes of Rasa and the action server against a real, slow HTTP server on
loopback: slow is not down, a result serves the health checks for a while, down is down."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.api.probes import AnyOfProbes, DependencyProbe, ProbePolicy


class SlowDependency(ThreadingHTTPServer):
    """Answers /health after ``delay_s`` with ``code``; counts the requests it got."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay_s = 0.0
        self.code = 200
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/health"


class _Handler(BaseHTTPRequestHandler):
    server: SlowDependency

    def do_GET(self) -> None:
        self.server.requests += 1
        time.sleep(self.server.delay_s)
        with contextlib.suppress(ConnectionError):  # the probe may have given up waiting
            self.send_response(self.server.code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dependency() -> Iterator[SlowDependency]:
    server = SlowDependency()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def probe_of(dependency: SlowDependency, clock: Clock, timeout_s: float = 0.3) -> DependencyProbe:
    policy = ProbePolicy(timeout_s=timeout_s, cache_s=5.0, slow_probes_to_down=3)
    return DependencyProbe(dependency.url, policy, clock=clock)


def statuses(probe: DependencyProbe, clock: Clock, times: int) -> list[str]:
    """The probe's status at each of ``times`` health checks, each after the cache expired."""
    seen = []
    for _ in range(times):
        clock.now += probe.policy.cache_s
        seen.append(asyncio.run(probe.health()).status)
    return seen


def test_a_busy_dependency_is_slow_not_down_until_several_probes_in_a_row(
    dependency: SlowDependency,
) -> None:
    clock = Clock()
    probe = probe_of(dependency, clock)
    assert statuses(probe, clock, 1) == ["ok"]
    dependency.delay_s = 0.5  # longer than the probe's timeout
    slow = asyncio.run(probe.health())  # still the cached answer
    assert slow.status == "ok"
    assert statuses(probe, clock, 3) == ["ok", "ok", "down"]
    down = asyncio.run(probe.health())
    assert down.detail == f"{dependency.url}: ReadTimeout"
    dependency.delay_s = 0.0
    assert statuses(probe, clock, 1) == ["ok"]
    # Answering again starts the count afresh.
    dependency.delay_s = 0.5
    assert statuses(probe, clock, 2) == ["ok", "ok"]


def test_a_slow_answer_says_so(dependency: SlowDependency) -> None:
    clock = Clock()
    probe = probe_of(dependency, clock)
    statuses(probe, clock, 1)
    dependency.delay_s = 0.5
    clock.now += probe.policy.cache_s
    health = asyncio.run(probe.health())
    assert health.status == "ok"
    assert health.detail == f"{dependency.url}: slow (no answer within 0.3 s, 1 of 3 before down)"


def test_never_seen_up_a_slow_dependency_is_down_at_once(dependency: SlowDependency) -> None:
    """At start (the stack waits for everything `ok`), no answer is no answer."""
    dependency.delay_s = 0.5
    clock = Clock()
    assert statuses(probe_of(dependency, clock), clock, 1) == ["down"]


def test_an_error_answer_or_a_refused_connection_is_down_at_once(
    dependency: SlowDependency,
) -> None:
    clock = Clock()
    probe = probe_of(dependency, clock)
    statuses(probe, clock, 1)
    dependency.code = 401
    assert statuses(probe, clock, 1) == ["down"]
    assert asyncio.run(probe.health()).detail == f"{dependency.url}: HTTP 401"
    nowhere = DependencyProbe("http://127.0.0.1:9/health", ProbePolicy(0.3, 0.0, 3))
    assert asyncio.run(nowhere.health()).detail == "http://127.0.0.1:9/health: ConnectError"


def test_health_checks_share_one_probe_while_it_is_fresh(dependency: SlowDependency) -> None:
    clock = Clock()
    probe = probe_of(dependency, clock, timeout_s=2.0)
    dependency.delay_s = 0.2

    async def many() -> list[str]:
        results = await asyncio.gather(*(probe.health() for _ in range(20)))
        return [r.status for r in results]

    assert asyncio.run(many()) == ["ok"] * 20
    clock.now += 4.9
    asyncio.run(probe.health())
    assert dependency.requests == 1  # twenty-one health checks, one request to the dependency
    clock.now += 0.1
    asyncio.run(probe.health())
    assert dependency.requests == 2


def test_interchangeable_processes_are_up_while_one_is(dependency: SlowDependency) -> None:
    clock = Clock()
    nowhere = DependencyProbe("http://127.0.0.1:9/health", ProbePolicy(0.3, 0.0, 3))
    group = AnyOfProbes([probe_of(dependency, clock), nowhere])
    health = asyncio.run(group.health())
    assert (health.status, group.all_up) == ("ok", False)
    assert health.detail == "1 of 2 up; http://127.0.0.1:9/health: ConnectError"
    dependency.code = 503
    clock.now += 10
    assert asyncio.run(group.health()).status == "down"
    alone = AnyOfProbes([probe_of(dependency, clock)])
    dependency.code = 200
    clock.now += 10
    health = asyncio.run(alone.health())
    assert (health.status, health.detail, alone.all_up) == ("ok", dependency.url, True)
