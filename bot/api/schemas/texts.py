"""The staff consoles' texts, as the browser reads them."""

from __future__ import annotations

from pydantic import BaseModel


class StaffTextsPublic(BaseModel):
    languages: list[str]  # the first is the fallback
    texts: dict[str, dict[str, str]]  # key: {language: text}; {name} placeholders
