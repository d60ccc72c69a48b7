"""The hybrid retriever: dense (FAISS) and lexical (BM25) passage search folded per article."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.bands import BandThresholds, ConfidenceBand
from retrieval.encoders.base import SentenceEncoder
from retrieval.lexical_index import LexicalIndex
from retrieval.passages import IndexableArticle, Passage, article_passages
from retrieval.vector_index import VectorIndex
from texts.language import language_of

Progress = Callable[[int, int], None]


class SearchMode(StrEnum):
    """Which signals rank the articles; ``lexical`` is the BM25-only baseline."""

    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"


@dataclass(frozen=True, slots=True)
class RankingWeights:
    """How the signals are fused; tuned on the dev evaluation set (README, "Retrieval").

    On the dev set, adding 0.3 × BM25 to the dense score lifts top-1 from 0.79 to 0.86. A
    bonus for the customer's language only lowered it (0.86 → 0.84 at 0.02): BM25 already
    favours the same-language version, and the bonus pushed down cross-language answers.
    """

    lexical: float = 0.3  # added share of the normalised BM25 score
    same_language: float = 0.0  # bonus for articles in the query's language
    candidates: int = 64  # passages fetched from FAISS before folding per article


@dataclass(frozen=True, slots=True)
class MatchedPassage:
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class ArticleHit:
    """One article in a result, with the passage that matched best."""

    article_id: str
    version: int
    title: str
    language: str
    score: float
    dense_score: float
    lexical_score: float
    matched: MatchedPassage


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Ranked articles for a query and what the bot should do with them."""

    query: str
    language: str
    band: ConfidenceBand
    hits: list[ArticleHit]
    mode: SearchMode = SearchMode.HYBRID

    @property
    def top(self) -> ArticleHit | None:
        return self.hits[0] if self.hits else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "language": self.language,
            "band": self.band.value,
            "mode": self.mode.value,
            "hits": [asdict(hit) for hit in self.hits],
        }


@dataclass(frozen=True, slots=True)
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.added) + len(self.updated) + len(self.removed)


@dataclass(frozen=True, slots=True)
class _IndexedArticle:
    version: int
    title: str
    language: str
    passage_ids: tuple[int, ...]


