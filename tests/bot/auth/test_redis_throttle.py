"""The login throttle shared by two workers through a real Redis, and what it does when
Redis is lost (falls back to the worker's own log; docs/scaling.md#redis)."""

from __future__ import annotations

import threading
import time

import pytest

from bot.auth.redis_throttle import RedisLoginThrottle
from bot.auth.throttle import LoginAttempt, ThrottlePolicy
from bot.shared.redis import SharedRedis
from tests.servers.redis import RedisServer

VICTIM = "alice@shop.test"


def worker_throttle(url: str) -> RedisLoginThrottle:
    return RedisLoginThrottle(SharedRedis.open(url), ThrottlePolicy())


def test_failures_through_one_worker_make_the_other_wait(redis_url: str) -> None:
    one, two = worker_throttle(redis_url), worker_throttle(redis_url)
    assert one.admit(VICTIM, "192.0.2.1").retry_after_s == 0  # a wrong password
    assert two.admit(VICTIM.upper(), "192.0.2.2").retry_after_s == 1
    time.sleep(1.05)
    assert two.admit(VICTIM, "192.0.2.2").retry_after_s == 0  # a second failure
    assert one.admit(VICTIM, "192.0.2.1").retry_after_s == 2  # the wait doubled for both


def test_of_attempts_at_once_through_two_workers_exactly_one_is_admitted(redis_url: str) -> None:
    workers = [worker_throttle(redis_url) for _ in range(2)]
    start = threading.Barrier(8)
    results: list[LoginAttempt] = []

    def attempt(n: int) -> None:
        start.wait()
        results.append(workers[n % 2].admit(VICTIM, f"192.0.2.{n}"))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    waits = sorted(r.retry_after_s for r in results)
    # One admitted; the others wait about the first failure's second (a clock read a moment
    # before another worker's counts rounds up to 2).
    assert waits[0] == 0 and all(1 <= wait <= 2 for wait in waits[1:])


def test_a_success_on_one_worker_forgets_the_accounts_failures_for_both(redis_url: str) -> None:
    one, two = worker_throttle(redis_url), worker_throttle(redis_url)
    first = one.admit(VICTIM, "192.0.2.1")
    assert two.admit(VICTIM, "192.0.2.2").retry_after_s == 1
    one.succeeded(first)
    assert two.admit(VICTIM, "192.0.2.2").retry_after_s == 0


def test_with_redis_lost_each_worker_throttles_alone_and_says_so(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.start()
    throttle = worker_throttle(redis_server.url)
    redis_server.stop()
    try:
        first = throttle.admit(VICTIM, "192.0.2.1")  # no 500, no lockout
        assert (first.retry_after_s, first.shared) == (0, False)
        assert throttle.admit(VICTIM, "192.0.2.1").retry_after_s == 1  # still throttled
        throttle.succeeded(first)
        assert "falls back to this worker alone" in caplog.text
    finally:
        redis_server.start()
    again = throttle.admit("bob@shop.test", "192.0.2.1")
    assert (again.retry_after_s, again.shared) == (0, True)
    assert "shared through Redis again" in caplog.text
