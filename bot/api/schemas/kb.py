"""Knowledge-base search as the bot and the agents see it: ranked articles with their direct
answer, the confidence band, and the signals for the bot's escalation rules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from bot.conversations.models import MAX_INTENT_CHARS
from db.text import Storable
from kb.schemas import ArticleSnapshot, article_url
from kb.store import ArticleStore
from retrieval.chinese_script import Script, in_script
from retrieval.passages import answer_text
from retrieval.retriever import SearchResult
from texts import say

MAX_QUERY_CHARS = 1000


class KbSearchRequest(BaseModel):
    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS),
        Storable,
    ]
    k: int = Field(default=5, ge=1, le=20)
    language: Literal["zh", "en"] | None = None
    # Given by the bot: the lookup is recorded on the conversation (its trail, the gap report).
    conversation_id: Annotated[str, StringConstraints(max_length=128), Storable] | None = None
    # The intent Rasa detected in the message (1 for a button's payload): kept on the lookup.
    intent: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_INTENT_CHARS),
            Storable,
        ]
        | None
    ) = None
    intent_confidence: float | None = Field(default=None, ge=0, le=1)


class MatchedPassagePublic(BaseModel):
    kind: str
    text: str


class ArticleAnswerPublic(BaseModel):
    """What the bot shows of an article: its direct answer and a link to all of it, in the
    customer's script, with a note when the article is not in the customer's language."""

    article_id: str
    version: int
    title: str
    language: str
    answer: str
    url: str
    topic_id: str = ""
    note: str | None = None

    @classmethod
    def from_snapshot(
        cls, article: ArticleSnapshot, language: str | None = None, script: Script = "hans"
    ) -> ArticleAnswerPublic:
        title, answer = article.title, answer_text(article.body)
        if article.language == "zh":
            title, answer = in_script(title, script), in_script(answer, script)
        note = None
        if language is not None and article.language != language:
            name = say(f"language_name_{article.language}", language)
            note = say("article_only_in", language, language_name=name)
            note = in_script(note, script) if language == "zh" else note
        return cls(
            article_id=article.id,
            version=article.version,
            title=title,
            language=article.language,
            answer=answer,
            url=article_url(article.id),
            topic_id=article.topic_id,
            note=note,
        )


class ArticleHitPublic(ArticleAnswerPublic):
    score: float
    matched: MatchedPassagePublic


class KbSearchPublic(BaseModel):
    band: Literal["answer", "clarify", "none"]
    language: str
    script: Script = "hans"
    # One per topic, in the customer's language where the topic has it; after the first,
    # only those worth offering (at least the clarify threshold).
    hits: list[ArticleHitPublic]
    lookup_id: int | None = None
    # For the bot's escalation rules: an always-human topic the text mentions, and how upset
    # the customer sounds (-1 to 1).
    handoff_topic: str | None = None
    sentiment: float | None = None

    @classmethod
    def from_result(
        cls, result: SearchResult, store: ArticleStore, floor: float | None = None
    ) -> KbSearchPublic:
        hits: list[ArticleHitPublic] = []
        articles = store.get_many([hit.article_id for hit in result.hits])
        for hit in result.hits:
            if hits and floor is not None and hit.score < floor:
                break  # unrelated topics are never offered as alternatives
            article = articles.get(hit.article_id)
            if article is None or article.status != "published":
                continue  # deleted or unpublished since the search; never offer it
            public = ArticleAnswerPublic.from_snapshot(article, result.language, result.script)
            hits.append(
                ArticleHitPublic(
                    **public.model_dump(exclude={"version"}),
                    version=hit.version,
                    score=hit.score,
                    matched=MatchedPassagePublic(kind=hit.matched.kind, text=hit.matched.text),
                )
            )
        return cls(
            band=result.band.value, language=result.language, script=result.script, hits=hits
        )
