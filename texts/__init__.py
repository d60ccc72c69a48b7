"""Texts a person reads, one catalogue per audience, in each language Kefu speaks.

Business code never picks a language by hand: it passes the language it knows (detected,
stored on the conversation, or a slot) and the catalogue falls back to English for anything
else. Pure Python with no dependencies, so the Rasa actions (another environment) use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from texts.customer import TEXTS as CUSTOMER_TEXTS
from texts.staff import TEXTS as STAFF_TEXTS

Language = Literal["en", "zh"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "zh")
FALLBACK: Final[Language] = "en"


# The BCP 47 tag of each language, for a page's <html lang> (fonts and screen readers).
HTML_LANG: Final[dict[Language, str]] = {"en": "en", "zh": "zh-CN"}


def language_or_fallback(language: str | None) -> Language:
    """A language the catalogues have: the one given, or English."""
    return next((known for known in LANGUAGES if known == language), FALLBACK)


def html_lang(language: str | None) -> str:
    return HTML_LANG[language_or_fallback(language)]


class Catalogue:
    """Texts by key and language; ``say`` fills the text's ``{placeholders}``."""

    def __init__(self, texts: Mapping[str, Mapping[str, str]]) -> None:
        self.texts = texts

    def say(self, key: str, language: str | None, **values: object) -> str:
        return self.texts[key][language_or_fallback(language)].format(**values)


CUSTOMER = Catalogue(CUSTOMER_TEXTS)
# The consoles read it in the browser (GET /api/v1/texts/staff); here for tests and tools.
STAFF = Catalogue(STAFF_TEXTS)


def say(key: str, language: str | None, **values: object) -> str:
    """A customer text in ``language`` (English when it is not one Kefu speaks)."""
    return CUSTOMER.say(key, language, **values)


__all__ = [
    "CUSTOMER",
    "FALLBACK",
    "HTML_LANG",
    "LANGUAGES",
    "STAFF",
    "Catalogue",
    "Language",
    "html_lang",
    "language_or_fallback",
    "say",
]
