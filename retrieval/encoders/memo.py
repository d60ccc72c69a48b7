"""One embedding per text within a unit of work: the same customer message is read by the
search (its meaning) and by the escalation signals (its sentiment) with the same encoder, and
each would embed it anew. Inside ``one_embedding_per_text()`` an encoder's query vectors are
kept for the rest of that block and then dropped: nothing is cached across messages, so a
question asked twice costs what it did, and a benchmark that repeats questions gains nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from retrieval.encoders.base import SentenceEncoder, Vectors

# (encoder name, text) → its query vector, for the block that set it; None outside any block.
_vectors: ContextVar[dict[tuple[str, str], Vectors] | None] = ContextVar(
    "query_vectors", default=None
)


@contextmanager
def one_embedding_per_text() -> Iterator[None]:
    """Within the block, each encoder embeds a given query text once."""
    token = _vectors.set({})
    try:
        yield
    finally:
        _vectors.reset(token)


class MemoisedEncoder:
    """An encoder whose query vectors are reused within ``one_embedding_per_text()``."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.dimension = encoder.dimension

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        kept = _vectors.get()
        if kept is None or not texts:
            return self.encoder.encode_queries(texts)
        missing = [text for text in dict.fromkeys(texts) if (self.name, text) not in kept]
        if missing:
            for text, vector in zip(missing, self.encoder.encode_queries(missing), strict=True):
                kept[(self.name, text)] = vector
        return np.stack([kept[(self.name, text)] for text in texts])

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        return self.encoder.encode_documents(texts)
