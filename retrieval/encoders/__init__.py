"""Sentence encoders behind one interface, each loaded offline from an installed package."""

from retrieval.encoders.base import SentenceEncoder, Vectors, normalise
from retrieval.encoders.registry import (
    DEFAULT_ENCODER,
    ENCODER_NAMES,
    UnknownEncoderError,
    get_encoder,
)

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODER_NAMES",
    "SentenceEncoder",
    "UnknownEncoderError",
    "Vectors",
    "get_encoder",
    "normalise",
]
