"""Login throttling by account and by address (OWASP ASVS 2.2.1): growing delays, no lockout.

- **Account.** After the n-th failed login of an email (known or not), the next attempt waits
  ``2^(n-1)`` s after that failure: 1, 2, 4, 8 s and so on. From an address that is itself
  failing, up to ``login_failing_delay_cap_s`` (15 min): a guesser slows to a few tries an
  hour. From any other address, at most ``login_delay_cap_s`` (36 s): a stranger's guessing
  delays staff's own login by 36 s at worst, never locks them out, and a guesser with
  endless fresh addresses still gets no more than 100 tries an hour at one account.
- **Address.** An address's failures over all emails count too: past
  ``login_free_failures_per_address`` (10) it waits 1, 2, 4 s … up to ``login_delay_cap_s``
  between attempts, so spraying a few passwords over many accounts is slowed, while a
  colleague guessing from a shared office address delays the others by seconds, not minutes.

An attempt counts as failed from the moment it is admitted until its password is verified, so
parallel requests cannot all slip between the check and the count. A success forgets the
account's failures (not the address's: logging into one's own account must not reset a spray).
A key is forgotten an hour after its last failure. ``LoginThrottle`` keeps the failures in this
process (one service process, the embedded default); ``RedisLoginThrottle``
(bot/auth/redis_throttle.py) keeps them in Redis, shared by every worker.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

BASE_DELAY_S = 1.0
FORGET_AFTER_S = 60 * 60
MAX_TRACKED = 100_000  # keys per kind; past it the longest-quiet is forgotten first (memory)

Clock = Callable[[], float]


def backoff(failures: int, cap_s: float) -> float:
    """The wait after ``failures`` counted failures: none, then 1, 2, 4 … seconds, capped."""
    if failures <= 0:
        return 0.0
    return min(cap_s, BASE_DELAY_S * 2 ** min(failures - 1, 32))


@dataclass(frozen=True)
class ThrottlePolicy:
    """The limits; the service takes them from its settings (``login_*``)."""

    delay_cap_s: float = 36.0
    failing_delay_cap_s: float = 15 * 60.0
    free_failures_per_address: int = 10


@dataclass
class Failures:
    count: int
    last: float


@dataclass(frozen=True)
class LoginAttempt:
    """One admitted login (``retry_after_s`` 0) or a refused one (the seconds to wait)."""

    retry_after_s: int
    account: str = ""
    address: str = ""
    admitted_at: float = 0.0
    address_last_before: float = 0.0
    shared: bool = False  # counted in Redis (RedisLoginThrottle), not in this process


class _FailureLog:
    """Failure counts by key, the longest-quiet first, each forgotten an hour after its last."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, Failures] = OrderedDict()

    def get(self, key: str, now: float) -> Failures:
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.last > now - FORGET_AFTER_S and len(self._entries) <= MAX_TRACKED:
                break
            self._entries.popitem(last=False)
        return self._entries.get(key) or Failures(0, now)

    def count(self, key: str, now: float) -> None:
        entry = self.get(key, now)
        self._entries[key] = Failures(entry.count + 1, now)
        self._entries.move_to_end(key)

    def uncount(self, key: str, counted_at: float, last_before: float) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.count -= 1
        if entry.count <= 0:
            del self._entries[key]
        elif entry.last == counted_at:  # no failure since: as if the attempt never happened
            entry.last = last_before

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


class LoginThrottle:
    """The rules of the module's docstring, for one process (every thread of it)."""

    def __init__(self, policy: ThrottlePolicy | None = None, clock: Clock = time.monotonic) -> None:
        self.policy = policy or ThrottlePolicy()
        self.clock = clock
        self._accounts = _FailureLog()
        self._addresses = _FailureLog()
        self._lock = threading.Lock()

    def admit(self, email: str, address: str) -> LoginAttempt:
        """Admitted, the attempt counts as failed until ``succeeded``; refused, nothing counts."""
        account, now = email.strip().lower(), self.clock()
        with self._lock:
            tried = self._accounts.get(account, now)
            source = self._addresses.get(address, now)
            wait = self._wait(tried, source, now)
            if wait > 0:
                return LoginAttempt(math.ceil(wait))
            self._accounts.count(account, now)
            self._addresses.count(address, now)
            return LoginAttempt(0, account, address, now, source.last)

    def _wait(self, tried: Failures, source: Failures, now: float) -> float:
        """How long the account's and the address's failures make this attempt wait."""
        policy = self.policy
        failing = source.count >= policy.free_failures_per_address
        account_cap = policy.failing_delay_cap_s if failing else policy.delay_cap_s
        over = source.count - policy.free_failures_per_address + 1
        return max(
            tried.last + backoff(tried.count, account_cap) - now,
            source.last + backoff(over, policy.delay_cap_s) - now,
        )

    def succeeded(self, attempt: LoginAttempt) -> None:
        """The admitted attempt had the right password."""
        with self._lock:
            self._accounts.forget(attempt.account)
            self._addresses.uncount(
                attempt.address, attempt.admitted_at, attempt.address_last_before
            )
