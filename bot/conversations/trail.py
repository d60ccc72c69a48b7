"""What the bot tried in a conversation: its knowledge-base lookups and the feedback on them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversations.models import ArticleFeedback, KbLookup
from bot.conversations.store import ConversationStore


class BotTrail:
    """Lookups and feedback of one session; every write is committed at once."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record_lookup(
        self,
        conversation_id: str | None,
        question: str,
        language: str,
        band: str,
        hits: list[dict[str, Any]],
        intent: str | None = None,
        intent_confidence: float | None = None,
    ) -> KbLookup:
        if conversation_id is not None:
            ConversationStore(self.session).get(conversation_id)
        lookup = KbLookup(
            conversation_id=conversation_id,
            question=question,
            language=language,
            band=band,
            hits=hits,
            intent=intent,
            intent_confidence=intent_confidence,
        )
        self.session.add(lookup)
        self.session.commit()
        return lookup

    def record_feedback(
        self,
        conversation_id: str,
        article_id: str,
        version: int | None,
        helpful: bool,
        lookup_id: int | None = None,
    ) -> ArticleFeedback:
        ConversationStore(self.session).get(conversation_id)
        if lookup_id is not None:
            lookup = self.session.get(KbLookup, lookup_id)
            if lookup is None or lookup.conversation_id not in (conversation_id, None):
                lookup_id = None  # an unknown or another conversation's lookup: found again
        if lookup_id is None:
            lookup_id = self._latest_lookup_offering(conversation_id, article_id)
        feedback = ArticleFeedback(
            conversation_id=conversation_id,
            article_id=article_id,
            version=version,
            helpful=helpful,
            lookup_id=lookup_id,
        )
        self.session.add(feedback)
        self.session.commit()
        return feedback

    def _latest_lookup_offering(self, conversation_id: str, article_id: str) -> int | None:
        """The feedback belongs to the last lookup of the conversation that found the article."""
        for lookup in reversed(self.lookups(conversation_id)):
            if any(hit.get("article_id") == article_id for hit in lookup.hits):
                return lookup.id
        return None

    def lookups(self, conversation_id: str) -> list[KbLookup]:
        query = (
            select(KbLookup)
            .where(KbLookup.conversation_id == conversation_id)
            .order_by(KbLookup.id)
        )
        return list(self.session.scalars(query))

    def feedback(self, conversation_id: str) -> list[ArticleFeedback]:
        query = (
            select(ArticleFeedback)
            .where(ArticleFeedback.conversation_id == conversation_id)
            .order_by(ArticleFeedback.id)
        )
        return list(self.session.scalars(query))
