"""The one language detector of the whole project: the Rasa component, the gateway, retrieval
and the texts all ask it, so they never disagree about a message.

It decides by the dominant language. A Chinese character is counted like an English word (a
Chinese word is one to two characters, and the grammar of a mixed message is carried by the
Chinese), so Chinese with English words in it is Chinese: "我的refund怎么还没到账",
"order能cancel吗", "password忘了怎么办". A message framed in English around a Chinese word stays
English: "Where is my 订单 #123". Pure Python, no dependencies: the Rasa environment uses it too.
"""

from __future__ import annotations

import re
from typing import Literal

LanguageCode = Literal["zh", "en"]

# CJK unified ideographs with extension A and the compatibility ideographs.
_CJK_CHARACTER = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")

# Chinese when Chinese characters are at least this share of characters plus English words.
MIN_CJK_SHARE = 0.5


def detect_language(text: str) -> LanguageCode | None:
    """``zh`` or ``en`` by the dominant language; ``None`` when there is nothing to tell by
    (digits, emoji, punctuation), so that a conversation keeps the language it had."""
    cjk = len(_CJK_CHARACTER.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    if cjk + latin_words == 0:
        return None
    return "zh" if cjk / (cjk + latin_words) >= MIN_CJK_SHARE else "en"


def language_of(text: str, default: LanguageCode = "en") -> LanguageCode:
    """The detected language, or ``default`` when the text does not tell."""
    return detect_language(text) or default
