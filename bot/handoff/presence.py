"""Agents' presence: the status an agent chose (online, away, offline) and whether their
console is live. An agent is *available* (counted online, given new chats) only when both say
so: status online and a console socket open now, or closed less than ``timeout`` ago (a page
reload does not drop anyone). Whatever they chose, an agent without a live console for longer
is offline.

``AgentPresence`` is the seam: ``InProcessPresence`` keeps it in this process (one service
process holds every console socket, the embedded default); ``RedisPresence``
(bot/handoff/redis_presence.py) shares it between workers when ``REDIS_URL`` is set.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

PresenceStatus = Literal["online", "away", "offline"]
DEFAULT_TIMEOUT = timedelta(seconds=60)


@dataclass(frozen=True)
class AgentPresenceState:
    """What an agent chose, whether a console of theirs is live, and the result."""

    agent_id: int
    chosen: PresenceStatus
    live: bool

    @property
    def status(self) -> PresenceStatus:
        """The status others see: offline without a live console, else the chosen one."""
        return self.chosen if self.live else "offline"

    @property
    def available(self) -> bool:
        return self.status == "online"


class AgentPresence(ABC):
    """Where presence is kept; every method is quick and never blocks on the database."""

    # How long a closed console still counts as live.
    timeout: timedelta = DEFAULT_TIMEOUT
    # Whether a call may wait on the network: the desk then makes it in a worker thread.
    blocking: bool = False

    @abstractmethod
    def start(self) -> None:
        """Begin whatever keeps this process's consoles live for other workers."""

    @abstractmethod
    def stop(self) -> None:
        """At shutdown."""

    @abstractmethod
    def choose(self, agent_id: int, status: PresenceStatus, now: datetime) -> AgentPresenceState:
        """The agent sets their status (kept until they change it)."""

    @abstractmethod
    def console_opened(self, agent_id: int, now: datetime) -> None: ...

    @abstractmethod
    def console_closed(self, agent_id: int, now: datetime) -> None: ...

    @abstractmethod
    def state(self, agent_id: int, now: datetime) -> AgentPresenceState: ...

    @abstractmethod
    def available(self, now: datetime) -> list[int]:
        """The agents counted online: status online with a live console."""


class InProcessPresence(AgentPresence):
    """Presence in this process's memory: lost at a restart, when every console reconnects
    and its agent is online again (the status chosen before is forgotten)."""

    def __init__(self, timeout: timedelta = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()  # sockets (event loop) and the desk's threads both call
        self._chosen: dict[int, PresenceStatus] = {}
        self._sockets: dict[int, int] = {}
        self._last_seen: dict[int, datetime] = {}

    def start(self) -> None:
        pass  # nobody else needs to know

    def stop(self) -> None:
        pass

    def choose(self, agent_id: int, status: PresenceStatus, now: datetime) -> AgentPresenceState:
        with self._lock:
            self._chosen[agent_id] = status
        return self.state(agent_id, now)

    def console_opened(self, agent_id: int, now: datetime) -> None:
        with self._lock:
            self._sockets[agent_id] = self._sockets.get(agent_id, 0) + 1
            self._last_seen[agent_id] = now

    def console_closed(self, agent_id: int, now: datetime) -> None:
        with self._lock:
            left = self._sockets.get(agent_id, 0) - 1
            if left > 0:
                self._sockets[agent_id] = left
            else:
                self._sockets.pop(agent_id, None)
            self._last_seen[agent_id] = now

    def _live(self, agent_id: int, now: datetime) -> bool:
        if self._sockets.get(agent_id, 0) > 0:
            return True
        seen = self._last_seen.get(agent_id)
        return seen is not None and now - seen < self.timeout

    def state(self, agent_id: int, now: datetime) -> AgentPresenceState:
        with self._lock:
            return AgentPresenceState(
                agent_id, self._chosen.get(agent_id, "online"), self._live(agent_id, now)
            )

    def available(self, now: datetime) -> list[int]:
        with self._lock:
            return sorted(
                agent_id
                for agent_id in self._last_seen
                if self._chosen.get(agent_id, "online") == "online" and self._live(agent_id, now)
            )


__all__ = [
    "AgentPresence",
    "AgentPresenceState",
    "InProcessPresence",
    "PresenceStatus",
]
