"""Login throttling shared by every service worker: the failure log in Redis.

The rules are ``LoginThrottle``'s (bot/auth/throttle.py); only where failures are counted
changes. Each key is a hash ``{count, last}`` (``last`` in the clock's seconds, wall time by
default, so every worker reads the same clock) that Redis forgets an hour after its last
failure:

- ``kefu:login:account:<email>``
- ``kefu:login:address:<address>``

An admission reads both and counts the attempt in one optimistic transaction (``WATCH`` /
``MULTI``, retried when another worker changed either key in between), so parallel attempts
through several workers cannot all slip between the check and the count.

Redis lost: the throttle falls back to this worker's own failure log and logs a warning
(failing closed would lock every member of staff out; failing open would drop the throttle).
Each worker then throttles on its own until Redis is back, as a single worker does.
"""

from __future__ import annotations

import logging
import math
import time
from typing import cast

import redis
import redis.client

from bot.auth.throttle import (
    FORGET_AFTER_S,
    Clock,
    Failures,
    LoginAttempt,
    LoginThrottle,
    ThrottlePolicy,
)
from bot.shared.redis import SharedRedis

log = logging.getLogger(__name__)


class RedisLoginThrottle(LoginThrottle):
    """``LoginThrottle`` with its failure log in Redis (and in this process while Redis is
    unavailable)."""

    def __init__(
        self, shared: SharedRedis, policy: ThrottlePolicy | None = None, clock: Clock = time.time
    ) -> None:
        super().__init__(policy, clock)
        self.shared = shared
        self._degraded = False

    def _keys(self, account: str, address: str) -> tuple[str, str]:
        return (
            self.shared.key("login", "account", account),
            self.shared.key("login", "address", address),
        )

    def admit(self, email: str, address: str) -> LoginAttempt:
        account = email.strip().lower()
        account_key, address_key = self._keys(account, address)

        def check_and_count(pipe: redis.client.Pipeline) -> LoginAttempt:
            now = self.clock()  # again at each retry
            tried = _read(pipe, account_key, now)
            source = _read(pipe, address_key, now)
            wait = self._wait(tried, source, now)
            if wait > 0:
                return LoginAttempt(math.ceil(wait))
            pipe.multi()
            for key, failures in ((account_key, tried), (address_key, source)):
                pipe.hset(key, mapping={"count": failures.count + 1, "last": repr(now)})
                pipe.expire(key, FORGET_AFTER_S)
            return LoginAttempt(0, account, address, now, source.last, shared=True)

        try:
            # redis-py types the callable as returning None; value_from_callable returns its value.
            attempt = cast(
                LoginAttempt,
                self.shared.calls.transaction(
                    check_and_count,  # type: ignore[arg-type]
                    account_key,
                    address_key,
                    value_from_callable=True,
                ),
            )
        except redis.RedisError as error:
            self._fell_back(error)
            return super().admit(email, address)
        self._back()
        return attempt

    def succeeded(self, attempt: LoginAttempt) -> None:
        if not attempt.shared:
            super().succeeded(attempt)
            return
        account_key, address_key = self._keys(attempt.account, attempt.address)

        def forget(pipe: redis.client.Pipeline) -> None:
            failures = _hmget(pipe, address_key)
            pipe.multi()
            pipe.delete(account_key)
            if failures is None:
                return
            count, last = failures
            if count <= 1:
                pipe.delete(address_key)
                return
            pipe.hincrby(address_key, "count", -1)
            if last == attempt.admitted_at:  # no failure since: as if it never happened
                pipe.hset(address_key, "last", repr(attempt.address_last_before))

        try:
            self.shared.calls.transaction(forget, address_key)
        except redis.RedisError as error:  # the account's failures lapse within the hour
            self._fell_back(error)

    def _fell_back(self, error: redis.RedisError) -> None:
        if not self._degraded:
            log.warning(
                "login throttling falls back to this worker alone: Redis is unavailable (%s)",
                error,
            )
        self._degraded = True

    def _back(self) -> None:
        if self._degraded:
            log.warning("login throttling is shared through Redis again")
        self._degraded = False


def _hmget(pipe: redis.client.Pipeline, key: str) -> tuple[int, float] | None:
    """A watched key's count and last failure, read at once (the pipeline is not buffering);
    None when there is none (both fields are always written together)."""
    count, last = cast(list[str | None], pipe.hmget(key, ["count", "last"]))
    if count is None or last is None:
        return None
    return int(count), float(last)


def _read(pipe: redis.client.Pipeline, key: str, now: float) -> Failures:
    failures = _hmget(pipe, key)
    if failures is None or failures[1] <= now - FORGET_AFTER_S:
        return Failures(0, now)
    return Failures(*failures)


__all__ = ["RedisLoginThrottle"]
