"""Knowledge-base search as the bot and the agents see it: ranked articles with their direct
answer, the confidence band, and the signals for the bot's escalation rules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from kb.schemas import ArticleSnapshot
from kb.store import ArticleStore
from retrieval.passages import answer_text
from retrieval.retriever import SearchResult

MAX_QUERY_CHARS = 1000


class KbSearchRequest(BaseModel):
    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)
    ]
    k: int = Field(default=5, ge=1, le=20)
    language: Literal["zh", "en"] | None = None
    # Given by the bot: the lookup is recorded on the conversation (its trail, the gap report).
    conversation_id: Annotated[str, StringConstraints(max_length=128)] | None = None


class MatchedPassagePublic(BaseModel):
    kind: str
    text: str


def article_url(article_id: str) -> str:
    return f"/articles/{article_id}"


class ArticleAnswerPublic(BaseModel):
    """What the bot shows of an article: its direct answer and a link to all of it."""

    article_id: str
    version: int
    title: str
    language: str
    answer: str
    url: str

    @classmethod
    def from_snapshot(cls, article: ArticleSnapshot) -> ArticleAnswerPublic:
        return cls(
            article_id=article.id,
            version=article.version,
            title=article.title,
            language=article.language,
            answer=answer_text(article.body),
            url=article_url(article.id),
        )


class ArticleHitPublic(ArticleAnswerPublic):
    score: float
    matched: MatchedPassagePublic


class KbSearchPublic(BaseModel):
    band: Literal["answer", "clarify", "none"]
    language: str
    hits: list[ArticleHitPublic]
    lookup_id: int | None = None
    # For the bot's escalation rules: an always-human topic the text mentions, and how upset
    # the customer sounds (-1 to 1).
    handoff_topic: str | None = None
    sentiment: float | None = None

    @classmethod
    def from_result(cls, result: SearchResult, store: ArticleStore) -> KbSearchPublic:
        hits = []
        for hit in result.hits:
            article = store.get(hit.article_id)
            if article is None or article.status != "published":
                continue  # deleted or unpublished since the search; never offer it
            public = ArticleAnswerPublic.from_snapshot(article)
            hits.append(
                ArticleHitPublic(
                    **public.model_dump(exclude={"version"}),
                    version=hit.version,
                    score=hit.score,
                    matched=MatchedPassagePublic(kind=hit.matched.kind, text=hit.matched.text),
                )
            )
        return cls(band=result.band.value, language=result.language, hits=hits)
