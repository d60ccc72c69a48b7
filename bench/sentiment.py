"""Sentiment benchmark: the handoff's sentiment scorer against a nearest-anchor baseline.

Run with ``python -m bench.sentiment``. Both methods use the same encoder and training file
(bot/handoff/data/sentiment_train.jsonl) and are measured in this process on the held-out
set tests/data/sentiment/test.jsonl:

- scorer: the three-class logistic regression of ``bot.handoff.sentiment.SentimentScorer``;
- baseline: nearest anchor, i.e. the mean training embedding of each class, and the class
  whose anchor is most cosine-similar to the message wins.

Reported: accuracy overall / zh / en and macro-F1 of the argmax label; "upset AUC", how well
the continuous score ranks negative messages below the others (what the handoff priority
uses; the baseline's score is cos(positive anchor) - cos(negative anchor)); the time to fit
with the encoder already loaded (embedding the training file plus the method's own fitting,
which is also shown alone); and the mean and median time to score one message alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from bot.handoff.sentiment import (
    LABELS,
    TRAINING_FILE,
    SentimentExample,
    SentimentLabel,
    SentimentScorer,
    fit_classifier,
    read_examples,
)
from retrieval.encoders import DEFAULT_ENCODER, SentenceEncoder, get_encoder
from retrieval.encoders.base import Vectors, normalise

REPO = Path(__file__).resolve().parent.parent
TEST_FILE = REPO / "tests" / "data" / "sentiment" / "test.jsonl"

Classify = Callable[[Sequence[str]], list[SentimentLabel]]
Score = Callable[[Sequence[str]], list[float]]


class NearestAnchorBaseline:
    """Labels a message by the class whose mean training embedding is the most similar."""

    def __init__(self, encoder: SentenceEncoder, training: Sequence[SentimentExample]) -> None:
        self._encoder = encoder
        self._anchors = anchors(
            encoder.encode_queries([e.text for e in training]), [e.label for e in training]
        )

    def _similarities(self, texts: Sequence[str]) -> Vectors:
        return self._encoder.encode_queries(texts) @ self._anchors.T

    def labels(self, texts: Sequence[str]) -> list[SentimentLabel]:
        return [LABELS[int(i)] for i in self._similarities(texts).argmax(axis=1)]

    def scores(self, texts: Sequence[str]) -> list[float]:
        similarities = self._similarities(texts)
        positive, negative = LABELS.index("positive"), LABELS.index("negative")
        return [float(s) for s in similarities[:, positive] - similarities[:, negative]]


def anchors(vectors: Vectors, labels: Sequence[SentimentLabel]) -> Vectors:
    """One mean embedding per label, in LABELS order, re-normalised for cosine similarity."""
    by_label = np.array(labels)
    return normalise(np.stack([vectors[by_label == label].mean(axis=0) for label in LABELS]))


@dataclass(frozen=True)
class MethodResult:
    method: str
    accuracy: float
    accuracy_zh: float
    accuracy_en: float
    macro_f1: float
    upset_auc: float
    fit_ms: float
    fit_without_embedding_ms: float
    score_one_mean_ms: float
    score_one_median_ms: float


def accuracy(expected: Sequence[str], predicted: Sequence[str]) -> float:
    if not expected:
        return 0.0
    return sum(e == p for e, p in zip(expected, predicted, strict=True)) / len(expected)


def evaluate(
    method: str,
    classify: Classify,
    score: Score,
    test: Sequence[SentimentExample],
    fit_s: float,
    fit_without_embedding_s: float,
) -> MethodResult:
    texts = [e.text for e in test]
    predicted = classify(texts)
    expected = [e.label for e in test]

    def language_accuracy(language: str) -> float:
        pairs = [
            (e.label, p) for e, p in zip(test, predicted, strict=True) if e.language == language
        ]
        return accuracy([label for label, _ in pairs], [p for _, p in pairs])

    # Upset means negative; a lower score should mean more upset, hence the minus sign.
    upset = [e.label == "negative" for e in test]
    upset_auc = float(roc_auc_score(upset, [-s for s in score(texts)]))

    # One message at a time, as the handoff scores a customer's message when it arrives.
    timings = []
    for text in texts:
        started = time.perf_counter()
        score([text])
        timings.append(time.perf_counter() - started)
    return MethodResult(
        method=method,
        accuracy=round(accuracy(expected, predicted), 3),
        accuracy_zh=round(language_accuracy("zh"), 3),
        accuracy_en=round(language_accuracy("en"), 3),
        macro_f1=round(float(f1_score(expected, predicted, labels=LABELS, average="macro")), 3),
        upset_auc=round(upset_auc, 3),
        fit_ms=round(fit_s * 1000, 1),
        fit_without_embedding_ms=round(fit_without_embedding_s * 1000, 2),
        score_one_mean_ms=round(statistics.mean(timings) * 1000, 2),
        score_one_median_ms=round(statistics.median(timings) * 1000, 2),
    )


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def run(training_file: Path, test_file: Path) -> tuple[list[MethodResult], dict[str, int]]:
    training = read_examples(training_file)
    test = read_examples(test_file)
    # Loaded before any timing so that neither method's fit time includes the model load.
    encoder = get_encoder(DEFAULT_ENCODER)

    scorer = SentimentScorer(encoder, training_file)
    scorer_fit_s = timed(scorer.fit)
    started = time.perf_counter()
    baseline = NearestAnchorBaseline(encoder, training)
    baseline_fit_s = time.perf_counter() - started
    # Each method's own fitting on embeddings computed once, to show what the embedding costs.
    vectors = encoder.encode_queries([e.text for e in training])
    labels = [e.label for e in training]
    classifier_s = timed(lambda: fit_classifier(vectors, labels))
    anchors_s = timed(lambda: anchors(vectors, labels))

    results = [
        evaluate(
            "logistic regression (SentimentScorer)",
            scorer.labels,
            scorer.scores,
            test,
            scorer_fit_s,
            classifier_s,
        ),
        evaluate(
            "nearest anchor (baseline)",
            baseline.labels,
            baseline.scores,
            test,
            baseline_fit_s,
            anchors_s,
        ),
    ]
    counts = {
        "train_zh": sum(e.language == "zh" for e in training),
        "train_en": sum(e.language == "en" for e in training),
        "test_zh": sum(e.language == "zh" for e in test),
        "test_en": sum(e.language == "en" for e in test),
    }
    return results, counts


def markdown(results: Sequence[MethodResult], counts: dict[str, int]) -> str:
    lines = [
        f"Encoder `{DEFAULT_ENCODER}`; trained on {counts['train_zh']} zh + "
        f"{counts['train_en']} en messages, tested on {counts['test_zh']} zh + "
        f"{counts['test_en']} en held-out messages (3 classes).",
        "",
        "| method | accuracy | zh accuracy | en accuracy | macro-F1 | upset AUC | fit (ms) | "
        "fit without embedding (ms) | score one message, mean / median (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.method} | {r.accuracy} | {r.accuracy_zh} | {r.accuracy_en} | "
            f"{r.macro_f1} | {r.upset_auc} | {r.fit_ms} | {r.fit_without_embedding_ms} | "
            f"{r.score_one_mean_ms} / {r.score_one_median_ms} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=TRAINING_FILE)
    parser.add_argument("--test", type=Path, default=TEST_FILE)
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args()
    results, counts = run(args.train, args.test)
    if args.json:
        payload = {"counts": counts, "results": [asdict(r) for r in results]}
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(markdown(results, counts))


if __name__ == "__main__":
    main()
