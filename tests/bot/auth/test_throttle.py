"""Login throttling by account and by address: growing delays, and no lockout a stranger can
cause (bot/auth/throttle.py). A fake clock: nothing sleeps. Every rule holds for the failure
log of one process and for the one in Redis that workers share (bot/auth/redis_throttle.py,
a real redis-server)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import pytest

from bot.auth.redis_throttle import RedisLoginThrottle
from bot.auth.throttle import LoginAttempt, LoginThrottle, ThrottlePolicy
from bot.shared.redis import SharedRedis

VICTIM = "alice@shop.test"
OFFICE = "198.51.100.7"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["in-process", "redis"])
def throttle(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[LoginThrottle]:
    if request.param == "in-process":
        yield LoginThrottle(ThrottlePolicy(), clock=clock)
        return
    shared = SharedRedis.open(request.getfixturevalue("redis_url"))
    yield RedisLoginThrottle(shared, ThrottlePolicy(), clock=clock)
    shared.calls.close()


def fail(throttle: LoginThrottle, email: str, address: str) -> None:
    """An admitted attempt with the wrong password (it simply stays counted)."""
    assert throttle.admit(email, address).retry_after_s == 0


def waits_after_failures(
    throttle: LoginThrottle, clock: FakeClock, addresses: itertools.count[int] | None, n: int
) -> list[int]:
    """The Retry-After after each of n failures on one account, each made as soon as allowed,
    from one address (None) or a new address every time."""
    waits = []
    for _ in range(n):
        address = f"203.0.113.{next(addresses)}" if addresses else "192.0.2.1"
        fail(throttle, VICTIM, address)
        wait = throttle.admit(VICTIM, address).retry_after_s
        waits.append(wait)
        clock.now += wait
    return waits


def test_each_failure_doubles_the_accounts_wait_up_to_the_cap(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    # From one address: 1, 2, 4 … s, at most 36 s while the address has failed fewer than 10
    # times; then it is failing itself, and the account's wait for it grows to 15 minutes.
    waits = waits_after_failures(throttle, clock, None, 13)
    assert waits == [1, 2, 4, 8, 16, 32, 36, 36, 36, 512, 900, 900, 900]


def test_a_guesser_with_ever_new_addresses_gets_about_100_tries_an_hour(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    waits = waits_after_failures(throttle, clock, itertools.count(), 10)
    assert waits == [1, 2, 4, 8, 16, 32, 36, 36, 36, 36]
    tries, addresses, start = 0, itertools.count(100), clock.now
    while clock.now < start + 3600:  # one try a second, each from an address never seen
        tries += throttle.admit(VICTIM, f"203.0.113.{next(addresses)}").retry_after_s == 0
        clock.now += 1
    assert tries == 100


def test_a_strangers_guessing_delays_the_owner_seconds_never_minutes(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    waits_after_failures(throttle, clock, None, 20)  # the stranger, at full speed for hours
    fail(throttle, VICTIM, "192.0.2.1")
    assert throttle.admit(VICTIM, "192.0.2.1").retry_after_s == 900  # the stranger waits
    owner = throttle.admit(VICTIM, OFFICE)  # the owner, from an address that has not failed
    assert 0 < owner.retry_after_s <= 36
    clock.now += owner.retry_after_s
    attempt = throttle.admit(VICTIM, OFFICE)
    assert attempt.retry_after_s == 0
    throttle.succeeded(attempt)  # the right password: the account's failures are forgotten
    assert throttle.admit(VICTIM, OFFICE).retry_after_s == 0


def test_spraying_a_few_passwords_over_many_accounts_from_one_address_is_slowed(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    emails = [f"staff{i}@shop.test" for i in range(6)]
    refused: list[int] = []
    for email in emails * 4:  # 4 guesses at each of 6 accounts, one every 2 s
        attempt = throttle.admit(email, OFFICE)
        if attempt.retry_after_s:
            refused.append(attempt.retry_after_s)
        clock.now += 2
    # Each account was tried only every 12 s, so only the address's own count held it back:
    # 10 failures free, then 1, 2, 4 … s between attempts.
    assert 24 - len(refused) == 14
    assert max(refused) == 14
    assert throttle.admit("staff0@shop.test", "192.0.2.50").retry_after_s == 0  # another address


def test_a_busy_address_waits_seconds_not_minutes(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    for i in range(200):  # someone in the office sprays for a long time
        attempt = throttle.admit(f"nobody{i}@shop.test", OFFICE)
        clock.now += max(attempt.retry_after_s, 1)
    assert throttle.admit("bob@shop.test", OFFICE).retry_after_s <= 36


def test_logging_into_ones_own_account_does_not_reset_the_address(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    for i in range(10):
        fail(throttle, f"staff{i}@shop.test", OFFICE)
    clock.now += 1
    own = throttle.admit("insider@shop.test", OFFICE)
    throttle.succeeded(own)
    fail(throttle, "staff0@shop.test", OFFICE)
    assert throttle.admit("staff1@shop.test", OFFICE).retry_after_s == 2  # the 11th failure's


def test_an_attempt_counts_as_failed_until_it_succeeds(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    first = throttle.admit(VICTIM, OFFICE)
    # A second request while the first is being checked: it cannot slip in beside it.
    assert throttle.admit(VICTIM, "192.0.2.9").retry_after_s == 1
    throttle.succeeded(first)
    assert throttle.admit(VICTIM, "192.0.2.9").retry_after_s == 0


def test_emails_are_one_account_whatever_their_case(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    fail(throttle, VICTIM, OFFICE)
    assert throttle.admit(" Alice@Shop.TEST", "192.0.2.9").retry_after_s == 1


def test_failures_are_forgotten_an_hour_after_the_last(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    waits_after_failures(throttle, clock, None, 12)
    clock.now += 3600
    attempt = throttle.admit(VICTIM, "192.0.2.1")
    assert dataclasses.replace(attempt, shared=False) == LoginAttempt(
        0, VICTIM, "192.0.2.1", clock.now, clock.now
    )