class Retriever:
    """Answers "which articles match this question, and how sure are we?".

    Thread-safe: updates are applied under a lock, so a search sees an article either
    entirely before or entirely after a change, never half-indexed or already deleted.
    Only published articles are indexed.
    """

    def __init__(
        self,
        encoder: SentenceEncoder,
        thresholds: BandThresholds,
        weights: RankingWeights | None = None,
        vectors: VectorIndex | None = None,
    ) -> None:
        self.encoder = encoder
        self.thresholds = thresholds
        self.weights = weights or RankingWeights()
        self._vectors = vectors or VectorIndex(encoder.dimension)
        self._lexical = LexicalIndex()
        self._passages: dict[int, Passage] = {}
        self._articles: dict[str, _IndexedArticle] = {}
        self._next_id = 1
        self._lock = threading.RLock()

    # ----- state -----
    @property
    def article_versions(self) -> dict[str, int]:
        with self._lock:
            return {aid: entry.version for aid, entry in self._articles.items()}

    @property
    def passage_count(self) -> int:
        return len(self._passages)

    @property
    def next_id(self) -> int:
        return self._next_id

    def write_vectors(self, path: Path) -> tuple[dict[int, Passage], dict[str, int], int]:
        """Save the FAISS index and return the matching passages, versions and next id."""
        with self._lock:
            self._vectors.save(path)
            return dict(self._passages), self.article_versions, self._next_id

    def passages(self) -> dict[int, Passage]:
        with self._lock:
            return dict(self._passages)

    def restore_passages(self, passages: dict[int, Passage], next_id: int) -> None:
        """Rebuild the in-memory maps for vectors already in the FAISS index (used on load)."""
        with self._lock:
            grouped: dict[str, list[int]] = {}
            for pid, passage in sorted(passages.items()):
                self._passages[pid] = passage
                self._lexical.add(pid, passage.text)
                grouped.setdefault(passage.article_id, []).append(pid)
            for article_id, pids in grouped.items():
                first = passages[pids[0]]
                title = next((passages[p].text for p in pids if passages[p].kind == "title"), "")
                self._articles[article_id] = _IndexedArticle(
                    first.version, title, first.language, tuple(pids)
                )
            self._next_id = max(next_id, max(passages, default=0) + 1)

    # ----- updates -----
    def upsert(
        self, articles: Sequence[IndexableArticle], progress: Progress | None = None
    ) -> None:
        """Index (or re-index) articles; unpublished ones are removed instead."""
        published = [a for a in articles if str(a.status) == "published"]
        self.remove([a.id for a in articles if str(a.status) != "published"])
        units = [(article, article_passages(article)) for article in published]
        texts = [p.text for _, passages in units for p in passages]
        # Encoding is the slow part; it runs outside the lock so searches go on meanwhile.
        vectors = self._encode_with_progress(texts, progress)
        with self._lock:
            self.remove([a.id for a in published])
            offset = 0
            for article, passages in units:
                ids = np.arange(self._next_id, self._next_id + len(passages), dtype=np.int64)
                self._next_id += len(passages)
                self._vectors.add(ids, vectors[offset : offset + len(passages)])
                offset += len(passages)
                for pid, passage in zip(ids.tolist(), passages, strict=True):
                    self._passages[pid] = passage
                    self._lexical.add(pid, passage.text)
                self._articles[article.id] = _IndexedArticle(
                    article.version, article.title, article.language, tuple(ids.tolist())
                )

    def _encode_with_progress(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        batch = 256
        parts = []
        for start in range(0, len(texts), batch):
            parts.append(self.encoder.encode_documents(texts[start : start + batch]))
            if progress:
                progress(min(start + batch, len(texts)), len(texts))
        if not parts:
            return np.zeros((0, self.encoder.dimension), dtype=np.float32)
        return np.vstack(parts)

    def remove(self, article_ids: Iterable[str]) -> list[str]:
        """Drop articles from the index; returns the ids that were indexed."""
        removed = []
        with self._lock:
            for article_id in article_ids:
                entry = self._articles.pop(article_id, None)
                if entry is None:
                    continue
                ids = np.array(entry.passage_ids, dtype=np.int64)
                self._vectors.remove(ids)
                self._lexical.remove(entry.passage_ids)
                for pid in entry.passage_ids:
                    self._passages.pop(pid, None)
                removed.append(article_id)
        return removed

    def sync(
        self, articles: Iterable[IndexableArticle], progress: Progress | None = None
    ) -> SyncReport:
        """Make the index match the published articles: add, re-index or drop what differs."""
        wanted = {a.id: a for a in articles if str(a.status) == "published"}
        current = self.article_versions
        stale = [a for aid, a in wanted.items() if current.get(aid) != a.version]
        gone = [aid for aid in current if aid not in wanted]
        self.upsert(stale, progress)
        removed = self.remove(gone)
        return SyncReport(
            added=sorted(a.id for a in stale if a.id not in current),
            updated=sorted(a.id for a in stale if a.id in current),
            removed=sorted(removed),
        )

    # ----- search -----
    def search(
        self,
        query: str,
        k: int = 5,
        mode: SearchMode = SearchMode.HYBRID,
        language: str | None = None,
    ) -> SearchResult:
        """Rank articles for ``query``; ``language`` overrides the detected one."""
        language = language or language_of(query)
        use_dense = mode is not SearchMode.LEXICAL
        use_lexical = mode is not SearchMode.DENSE
        query_vector = self.encoder.encode_queries([query]) if use_dense else None
        with self._lock:
            dense = self._dense_scores(query_vector) if query_vector is not None else {}
            lexical = self._lexical.search(query) if use_lexical else {}
            hits = self._fold(dense, lexical, language, mode, query_vector)
        hits = hits[:k]
        band = self.thresholds.band(hits[0].score if hits else None)
        if mode is SearchMode.LEXICAL:
            band = ConfidenceBand.CLARIFY if hits else ConfidenceBand.NONE
        return SearchResult(query, language, band, hits, mode)

    def _dense_scores(self, query_vector: np.ndarray) -> dict[int, float]:
        scores, ids = self._vectors.search(query_vector, self.weights.candidates)
        return {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}

    def _fold(
        self,
        dense: dict[int, float],
        lexical: dict[int, float],
        language: str,
        mode: SearchMode,
        query_vector: np.ndarray | None,
    ) -> list[ArticleHit]:
        candidate_articles = {self._passages[pid].article_id for pid in dense}
        # Strong lexical matches outside the dense candidates still get their dense score.
        for pid, _ in sorted(lexical.items(), key=lambda item: -item[1])[:32]:
            candidate_articles.add(self._passages[pid].article_id)
        if query_vector is not None:
            # Exact dense scores for candidate passages FAISS did not return, in one batch.
            missing = [
                pid
                for article_id in candidate_articles
                for pid in self._articles[article_id].passage_ids
                if pid not in dense
            ]
            if missing:
                exact = self._vectors.reconstruct(np.array(missing, dtype=np.int64))
                dense.update(zip(missing, (exact @ query_vector[0]).tolist(), strict=True))
        hits = []
        for article_id in candidate_articles:
            entry = self._articles[article_id]
            pids = entry.passage_ids
            best_pid, best_dense, best_lexical, best_unit = pids[0], 0.0, 0.0, -1.0
            for pid in pids:
                d = dense.get(pid, 0.0)
                lex = lexical.get(pid, 0.0)
                unit = d + self.weights.lexical * lex if mode is SearchMode.HYBRID else d + lex
                if unit > best_unit:
                    best_pid, best_unit = pid, unit
                best_dense = max(best_dense, d)
                best_lexical = max(best_lexical, lex)
            if mode is SearchMode.LEXICAL:
                score = best_lexical
            elif mode is SearchMode.DENSE:
                score = best_dense
            else:
                score = best_dense + self.weights.lexical * best_lexical
                if entry.language == language:
                    score += self.weights.same_language
            passage = self._passages[best_pid]
            hits.append(
                ArticleHit(
                    article_id=article_id,
                    version=entry.version,
                    title=entry.title,
                    language=entry.language,
                    score=round(score, 4),
                    dense_score=round(best_dense, 4),
                    lexical_score=round(best_lexical, 4),
                    matched=MatchedPassage(passage.kind, passage.text),
                )
            )
        hits.sort(key=lambda hit: (-hit.score, hit.article_id))
        return hits
