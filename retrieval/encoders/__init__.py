"""Sentence encoders behind one interface, each loaded offline from an installed package."""

from retrieval.encoders.base import (
    DEFAULT_ENCODER,
    ENCODER_NAMES,
    SentenceEncoder,
    UnknownEncoderError,
    get_encoder,
)

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODER_NAMES",
    "SentenceEncoder",
    "UnknownEncoderError",
    "get_encoder",
]
