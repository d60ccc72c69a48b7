"""Text every database can store: valid Unicode (no lone surrogates, which are not UTF-8) and
no NUL characters (PostgreSQL refuses them). Request schemas check it, so such text is a 422
with a reason, never a 500 from the database."""

from __future__ import annotations

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
