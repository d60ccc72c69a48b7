"""Text every database can store: valid Unicode (no lone surrogates, which are not UTF-8) and
no NUL characters (PostgreSQL refuses them). Request schemas check it, so such text is a 422
with a reason, never a 500 from the database. And names shown to others, without the controls
that would reorder the text around them (docs/security.md#text-from-users)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator


def storable(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("text is not valid Unicode (it has a lone surrogate)") from error
    return text


Storable = AfterValidator(storable)
StorableStr = Annotated[str, Storable]


# The explicit embeddings, overrides and isolates (LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI):
# in a name they only serve to reorder what is shown around it. The marks LRM, RLM and ALM stay
# (they open nothing, and right-to-left names use them), as do all letters of every script.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def display_name(text: str) -> str:
    """A person's name as others see it: stripped, the explicit bidirectional controls removed."""
    return BIDI_CONTROLS.sub("", text).strip()


DisplayName = AfterValidator(display_name)
