"""A sentence-transformers model loaded offline from the files an installed package ships."""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.encoders.base import Vectors, normalise


class SentenceTransformerEncoder:
    """Any sentence-transformers model directory; never touches the network."""

    def __init__(self, name: str, model_dir: Path) -> None:
        # Models come from installed packages; a hub lookup would hang on this network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.name = name
        self._model = SentenceTransformer(str(model_dir), device="cpu")
        # The accessor was renamed in sentence-transformers 6; accept either spelling.
        get_dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dimension = get_dimension()
        if dimension is None:
            raise ValueError(f"{name}: the model does not report its embedding dimension")
        self.dimension = int(dimension)

    @classmethod
    def from_package(cls, name: str, package: str) -> SentenceTransformerEncoder:
        module = importlib.import_module(package)
        model_dir = Path(module.get_model_path())
        return cls(name, model_dir)

    def _encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(list(texts), batch_size=64, show_progress_bar=False)
        return normalise(vectors)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)
