"""How the desk routes chats: each agent's limit of open chats, optional auto-assignment to
the least-busy available agent, which waiting customers count as still there, and the business
hours that decide what a customer is promised when nobody is online."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.handoff.hours import BusinessHours, BusinessHoursError
from bot.settings import Settings

DEFAULT_MAX_OPEN_CHATS = 5
# A waiting customer counts in others' queue position while they wrote (or escalated) this
# recently: one who left the page long ago is not "ahead" of anyone.
DEFAULT_LIVE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class RoutingRules:
    max_open_chats: int = DEFAULT_MAX_OPEN_CHATS
    auto_assign: bool = False
    live_window: timedelta = DEFAULT_LIVE_WINDOW
    hours: BusinessHours | None = None  # None: always open

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingRules:
        """The service's rules; a wrong KEFU_BUSINESS_HOURS stops the start with its reason."""
        hours = None
        if settings.business_hours is not None:
            try:
                hours = BusinessHours.from_config(settings.business_hours)
            except BusinessHoursError as error:
                raise BusinessHoursError(f"KEFU_BUSINESS_HOURS: {error}") from None
        return cls(
            max_open_chats=settings.agent_max_open_chats,
            auto_assign=settings.auto_assign,
            live_window=timedelta(seconds=settings.queue_live_window_s),
            hours=hours,
        )

    def closed_until(self, now: datetime) -> datetime | None:
        """Outside business hours, when the team is back (in the business's zone)."""
        if self.hours is None or self.hours.is_open(now):
            return None
        return self.hours.next_opening(now)


def least_busy(
    candidates: Sequence[int],
    open_chats: Mapping[int, int],
    last_claimed: Mapping[int, datetime],
    max_open_chats: int,
) -> int | None:
    """The agent to give a new chat: fewest open chats, under the limit; on a tie, the one
    who took a chat least recently (never first), then the lowest id."""
    under = [a for a in candidates if open_chats.get(a, 0) < max_open_chats]
    if not under:
        return None
    never = datetime.min

    def load(agent_id: int) -> tuple[int, datetime, int]:
        seen = last_claimed.get(agent_id)
        return (open_chats.get(agent_id, 0), seen.replace(tzinfo=None) if seen else never, agent_id)

    return min(under, key=load)


__all__ = ["DEFAULT_LIVE_WINDOW", "DEFAULT_MAX_OPEN_CHATS", "RoutingRules", "least_busy"]
