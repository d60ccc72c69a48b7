"""Sentiment of customer messages, for the handoff packet and the handoff priority.

Each customer message gets a score in [-1, 1]: P(positive) - P(negative) from a three-class
logistic regression (negative / neutral / positive) over the project's multilingual sentence
encoder, so Chinese and English share one model and nothing is fetched from the network.
The model is fitted from a small hand-written training file (``data/sentiment_train.jsonl``)
on first use: embedding its ~400 messages takes 1-2 s on a 2-core CPU and the fit itself tens
of milliseconds, so no fitted artefact is stored. Run ``python -m bench.sentiment`` for its
accuracy against a nearest-anchor baseline.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

from retrieval.encoders import DEFAULT_ENCODER, SentenceEncoder, get_encoder
from retrieval.encoders.base import Vectors

SentimentLabel = Literal["negative", "neutral", "positive"]
LABELS: tuple[SentimentLabel, ...] = get_args(SentimentLabel)
NEGATIVE, NEUTRAL, POSITIVE = range(len(LABELS))  # class ids used by the classifier

TRAINING_FILE = Path(__file__).resolve().parent / "data" / "sentiment_train.jsonl"

# Chosen by 5-fold cross-validation on the training file only: accuracy is flat from C=3 to
# C=100 (0.92-0.93), and C=10 gives probabilities sharp enough that a plainly angry message
# scores near -1 (it drives the priority's "upset" points) without saturating every message.
REGULARISATION_C = 10.0

Probabilities = npt.NDArray[np.float64]


class SentimentDataError(ValueError):
    """Raised for a malformed line in a sentiment data file."""


@dataclass(frozen=True)
class SentimentExample:
    """One labelled customer message."""

    text: str
    label: SentimentLabel
    language: str


def read_examples(path: Path) -> list[SentimentExample]:
    """Read labelled messages from JSON lines ``{"text", "label", "language"}``."""
    examples: list[SentimentExample] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            label = row.get("label")
            text = row.get("text")
            if label not in LABELS or not isinstance(text, str) or not text.strip():
                raise SentimentDataError(f"{path}:{number}: need a text and one of {LABELS}")
            examples.append(SentimentExample(text, label, str(row.get("language", ""))))
    return examples


class SentimentScorer:
    """Scores customer messages from -1 (angry) through 0 (neutral) to 1 (thankful).

    Construction only stores configuration: the encoder is loaded and the classifier fitted
    on first use, once, under a lock, so importing this module or building the handoff
    service costs nothing and concurrent first requests fit only once.
    """

    def __init__(
        self, encoder: SentenceEncoder | None = None, training_file: Path = TRAINING_FILE
    ) -> None:
        self._encoder = encoder
        self._training_file = training_file
        self._classifier: LogisticRegression | None = None
        self._lock = threading.Lock()

    @property
    def is_fitted(self) -> bool:
        return self._classifier is not None

    def fit(self) -> None:
        """Fit the classifier now unless it already is; later calls return at once."""
        self._fitted_classifier()

    def score(self, text: str) -> float:
        """P(positive) - P(negative) for one message; 0.0 for empty text."""
        return self.scores([text])[0]

    def scores(self, texts: Sequence[str]) -> list[float]:
        """P(positive) - P(negative) per message, in [-1, 1]; 0.0 for empty text."""
        probabilities = self.probabilities(texts)
        spread = probabilities[:, POSITIVE] - probabilities[:, NEGATIVE]
        return [float(s) for s in np.clip(spread, -1.0, 1.0)]

    def label(self, text: str) -> SentimentLabel:
        """The most probable class of one message; "neutral" for empty text."""
        return self.labels([text])[0]

    def labels(self, texts: Sequence[str]) -> list[SentimentLabel]:
        """The most probable class per message; "neutral" for empty text."""
        return [LABELS[int(i)] for i in self.probabilities(texts).argmax(axis=1)]

    def probabilities(self, texts: Sequence[str]) -> Probabilities:
        """Rows of P(negative), P(neutral), P(positive); empty text is certainly neutral."""
        result = np.zeros((len(texts), len(LABELS)), dtype=np.float64)
        result[:, NEUTRAL] = 1.0
        # Blank messages carry no sentiment; skipping them also avoids loading the model
        # for a conversation in which the customer never typed anything.
        spoken = [i for i, text in enumerate(texts) if text.strip()]
        if not spoken:
            return result
        classifier = self._fitted_classifier()
        vectors = self._get_encoder().encode_queries([texts[i] for i in spoken])
        predicted = classifier.predict_proba(vectors)
        # predict_proba's columns follow classifier.classes_; map them onto LABELS order.
        result[spoken] = 0.0
        for column, class_id in enumerate(classifier.classes_):
            result[spoken, int(class_id)] = predicted[:, column]
        return result

    def _get_encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            self._encoder = get_encoder(DEFAULT_ENCODER)
        return self._encoder

    def _fitted_classifier(self) -> LogisticRegression:
        classifier = self._classifier
        if classifier is not None:
            return classifier
        with self._lock:
            if self._classifier is None:
                self._classifier = self._fit()
            return self._classifier

    def _fit(self) -> LogisticRegression:
        examples = read_examples(self._training_file)
        present = {e.label for e in examples}
        if present != set(LABELS):
            raise SentimentDataError(
                f"{self._training_file}: needs examples of every label, missing "
                f"{sorted(set(LABELS) - present)}"
            )
        # Training messages are customer messages too, so they are embedded on the query side.
        vectors = self._get_encoder().encode_queries([e.text for e in examples])
        return fit_classifier(vectors, [e.label for e in examples])


def fit_classifier(vectors: Vectors, labels: Sequence[SentimentLabel]) -> LogisticRegression:
    """Fit the three-class model on message embeddings; class ids are indexes into LABELS."""
    targets = np.array([LABELS.index(label) for label in labels])
    classifier = LogisticRegression(C=REGULARISATION_C, max_iter=2000)
    classifier.fit(vectors, targets)
    return classifier


@functools.lru_cache(maxsize=1)
def get_sentiment_scorer() -> SentimentScorer:
    """The process-wide scorer with the default encoder; fitted on its first message."""
    return SentimentScorer()
