"""Knowledge-base search for Kefu's own processes (the Rasa actions), behind the service token."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from bot.api.deps import (
    DeskDep,
    PublishedArticleDep,
    RetrieverDep,
    ServiceTokenDep,
    SessionDep,
)
from bot.conversations.store import ConversationNotFoundError
from bot.conversations.trail import BotTrail
from kb.schemas import ArticleSnapshot
from kb.store import ArticleStore
from retrieval.passages import answer_text
from retrieval.retriever import SearchResult

router = APIRouter(prefix="/internal/kb", tags=["internal"], dependencies=[ServiceTokenDep])

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


class ArticlePublic(BaseModel):
    """What the bot shows of an article: its direct answer and a link to all of it."""

    article_id: str
    version: int
    title: str
    language: str
    answer: str
    url: str

    @classmethod
    def from_snapshot(cls, article: ArticleSnapshot) -> ArticlePublic:
        return cls(
            article_id=article.id,
            version=article.version,
            title=article.title,
            language=article.language,
            answer=answer_text(article.body),
            url=article_url(article.id),
        )


class ArticleHitPublic(ArticlePublic):
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
            public = ArticlePublic.from_snapshot(article)
            hits.append(
                ArticleHitPublic(
                    **public.model_dump(exclude={"version"}),
                    version=hit.version,
                    score=hit.score,
                    matched=MatchedPassagePublic(kind=hit.matched.kind, text=hit.matched.text),
                )
            )
        return cls(band=result.band.value, language=result.language, hits=hits)


@router.post("/search", response_model=KbSearchPublic)
def search(
    request: KbSearchRequest, retriever: RetrieverDep, session: SessionDep, desk: DeskDep
) -> KbSearchPublic:
    """Ranked articles for a customer message, with the confidence band; recorded on the
    conversation when one is named."""
    result = retriever.search(request.text, k=request.k, language=request.language)
    public = KbSearchPublic.from_result(result, ArticleStore(session))
    signals = desk.signals.read(request.text)
    public.handoff_topic, public.sentiment = signals.handoff_topic, signals.sentiment
    if request.conversation_id is not None:
        hits = [
            {"article_id": h.article_id, "version": h.version, "score": round(h.score, 4)}
            for h in public.hits
        ]
        trail = BotTrail(session)
        try:
            lookup = trail.record_lookup(
                request.conversation_id, request.text, public.language, public.band, hits
            )
        except ConversationNotFoundError:
            # A Rasa conversation the gateway did not open (rasa shell, another channel): the
            # customer still gets the answer; the lookup is kept without a conversation.
            lookup = trail.record_lookup(None, request.text, public.language, public.band, hits)
        public.lookup_id = lookup.id
    return public


@router.get("/articles/{article_id}", response_model=ArticlePublic)
def get_article(article: PublishedArticleDep) -> ArticlePublic:
    """A published article the customer picked (for example from clarify buttons)."""
    return ArticlePublic.from_snapshot(article)
