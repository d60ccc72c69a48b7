"""Spelling correction against the knowledge base's own words: "cancle my oder" searches
as "cancel my order" when those are words the articles use.

Only English words are corrected, and only a word that neither the knowledge base nor an
English dictionary knows (pyspellchecker's word frequencies: a correctly spelt word the
articles happen not to use, "flying", "charged", stays as it is), to the closest word the
knowledge base does use (difflib's ratio at least ``MIN_SIMILARITY``, candidates shortlisted
by shared character trigrams; the more frequent wins a tie). The vocabulary follows the index
(added and removed with the passages), so a new article's words are known at once.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[a-z]+")
MIN_LENGTH = 4  # shorter words have too many close neighbours to correct safely
MIN_SIMILARITY = 0.8
SHORTLIST = 30
# A word seen this often in pyspellchecker's English corpus is a real word ("oder": 146, no).
MIN_ENGLISH_COUNT = 300


@lru_cache(maxsize=1)
def _english() -> Any:
    from spellchecker import SpellChecker

    return SpellChecker(language="en", distance=1)


def is_english_word(word: str) -> bool:
    return bool(_english().word_frequency[word] >= MIN_ENGLISH_COUNT)


def _trigrams(word: str) -> set[str]:
    marked = f"#{word}#"
    return {marked[i : i + 3] for i in range(len(marked) - 2)}


class SpellingCorrector:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._by_trigram: dict[str, set[str]] = defaultdict(set)

    def __contains__(self, word: str) -> bool:
        return self._counts[word] > 0

    def add(self, text: str) -> None:
        for word in _WORD.findall(text.lower()):
            if self._counts[word] == 0:
                for gram in _trigrams(word):
                    self._by_trigram[gram].add(word)
            self._counts[word] += 1

    def remove(self, text: str) -> None:
        for word in _WORD.findall(text.lower()):
            if self._counts[word] <= 0:
                continue
            self._counts[word] -= 1
            if self._counts[word] == 0:
                del self._counts[word]
                for gram in _trigrams(word):
                    self._by_trigram[gram].discard(word)

    def closest(self, word: str) -> str | None:
        """The knowledge base's word closest to an unknown ``word``, if one is close enough."""
        grams = _trigrams(word)
        shared: Counter[str] = Counter()
        for gram in grams:
            shared.update(self._by_trigram.get(gram, ()))
        best, best_key = None, (MIN_SIMILARITY, 0)
        for candidate, _ in shared.most_common(SHORTLIST):
            ratio = difflib.SequenceMatcher(None, word, candidate).ratio()
            key = (ratio, self._counts[candidate])
            if key >= best_key:
                best, best_key = candidate, key
        return best

    def correct(self, text: str) -> str:
        """The text with each unknown English word replaced by its closest known one."""

        def fix(match: re.Match[str]) -> str:
            original = match.group(0)
            word = original.lower()
            if len(word) < MIN_LENGTH or word in self or is_english_word(word):
                return original
            return self.closest(word) or original

        return re.sub(r"[A-Za-z]+", fix, text)
