"""Conversations written straight into the tables, at chosen moments, for the reports' tests
(and the reports' API tests): each helper adds one thing and returns it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.conversations.models import ArticleFeedback, Conversation, KbLookup, Message
from bot.handoff.models import ConversationRating, Handoff, HandoffNote


@dataclass
class Seeded:
    """One conversation being written; ``at`` is its clock (each step moves it on)."""

    session: Session
    conversation: Conversation
    at: datetime
    last_customer: Message | None = None
    lookups: list[KbLookup] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.conversation.id

    def later(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at

    def customer(self, text: str, after: float = 1, button: str | None = None) -> Seeded:
        message = Message(
            conversation_id=self.id,
            sender="customer",
            text=text,
            payload={"button_payload": button} if button else {},
            created_at=self.later(after),
        )
        self.session.add(message)
        self.session.flush()
        self.last_customer = message
        return self

    def bot(self, text: str = "answer", after: float = 1, reply: bool = True) -> Seeded:
        reply_to = self.last_customer.id if reply and self.last_customer is not None else None
        self.session.add(
            Message(
                conversation_id=self.id,
                sender="bot",
                text=text,
                payload={},
                reply_to=reply_to,
                created_at=self.later(after),
            )
        )
        self.session.flush()
        return self

    def agent(self, text: str = "hello", after: float = 1) -> Seeded:
        self.session.add(
            Message(
                conversation_id=self.id,
                sender="agent",
                text=text,
                payload={},
                created_at=self.later(after),
            )
        )
        return self

    def lookup(
        self,
        band: str,
        *articles: str,
        question: str = "",
        after: float = 0.5,
        intent: str | None = None,
        intent_confidence: float | None = None,
    ) -> Seeded:
        hits = [
            {"article_id": a, "version": 1, "score": round(0.9 - 0.1 * i, 2)}
            for i, a in enumerate(articles)
        ]
        text = question or (self.last_customer.text if self.last_customer else "?")
        found = KbLookup(
            conversation_id=self.id,
            question=text,
            language=self.conversation.language or "en",
            band=band,
            hits=hits,
            intent=intent,
            intent_confidence=intent_confidence,
            created_at=self.later(after),
        )
        self.session.add(found)
        self.session.flush()
        self.lookups.append(found)
        return self

    def feedback(self, article_id: str, helpful: bool, after: float = 1) -> Seeded:
        self.session.add(
            ArticleFeedback(
                conversation_id=self.id,
                article_id=article_id,
                version=1,
                helpful=helpful,
                lookup_id=self.lookups[-1].id if self.lookups else None,
                created_at=self.later(after),
            )
        )
        return self

    def handoff(
        self,
        reason: str = "requested",
        agent_id: int | None = None,
        claimed_after: float | None = None,
        first_response_after: float | None = None,
        closed_after: float | None = None,
        status: str | None = None,
        after: float = 1,
        note: str | None = None,
        intents: list[dict[str, Any]] | None = None,
    ) -> Seeded:
        created = self.later(after)

        def offset(seconds: float | None) -> datetime | None:
            return None if seconds is None else created + timedelta(seconds=seconds)

        if status is None:
            status = (
                "resolved"
                if closed_after is not None
                else ("assigned" if claimed_after is not None else "waiting")
            )
        handoff = Handoff(
            conversation_id=self.id,
            status=status,
            reason=reason,
            language=self.conversation.language or "en",
            agent_id=agent_id,
            created_at=created,
            claimed_at=offset(claimed_after),
            first_response_at=offset(first_response_after),
            closed_at=offset(closed_after),
            packet={"intents": intents} if intents is not None else {},
        )
        self.session.add(handoff)
        self.session.flush()
        if note is not None:
            self.session.add(HandoffNote(handoff_id=handoff.id, author_id=agent_id, text=note))
        if first_response_after is not None:
            self.session.add(
                Message(
                    conversation_id=self.id,
                    sender="agent",
                    text="an agent's reply",
                    payload={},
                    created_at=created + timedelta(seconds=first_response_after),
                )
            )
        last = max(
            s for s in (claimed_after, first_response_after, closed_after, 0) if s is not None
        )
        self.at = created + timedelta(seconds=last)
        return self

    def rating(
        self, score: int, comment: str | None = None, agent_id: int | None = None, after: float = 1
    ) -> Seeded:
        self.session.add(
            ConversationRating(
                conversation_id=self.id,
                score=score,
                comment=comment,
                resolved_by="agent" if agent_id is not None else "bot",
                agent_id=agent_id,
                created_at=self.later(after),
            )
        )
        return self


def conversation(
    session: Session, started: datetime, language: str = "en", channel: str = "widget", **extra: Any
) -> Seeded:
    found = Conversation(
        id=extra.pop("id", str(uuid.uuid4())),
        language=language,
        channel=channel,
        created_at=started,
        updated_at=started,
    )
    session.add(found)
    session.flush()
    return Seeded(session, found, started)
