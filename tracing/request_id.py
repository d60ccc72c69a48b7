"""The request id that follows one customer message through the gateway, Rasa and the actions
(and one HTTP request through the service), and the conversation it is about, for the logs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Request-ID"
# The key of the id in the metadata of a message sent to Rasa (the actions read it from there).
METADATA_KEY = "kefu_request_id"
# An id a caller sends is kept only when it is this short and plain: it goes into log lines and
# headers, so no spaces, quotes or control characters (a log line cannot be forged through it).
SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

request_id: ContextVar[str | None] = ContextVar("kefu_request_id", default=None)
conversation_id: ContextVar[str | None] = ContextVar("kefu_conversation_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted(candidate: str | None) -> str:
    """The caller's id when it is sane, a new one otherwise."""
    if candidate is not None and SANE.fullmatch(candidate):
        return candidate
    return new_request_id()


@contextmanager
def handling(current: str) -> Iterator[str]:
    """Log lines and calls to Rasa made inside carry ``current`` as their request id."""
    token = request_id.set(current)
    try:
        yield current
    finally:
        request_id.reset(token)


@contextmanager
def about_conversation(current: str) -> Iterator[None]:
    token = conversation_id.set(current)
    try:
        yield
    finally:
        conversation_id.reset(token)
