"""Two encoders as one: their normalised vectors side by side, weighted, so that the cosine of
the fused vectors is the weighted mean of the two cosines."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.encoders.base import SentenceEncoder, Vectors, normalise


class FusedEncoder:
    def __init__(self, first: SentenceEncoder, second: SentenceEncoder, weight: float = 0.5):
        self.first, self.second, self.weight = first, second, weight
        self.name = f"{first.name}+{second.name}"
        self.dimension = first.dimension + second.dimension

    def _fuse(self, a: Vectors, b: Vectors) -> Vectors:
        return normalise(np.hstack([a * np.sqrt(self.weight), b * np.sqrt(1 - self.weight)]))

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._fuse(self.first.encode_queries(texts), self.second.encode_queries(texts))

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        return self._fuse(self.first.encode_documents(texts), self.second.encode_documents(texts))
