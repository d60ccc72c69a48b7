"""A FAISS inner-product index with stable 64-bit ids, updatable in place, saved atomically."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from kb.files import write_atomically
from retrieval.encoders.base import Vectors


class VectorIndex:
    """``IndexIDMap2`` over ``IndexFlatIP``: exact cosine search on normalised vectors.

    Flat search stays under a few milliseconds up to ~100k passages (see the benchmark),
    which is far beyond a customer-service knowledge base, so no approximate index is needed.
    """

    def __init__(self, dimension: int, index: faiss.Index | None = None) -> None:
        # One query at a time: OpenMP's thread start-up and its fight with numpy's BLAS
        # threads cost more than they save (9 ms vs 0.5 ms a search at 10k passages here).
        faiss.omp_set_num_threads(1)
        self.dimension = dimension
        self._index = (
            index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        )

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: npt.NDArray[np.int64], vectors: Vectors) -> None:
        if len(ids) == 0:
            return
        if vectors.shape != (len(ids), self.dimension):
            raise ValueError(
                f"expected {len(ids)} vectors of {self.dimension}, got {vectors.shape}"
            )
        self._index.add_with_ids(vectors, ids.astype(np.int64))

    def remove(self, ids: npt.NDArray[np.int64]) -> None:
        if len(ids) == 0:
            return
        self._index.remove_ids(faiss.IDSelectorBatch(ids.astype(np.int64)))

    def search(
        self, query: Vectors, k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Scores and ids of the ``k`` nearest passages (id -1 pads when fewer exist)."""
        if len(self) == 0:
            return np.zeros((1, 0), dtype=np.float32), np.zeros((1, 0), dtype=np.int64)
        scores, ids = self._index.search(query, min(k, len(self)))
        return scores, ids

    def reconstruct(self, ids: npt.NDArray[np.int64]) -> Vectors:
        """The stored vectors of ``ids`` (all must be present)."""
        return np.asarray(self._index.reconstruct_batch(ids.astype(np.int64)), dtype=np.float32)

    def save(self, path: Path) -> None:
        """Serialise the index and write it atomically (see ``kb.files.write_atomically``)."""
        write_atomically(path, faiss.serialize_index(self._index).tobytes())

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        index = faiss.read_index(str(path))
        return cls(index.d, index)
