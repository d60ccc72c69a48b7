"""The gap report: unanswered questions grouped by meaning, biggest group first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from bot.analytics.gaps import GapCluster


class GapClusterPublic(BaseModel):
    id: int
    size: int
    reasons: dict[str, int]  # none / not_helpful / handoff: how many questions each
    languages: dict[str, int]
    last_seen: datetime
    samples: list[str]
    questions: list[str]
    topics_offered: dict[str, int] = {}  # topic id: how many of the questions it was offered for


class GapReportPublic(BaseModel):
    clusters: list[GapClusterPublic]
    total: int  # unanswered questions in the period

    @classmethod
    def of(cls, clusters: Sequence[GapCluster], total: int) -> GapReportPublic:
        return cls(
            clusters=[
                GapClusterPublic.model_validate(cluster.public(index))
                for index, cluster in enumerate(clusters, start=1)
            ],
            total=total,
        )
