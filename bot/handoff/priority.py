"""The priority of a waiting handoff: who should an agent take first.

priority = reason + upset + topic + waiting, each in points:

- reason: frustration 30, an always-human topic 20, repeated failures of the bot 20, asked for
  a person 10;
- upset: the most negative sentiment among the customer's messages, from 0 (calm or happy)
  to 30 (sentiment -1), linearly;
- topic: the configured weight of an always-human topic the conversation touched (default 20);
- waiting: one point per minute waited, at most 60, so nobody waits forever behind newer,
  angrier customers.

The queue is ordered by priority (highest first), then by waiting time (longest first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

REASON_POINTS = {
    "frustration": 30,
    "topic": 20,
    "repeated_failure": 20,
    "unanswered": 20,
    "requested": 10,
}
UPSET_POINTS = 30
MAX_WAITING_POINTS = 60


@dataclass(frozen=True)
class Priority:
    total: int
    reason: int
    upset: int
    topic: int
    waiting: int


def priority(
    reason: str, sentiment: float, topic_points: int, created_at: datetime, now: datetime
) -> Priority:
    reason_points = REASON_POINTS.get(reason, 10)
    upset = round(max(0.0, -sentiment) * UPSET_POINTS)
    waited_minutes = max(0.0, (now - created_at).total_seconds() / 60)
    waiting = min(MAX_WAITING_POINTS, int(waited_minutes))
    return Priority(
        reason_points + upset + topic_points + waiting, reason_points, upset, topic_points, waiting
    )
