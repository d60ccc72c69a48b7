"""Retrieval evaluation: accuracy, ranking quality, band behaviour and latency on a query set."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retrieval.bands import BandThresholds, ConfidenceBand
from retrieval.retriever import Retriever, SearchMode

RANK_DEPTH = 10


class QueryFileError(ValueError):
    """An evaluation query file that cannot be read; the message names the line."""


@dataclass(frozen=True, slots=True)
class EvalQuery:
    text: str
    article_id: str | None  # None: the knowledge base has no answer


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    text: str
    expected: str | None
    ranked: list[str]
    top_score: float | None
    band: str
    language: str

    @property
    def rank(self) -> int | None:
        """1-based rank of the expected article, or None when absent or unanswerable."""
        if self.expected is None or self.expected not in self.ranked:
            return None
        return self.ranked.index(self.expected) + 1


@dataclass(frozen=True, slots=True)
class RankingMetrics:
    top1: float
    recall_at_3: float
    mrr: float


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """All the numbers of one evaluation run (``to_dict`` is the ``--json`` output)."""

    queries: int
    answerable: int
    unanswerable: int
    hybrid: RankingMetrics
    bm25_baseline: RankingMetrics
    answer_band_share: float  # answerable queries put in band answer
    answer_band_accuracy: float  # of those, top-1 correct
    unanswerable_kept_out: float  # unanswerable queries not in band answer
    unanswerable_in_none: float
    latency_p50_ms: float
    latency_p99_ms: float
    thresholds: dict[str, Any]
    by_language: dict[str, RankingMetrics] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_queries(path: Path) -> list[EvalQuery]:
    """Read ``{"text": …, "article_id": <slug or null>}`` lines; blank lines are skipped."""
    queries = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise QueryFileError(f"{path}: cannot read ({error})") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise QueryFileError(f"{path}:{number}: invalid JSON: {error.msg}") from error
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise QueryFileError(f"{path}:{number}: needs a string field 'text'")
        if not row["text"].strip():
            raise QueryFileError(f"{path}:{number}: 'text' is empty")
        if "article_id" not in row:
            raise QueryFileError(f"{path}:{number}: needs 'article_id' (a slug, or null)")
        expected = row["article_id"]
        if expected is not None and not isinstance(expected, str):
            raise QueryFileError(f"{path}:{number}: 'article_id' must be a string or null")
        queries.append(EvalQuery(row["text"], expected))
    if not queries:
        raise QueryFileError(f"{path}: no queries")
    return queries


def run_queries(
    retriever: Retriever, queries: Sequence[EvalQuery], mode: SearchMode = SearchMode.HYBRID
) -> tuple[list[QueryOutcome], list[float]]:
    outcomes, latencies = [], []
    for query in queries:
        started = time.perf_counter()
        result = retriever.search(query.text, k=RANK_DEPTH, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        outcomes.append(
            QueryOutcome(
                text=query.text,
                expected=query.article_id,
                ranked=[hit.article_id for hit in result.hits],
                top_score=result.top.score if result.top else None,
                band=result.band.value,
                language=result.language,
            )
        )
    return outcomes, latencies


def ranking_metrics(outcomes: Sequence[QueryOutcome]) -> RankingMetrics:
    answerable = [o for o in outcomes if o.expected is not None]
    if not answerable:
        return RankingMetrics(0.0, 0.0, 0.0)
    ranks = [o.rank for o in answerable]
    return RankingMetrics(
        top1=round(sum(r == 1 for r in ranks) / len(ranks), 4),
        recall_at_3=round(sum(r is not None and r <= 3 for r in ranks) / len(ranks), 4),
        mrr=round(sum(1 / r for r in ranks if r) / len(ranks), 4),
    )


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _percentile(values: Sequence[float], q: float) -> float:
    if len(values) < 2:
        return round(values[0], 3) if values else 0.0
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 3)


def evaluate(retriever: Retriever, queries: Sequence[EvalQuery]) -> EvaluationReport:
    """Run every query through hybrid search and the BM25 baseline, in the same process."""
    outcomes, latencies = run_queries(retriever, queries)
    baseline, _ = run_queries(retriever, queries, SearchMode.LEXICAL)
    answerable = [o for o in outcomes if o.expected is not None]
    unanswerable = [o for o in outcomes if o.expected is None]
    answered = [o for o in answerable if o.band == ConfidenceBand.ANSWER]
    failures = [
        {
            "text": o.text,
            "expected": o.expected,
            "got": o.ranked[:3],
            "band": o.band,
            "score": o.top_score,
        }
        for o in outcomes
        if (o.expected is not None and o.rank != 1)
        or (o.expected is None and o.band == ConfidenceBand.ANSWER)
    ]
    languages = sorted({o.language for o in outcomes})
    return EvaluationReport(
        queries=len(outcomes),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        hybrid=ranking_metrics(outcomes),
        bm25_baseline=ranking_metrics(baseline),
        answer_band_share=_share(len(answered), len(answerable)),
        answer_band_accuracy=_share(sum(o.rank == 1 for o in answered), len(answered)),
        unanswerable_kept_out=_share(
            sum(o.band != ConfidenceBand.ANSWER for o in unanswerable), len(unanswerable)
        ),
        unanswerable_in_none=_share(
            sum(o.band == ConfidenceBand.NONE for o in unanswerable), len(unanswerable)
        ),
        latency_p50_ms=_percentile(latencies, 50),
        latency_p99_ms=_percentile(latencies, 99),
        thresholds=retriever.thresholds.describe(),
        by_language={
            lang: ranking_metrics([o for o in outcomes if o.language == lang]) for lang in languages
        },
        failures=failures,
    )


def calibrate(
    outcomes: Sequence[QueryOutcome],
    encoder: str,
    source: str,
    answer_precision: float = 0.9,
) -> BandThresholds:
    """Pick band thresholds from a dev set's hybrid outcomes.

    ``high`` is the lowest top score at which the answers given at or above it are right
    at least ``answer_precision`` of the time (an unanswerable query answered counts as
    wrong): a wrong confident answer costs more than a clarifying question.
    ``low`` maximises (unanswerable queries below it) + (answerable queries at or above it
    whose article is in the top three): what is kept is worth offering as buttons.
    """
    scored = sorted(
        (o for o in outcomes if o.top_score is not None), key=lambda o: -(o.top_score or 0)
    )
    if not scored:
        raise ValueError("no scored queries to calibrate on")
    high = scored[0].top_score or 1.0
    right = 0
    for count, outcome in enumerate(scored, start=1):
        right += outcome.rank == 1
        if right / count >= answer_precision:
            high = outcome.top_score or high
    answerable = [o for o in scored if o.expected is not None]
    unanswerable = [o for o in scored if o.expected is None]
    best_low, best_value = high, -1.0
    for candidate in sorted({o.top_score or 0.0 for o in scored if (o.top_score or 0) <= high}):
        kept_out = sum((o.top_score or 0) < candidate for o in unanswerable)
        kept_in = sum(
            (o.top_score or 0) >= candidate and o.rank is not None and o.rank <= 3
            for o in answerable
        )
        value = _share(kept_out, len(unanswerable)) + _share(kept_in, len(answerable))
        if value > best_value:
            best_low, best_value = candidate, value
    return BandThresholds(
        high=round(high, 4),
        low=round(min(best_low, high), 4),
        encoder=encoder,
        calibrated_on=source,
    )
