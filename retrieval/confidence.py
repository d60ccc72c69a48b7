"""The band policy a calibration produces: a confidence model over several signals of the
ranked topics, with the top score's thresholds for what is below band ``answer``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from retrieval.bands import BandThresholds, ConfidenceBand, ScoredHit

FEATURES = ("score", "margin", "dense", "lexical", "chars", "same_language", "reliability")


def _reliability(known: dict[str, float], topic: str) -> float:
    """The topic's own reliability; for a topic newer than the calibration, the mean."""
    found = known.get(topic)
    if found is not None:
        return found
    return float(np.mean(list(known.values()))) if known else 0.5


def features_of(
    hits: Sequence[ScoredHit], language: str, reliability: dict[str, float] | None = None
) -> tuple[float, ...]:
    if not hits:
        return (0.0,) * len(FEATURES)
    top = hits[0]
    second = hits[1].score if len(hits) > 1 else 0.0
    topic = getattr(top, "topic_id", "")
    known = reliability or {}
    return (
        top.score,
        top.score - second,
        top.dense_score,
        top.lexical_score,
        top.char_score,
        float(top.language == language),
        _reliability(known, topic),
    )


@dataclass(frozen=True, slots=True)
class ConfidenceModel:
    """Logistic regression over FEATURES: the probability that the top topic is right."""

    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def probability(self, features: Sequence[float]) -> float:
        x = (np.asarray(features) - np.asarray(self.mean)) / np.asarray(self.scale)
        z = float(np.dot(x, self.coef) + self.intercept)
        return float(1.0 / (1.0 + np.exp(-z)))


@dataclass(frozen=True, slots=True)
class CalibratedBands:
    """The band policy calibrated on one knowledge base: by the confidence model when it
    has one, else by the top score's thresholds."""

    thresholds: BandThresholds
    model: ConfidenceModel | None = None
    p_high: float = 1.0
    # The lowest score of a topic worth offering beside the first (clarify buttons, "not
    # helpful" alternatives); the clarify threshold when not calibrated.
    offer_floor: float | None = None
    reliability: dict[str, float] = field(default_factory=dict)

    def band_of(self, hits: Sequence[ScoredHit], language: str) -> ConfidenceBand:
        if not hits:
            return ConfidenceBand.NONE
        if self.model is None:
            return self.thresholds.band(hits[0].score)
        p = self.model.probability(features_of(hits, language, self.reliability))
        if p >= self.p_high:
            return ConfidenceBand.ANSWER
        # Below band answer, the top score decides between offering choices and "none".
        return self.thresholds.band(min(hits[0].score, self.thresholds.high - 1e-6))

    @property
    def floor(self) -> float:
        return self.thresholds.low if self.offer_floor is None else self.offer_floor

    def describe(self) -> dict[str, Any]:
        described = asdict(self.thresholds)
        if self.model is not None:
            described |= {"method": "model", "p_high": self.p_high}
        else:
            described |= {"method": "score"}
        described["offer_floor"] = self.floor
        return described
