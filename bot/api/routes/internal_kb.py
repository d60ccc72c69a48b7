"""Knowledge-base search for Kefu's own processes (the Rasa actions), behind the service token."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from bot.api.deps import RetrieverDep, ServiceTokenDep
from retrieval.retriever import SearchResult

router = APIRouter(prefix="/internal/kb", tags=["internal"], dependencies=[ServiceTokenDep])

MAX_QUERY_CHARS = 1000


class KbSearchRequest(BaseModel):
    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)
    ]
    k: int = Field(default=5, ge=1, le=20)
    language: Literal["zh", "en"] | None = None


class MatchedPassagePublic(BaseModel):
    kind: str
    text: str


class ArticleHitPublic(BaseModel):
    article_id: str
    version: int
    title: str
    language: str
    score: float
    matched: MatchedPassagePublic


class KbSearchPublic(BaseModel):
    band: Literal["answer", "clarify", "none"]
    language: str
    hits: list[ArticleHitPublic]

    @classmethod
    def from_result(cls, result: SearchResult) -> KbSearchPublic:
        return cls(
            band=result.band.value,
            language=result.language,
            hits=[
                ArticleHitPublic(
                    article_id=hit.article_id,
                    version=hit.version,
                    title=hit.title,
                    language=hit.language,
                    score=hit.score,
                    matched=MatchedPassagePublic(kind=hit.matched.kind, text=hit.matched.text),
                )
                for hit in result.hits
            ],
        )


@router.post("/search", response_model=KbSearchPublic)
def search(request: KbSearchRequest, retriever: RetrieverDep) -> KbSearchPublic:
    """Ranked articles for a customer message, with the confidence band."""
    result = retriever.search(request.text, k=request.k, language=request.language)
    return KbSearchPublic.from_result(result)
