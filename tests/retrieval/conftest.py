"""Fixtures for retrieval unit tests: a tiny deterministic encoder and article factories."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from retrieval.bands import BandThresholds
from retrieval.encoders.base import Vectors, normalise
from retrieval.language import lexical_tokens
from retrieval.retriever import Retriever


class HashingEncoder:
    """Bag-of-words hashed into 256 dimensions: shared words mean similar vectors.

    Unit tests use it in place of a real model so that they run in milliseconds and
    their expected rankings follow from the words alone.
    """

    name = "hashing-test"
    dimension = 256

    def __init__(self) -> None:
        self.documents_encoded = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for token in lexical_tokens(text) or [text]:
            digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
            vector[int.from_bytes(digest, "little") % self.dimension] += 1.0
        return vector

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return normalise(np.array([self._vector(t) for t in texts]).reshape(-1, self.dimension))

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        self.documents_encoded += len(texts)
        return self.encode_queries(texts)


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    body: str = "Body text."
    questions: list[str] = field(default_factory=list)
    language: str = "en"
    status: str = "published"
    version: int = 1
    topic_id: str = ""  # "" is the article's own topic (see retrieval.passages.topic_of)


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture
def thresholds() -> BandThresholds:
    return BandThresholds(high=0.8, low=0.4, encoder="hashing-test", calibrated_on="test")


@pytest.fixture
def articles() -> list[Article]:
    return [
        Article(
            "returns-policy",
            "Returns policy",
            "You can return items within 30 days.",
            ["How do I return an item?", "Can I send my order back?"],
        ),
        Article(
            "refund-timeline",
            "How long refunds take",
            "Refunds arrive in 3-10 business days.",
            ["When will I get my refund?", "How long does a refund take?"],
        ),
        Article(
            "reset-password",
            "Reset your password",
            "Use the forgot password link.",
            ["I forgot my password", "Password reset email not arriving"],
        ),
        Article(
            "returns-policy-zh",
            "退货政策",
            "收货后30天内可以退货。",
            ["我想退货", "怎么退货"],
            language="zh",
        ),
    ]


@pytest.fixture
def retriever(encoder: HashingEncoder, thresholds: BandThresholds, articles) -> Retriever:
    r = Retriever(encoder, thresholds)
    r.upsert(articles)
    return r
