"""Knowledge-base search for Kefu's own processes (the Rasa actions), behind the service token."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from bot.api.deps import (
    DeskDep,
    PublishedArticleDep,
    RetrieverDep,
    ServiceTokenDep,
    SessionDep,
    StateDep,
)
from bot.api.schemas.errors import refusals
from bot.api.schemas.kb import ArticleAnswerPublic, KbSearchPublic, KbSearchRequest
from bot.conversations.store import ConversationNotFoundError
from bot.conversations.trail import BotTrail
from kb.store import ArticleStore
from retrieval.chinese_script import Script
from retrieval.encoders.memo import one_embedding_per_text

router = APIRouter(
    prefix="/internal/kb",
    tags=["internal"],
    dependencies=[ServiceTokenDep],
    responses=refusals(401, 403),
)


@router.post("/search", response_model=KbSearchPublic)
def search(
    request: KbSearchRequest,
    retriever: RetrieverDep,
    session: SessionDep,
    desk: DeskDep,
    state: StateDep,
) -> KbSearchPublic:
    """Ranked articles for a customer message, with the confidence band; recorded on the
    conversation when one is named."""
    # The search and the sentiment both embed the message: once is enough.
    with one_embedding_per_text():
        result = retriever.search(request.text, k=request.k, language=request.language)
        signals = desk.signals.read(request.text)
    public = KbSearchPublic.from_result(result, ArticleStore(session), retriever.thresholds.floor)
    public.handoff_topic, public.sentiment = signals.handoff_topic, signals.sentiment
    if request.conversation_id is not None:  # a customer's question, not a trial
        state.metrics.bot_answers.labels(public.band).inc()
        hits = [
            {"article_id": h.article_id, "version": h.version, "score": round(h.score, 4)}
            for h in public.hits
        ]
        trail = BotTrail(session)
        found = (public.language, public.band, hits, request.intent, request.intent_confidence)
        try:
            lookup = trail.record_lookup(request.conversation_id, request.text, *found)
        except ConversationNotFoundError:
            # A Rasa conversation the gateway did not open (rasa shell, another channel): the
            # customer still gets the answer; the lookup is kept without a conversation.
            lookup = trail.record_lookup(None, request.text, *found)
        public.lookup_id = lookup.id
    return public


@router.get("/articles/{article_id}", response_model=ArticleAnswerPublic, responses=refusals(404))
def get_article(
    article: PublishedArticleDep,
    language: Literal["zh", "en"] | None = None,
    script: Script = "hans",
) -> ArticleAnswerPublic:
    """A published article the customer picked (for example from clarify buttons), in the
    customer's language and script as the search that offered it found them."""
    return ArticleAnswerPublic.from_snapshot(article, language, script)
