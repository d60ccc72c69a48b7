"""Confidence bands: answer, clarify or say "I don't know", from calibrated thresholds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")


class ConfidenceBand(StrEnum):
    """What the bot should do with a search result."""

    ANSWER = "answer"  # show the top article's answer
    CLARIFY = "clarify"  # offer the top three articles as buttons
    NONE = "none"  # say so; offer to rephrase or to talk to a person


class ScoredHit(Protocol):
    """What a band decision reads of a ranked topic (retrieval's ArticleHit)."""

    @property
    def score(self) -> float: ...
    @property
    def dense_score(self) -> float: ...
    @property
    def lexical_score(self) -> float: ...
    @property
    def char_score(self) -> float: ...
    @property
    def language(self) -> str: ...


class BandPolicy(Protocol):
    """Decides the band of a search from its ranked topics (best first)."""

    def band_of(self, hits: Sequence[ScoredHit], language: str) -> ConfidenceBand: ...

    def describe(self) -> dict[str, Any]: ...

    @property
    def floor(self) -> float:
        """The lowest top score worth offering as a choice (the clarify threshold)."""
        ...


@dataclass(frozen=True, slots=True)
class BandThresholds:
    """Score cut-offs for one encoder; ``answer`` >= ``high`` > ``clarify`` >= ``low``."""

    high: float
    low: float
    encoder: str = ""
    calibrated_on: str = ""

    def band(self, top_score: float | None) -> ConfidenceBand:
        if top_score is None or top_score < self.low:
            return ConfidenceBand.NONE
        if top_score >= self.high:
            return ConfidenceBand.ANSWER
        return ConfidenceBand.CLARIFY

    def band_of(self, hits: Sequence[ScoredHit], language: str) -> ConfidenceBand:
        return self.band(hits[0].score if hits else None)

    @property
    def floor(self) -> float:
        return self.low

    def describe(self) -> dict[str, Any]:
        return asdict(self)


# Used only for an encoder that was never calibrated: conservative, so it clarifies more.
_UNCALIBRATED = BandThresholds(high=0.75, low=0.45, calibrated_on="not calibrated")


def load_thresholds(encoder: str, path: Path = THRESHOLDS_FILE) -> BandThresholds:
    """The calibrated thresholds of ``encoder`` (written by ``kefu eval calibrate``)."""
    if not path.exists():
        return BandThresholds(_UNCALIBRATED.high, _UNCALIBRATED.low, encoder, "not calibrated")
    stored = json.loads(path.read_text(encoding="utf-8"))
    entry = stored.get(encoder)
    if entry is None:
        return BandThresholds(_UNCALIBRATED.high, _UNCALIBRATED.low, encoder, "not calibrated")
    return BandThresholds(**entry)


def save_thresholds(thresholds: BandThresholds, path: Path = THRESHOLDS_FILE) -> None:
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    stored[thresholds.encoder] = asdict(thresholds)
    path.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n", encoding="utf-8")
