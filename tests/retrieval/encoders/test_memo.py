"""Within one unit of work an encoder embeds a text once; outside it, every call embeds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.encoders.base import Vectors, normalise
from retrieval.encoders.memo import MemoisedEncoder, one_embedding_per_text


class CountingEncoder:
    name = "counting"
    dimension = 3

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        self.embedded += texts
        return normalise([[len(t), 1.0, 0.0] for t in texts])

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        return self.encode_queries(texts)


def test_a_text_is_embedded_once_within_the_block() -> None:
    counting = CountingEncoder()
    encoder = MemoisedEncoder(counting)
    with one_embedding_per_text():
        first = encoder.encode_queries(["refund", "parcel"])
        again = encoder.encode_queries(["parcel", "refund", "invoice"])
    assert counting.embedded == ["refund", "parcel", "invoice"]
    np.testing.assert_array_equal(again[:2], first[::-1])
    assert again.shape == (3, 3) and again.dtype == np.float32


def test_nothing_is_kept_after_the_block_or_outside_one() -> None:
    counting = CountingEncoder()
    encoder = MemoisedEncoder(counting)
    with one_embedding_per_text():
        encoder.encode_queries(["refund"])
    encoder.encode_queries(["refund"])
    encoder.encode_queries(["refund"])
    with one_embedding_per_text():
        encoder.encode_queries(["refund"])
    assert counting.embedded == ["refund"] * 4


def test_documents_are_never_memoised() -> None:
    counting = CountingEncoder()
    encoder = MemoisedEncoder(counting)
    with one_embedding_per_text():
        encoder.encode_documents(["refund"])
        encoder.encode_documents(["refund"])
    assert counting.embedded == ["refund", "refund"]
