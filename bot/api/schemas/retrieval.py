"""The calibration of the confidence bands on the knowledge base in use, for editors: how
sure the bot can be in band ``answer``, how much it answers, and which articles are easily
confused with each other (their topics resolved to the articles an editor can open)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from kb.schemas import ArticleSnapshot, Language
from retrieval.bands import BandThresholds
from retrieval.calibration import Calibration

MAX_CONFUSABLE = 20  # pairs shown, most questions first

CalibrationStatus = Literal["calibrated", "fallback", "pending"]


class BandThresholdsPublic(BaseModel):
    high: float  # the top score of band answer (when the method is "score")
    low: float  # the top score below which the bot does not answer (band none)


class ConfusableArticlePublic(BaseModel):
    id: str
    title: str
    language: str


class ConfusableTopicPublic(BaseModel):
    """A topic of a confusable pair: its published articles (one per language)."""

    topic_id: str
    articles: list[ConfusableArticlePublic] = Field(max_length=len(Language))


class ConfusablePairPublic(BaseModel):
    """Two topics whose alternative questions, left out, were found as the other one."""

    questions: int
    topics: list[ConfusableTopicPublic] = Field(min_length=2, max_length=2)


class CalibrationPublic(BaseModel):
    """``calibrated``: the bands were chosen on this knowledge base's own questions;
    ``fallback``: too little data, the shipped thresholds are used; ``pending``: the first
    calibration has not finished (the shipped thresholds are used meanwhile). The measured
    shares are ``None`` unless calibrated."""

    status: CalibrationStatus
    reason: str
    computed_at: datetime | None
    seconds: float | None  # how long the calibration took
    encoder: str
    articles: int | None  # published articles it was measured on
    questions: int | None  # their alternative questions
    expected_precision: float | None  # in band answer, questions without an answer counted wrong
    answered_share: float | None  # of the answerable questions, in band answer
    kept_out: float | None  # of the questions without an answer, kept out of band answer
    self_top1: float | None  # answerable questions whose own article ranked first
    method: Literal["model", "score"]  # what decides band answer: a confidence model, or a score
    thresholds: BandThresholdsPublic
    confusable: list[ConfusablePairPublic] = Field(max_length=MAX_CONFUSABLE)

    @classmethod
    def pending(cls, encoder: str, shipped: BandThresholds) -> CalibrationPublic:
        return cls(
            status="pending",
            reason="the first calibration has not finished: the shipped thresholds are used",
            computed_at=None,
            seconds=None,
            encoder=encoder,
            articles=None,
            questions=None,
            expected_precision=None,
            answered_share=None,
            kept_out=None,
            self_top1=None,
            method="score",
            thresholds=BandThresholdsPublic(high=shipped.high, low=shipped.low),
            confusable=[],
        )

    @classmethod
    def of(
        cls, calibration: Calibration, published: Sequence[ArticleSnapshot]
    ) -> CalibrationPublic:
        """``published``: the articles a confusable topic is resolved to."""
        measured = not calibration.fallback
        thresholds = calibration.bands.thresholds
        return cls(
            status="calibrated" if measured else "fallback",
            reason=calibration.reason,
            computed_at=datetime.fromisoformat(calibration.computed_at),
            seconds=calibration.seconds,
            encoder=calibration.encoder,
            articles=calibration.articles,
            questions=calibration.questions,
            expected_precision=calibration.expected_precision if measured else None,
            answered_share=calibration.answered_share if measured else None,
            kept_out=calibration.kept_out if measured else None,
            self_top1=calibration.self_top1 if measured else None,
            method="model" if calibration.bands.model is not None else "score",
            thresholds=BandThresholdsPublic(high=thresholds.high, low=thresholds.low),
            confusable=_confusable_pairs(calibration.confusable, published),
        )


def _confusable_pairs(
    pairs: Sequence[dict[str, Any]], published: Sequence[ArticleSnapshot]
) -> list[ConfusablePairPublic]:
    """A topic with no published article left (changed since the calibration) is listed
    with none; the next calibration, a few seconds after the change, drops it."""
    members: dict[str, list[ConfusableArticlePublic]] = {}
    for article in sorted(published, key=lambda a: (a.language, a.id)):
        members.setdefault(article.topic_id, []).append(
            ConfusableArticlePublic(id=article.id, title=article.title, language=article.language)
        )
    return [
        ConfusablePairPublic(
            questions=pair["questions"],
            topics=[
                ConfusableTopicPublic(topic_id=topic, articles=members.get(topic, []))
                for topic in pair["topics"]
            ],
        )
        for pair in pairs[:MAX_CONFUSABLE]
    ]
