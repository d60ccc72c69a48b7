"""Health probes of Rasa and the action server that a busy dependency does not make flap.

A probe's result serves every health check for a few seconds, so monitors polling the health
endpoint never add load to a busy Rasa (concurrent checks share one probe). A dependency that
answered before and is now only slow (no answer within the probe's timeout) is reported down
after several slow probes in a row; a refused connection or an error answer is down at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from bot.api.schemas.health import ComponentHealth


@dataclass(frozen=True)
class ProbePolicy:
    """The settings' health_probe_* values (docs/operations.md#health)."""

    timeout_s: float  # how long a probe waits for an answer
    cache_s: float  # how long its result serves the health checks
    slow_probes_to_down: int  # probes in a row without an answer before a dependency is down


class DependencyProbe:
    """One dependency's health URL. ``params`` (a token) go with the request but never into
    the detail, which anyone may read."""

    def __init__(
        self,
        url: str,
        policy: ProbePolicy,
        *,
        params: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.policy = policy
        self.params = dict(params or {})
        self.clock = clock
        self._lock = asyncio.Lock()
        self._last: ComponentHealth | None = None
        self._probed_at = -math.inf
        self._slow_in_a_row = 0
        self._up = False  # answered at the last probe that was not merely slow

    async def health(self) -> ComponentHealth:
        """The last probe's result while it is fresh, else a new probe's."""
        async with self._lock:
            if self._last is None or self.clock() - self._probed_at >= self.policy.cache_s:
                self._last = await self._probe()
                self._probed_at = self.clock()
            return self._last

    async def _probe(self) -> ComponentHealth:
        try:
            async with httpx.AsyncClient(timeout=self.policy.timeout_s) as client:
                answer = await client.get(self.url, params=self.params)
        except httpx.TimeoutException as error:
            self._slow_in_a_row += 1
            policy = self.policy
            if self._up and self._slow_in_a_row < policy.slow_probes_to_down:
                return ComponentHealth(
                    status="ok",
                    detail=f"{self.url}: slow (no answer within {policy.timeout_s:g} s, "
                    f"{self._slow_in_a_row} of {policy.slow_probes_to_down} before down)",
                )
            return self._down(type(error).__name__)
        except httpx.HTTPError as error:
            return self._down(type(error).__name__)
        if answer.status_code != 200:
            return self._down(f"HTTP {answer.status_code}")
        self._up, self._slow_in_a_row = True, 0
        return ComponentHealth(status="ok", detail=self.url)

    def _down(self, why: str) -> ComponentHealth:
        self._up = False
        return ComponentHealth(status="down", detail=f"{self.url}: {why}")


class AnyOfProbes:
    """Interchangeable processes (several Rasa over one tracker store): up while one is; the
    detail names each that is down. ``all_up``: at the last check, every one was."""

    def __init__(self, probes: Sequence[DependencyProbe]) -> None:
        self.probes = list(probes)
        self.all_up = False

    async def health(self) -> ComponentHealth:
        if len(self.probes) == 1:
            single = await self.probes[0].health()
            self.all_up = single.status == "ok"
            return single
        each = await asyncio.gather(*(probe.health() for probe in self.probes))
        up = [h for h in each if h.status == "ok"]
        self.all_up = len(up) == len(each)
        down = "; ".join(h.detail for h in each if h.status != "ok")
        detail = f"{len(up)} of {len(each)} up" + (f"; {down}" if down else "")
        return ComponentHealth(status="ok" if up else "down", detail=detail)
