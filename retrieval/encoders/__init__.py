"""Sentence encoders behind one interface, each loaded offline from an installed package."""

from retrieval.encoders.base import SentenceEncoder, Vectors, normalise
from retrieval.encoders.registry import (
    AUTO,
    DEFAULT_ENCODER,
    ENCODER_NAMES,
    ENGLISH_ENCODER,
    UnknownEncoderError,
    get_encoder,
    resolve_encoder,
)

__all__ = [
    "AUTO",
    "DEFAULT_ENCODER",
    "ENCODER_NAMES",
    "ENGLISH_ENCODER",
    "SentenceEncoder",
    "UnknownEncoderError",
    "Vectors",
    "get_encoder",
    "normalise",
    "resolve_encoder",
]
