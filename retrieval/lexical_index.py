"""An incrementally updatable BM25 index over passages (jieba words for Chinese)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from retrieval.language import lexical_tokens

Tokenizer = Callable[[str], list[str]]


class LexicalIndex:
    """Okapi BM25 with in-place add and remove, scores normalised to [0, 1] per query.

    The normalisation divides by the score the query would get against itself, so a
    passage that contains every query word scores near 1 whatever the query's length:
    that makes the lexical score comparable with cosine similarity when they are fused.
    """

    def __init__(
        self, k1: float = 1.2, b: float = 0.75, tokenize: Tokenizer = lexical_tokens
    ) -> None:
        self.k1 = k1
        self.b = b
        self.tokenize = tokenize
        self._postings: dict[str, dict[int, int]] = defaultdict(dict)
        self._lengths: dict[int, int] = {}
        self._terms: dict[int, tuple[str, ...]] = {}
        self._total_length = 0

    def __len__(self) -> int:
        return len(self._lengths)

    def add(self, passage_id: int, text: str) -> None:
        if passage_id in self._lengths:
            self.remove([passage_id])
        counts = Counter(self.tokenize(text))
        for term, tf in counts.items():
            self._postings[term][passage_id] = tf
        length = sum(counts.values())
        self._lengths[passage_id] = length
        self._terms[passage_id] = tuple(counts)
        self._total_length += length

    def remove(self, passage_ids: Iterable[int]) -> None:
        for passage_id in passage_ids:
            length = self._lengths.pop(passage_id, None)
            if length is None:
                continue
            self._total_length -= length
            for term in self._terms.pop(passage_id, ()):
                posting = self._postings[term]
                posting.pop(passage_id, None)
                if not posting:
                    del self._postings[term]

    def _idf(self, term: str) -> float:
        n = len(self._lengths)
        df = len(self._postings.get(term, ()))
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _term_weight(self, tf: int, length: int, average: float) -> float:
        return tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * length / average))

    def search(self, query: str) -> dict[int, float]:
        """Normalised BM25 score of every passage sharing at least one word with the query."""
        if not self._lengths:
            return {}
        terms = Counter(self.tokenize(query))
        if not terms:
            return {}
        average = self._total_length / len(self._lengths) or 1.0
        query_length = sum(terms.values())
        ceiling = sum(
            self._idf(term) * self._term_weight(tf, query_length, average)
            for term, tf in terms.items()
        )
        if ceiling <= 0:
            return {}
        scores: dict[int, float] = defaultdict(float)
        for term in terms:
            posting = self._postings.get(term)
            if not posting:
                continue
            idf = self._idf(term)
            for passage_id, tf in posting.items():
                weight = self._term_weight(tf, self._lengths[passage_id], average)
                scores[passage_id] += idf * weight
        return {pid: min(score / ceiling, 1.0) for pid, score in scores.items()}
