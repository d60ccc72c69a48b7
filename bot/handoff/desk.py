"""The handoff desk: escalations from the bot, the agents' queue, claiming, live replies,
notes, resolving or returning to the bot, and the customer's rating at the end.

Every change is stored first, then pushed: to the conversation (the widget and the agent who
has it open) and to the ``agents`` channel (every open queue refreshes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import anyio
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.auth.models import User
from bot.auth.store import StaffUser
from bot.conversations.hub import ConversationHub
from bot.conversations.models import Conversation, Message
from bot.conversations.schemas import MessagePublic
from bot.conversations.store import ConversationNotFoundError, ConversationStore
from bot.conversations.trail import BotTrail
from bot.handoff.models import OPEN_STATES, ConversationRating, Handoff, HandoffNote
from bot.handoff.packet import build_packet, customer_messages
from bot.handoff.priority import Priority, priority
from kb.models import utcnow
from kb.store import ArticleStore

T = TypeVar("T")
AGENTS_CHANNEL = "agents"

SAY = {
    "joined": {"en": "{name} has joined the chat.", "zh": "客服 {name} 已接入，为您服务。"},
    "resolved": {
        "en": "This chat has been resolved. How would you rate our service?",
        "zh": "本次服务已结束。请为我们的服务打分：",
    },
    "returned": {
        "en": "You're back with the virtual assistant. Ask me anything.",
        "zh": "您已回到智能助手，有问题随时问我。",
    },
}


class HandoffNotFoundError(LookupError):
    pass


class HandoffForbiddenError(PermissionError):
    pass


class HandoffConflictError(RuntimeError):
    pass


@dataclass(frozen=True)
class HandoffRequest:
    conversation_id: str
    reason: str
    language: str
    intents: list[dict[str, Any]] = field(default_factory=list)
    customer_name: str | None = None
    customer_email: str | None = None


@dataclass(frozen=True)
class HandoffOpened:
    handoff_id: int
    status: str
    agents_online: int
    created: bool


def _say(key: str, language: str | None, **values: str) -> str:
    return SAY[key]["zh" if language == "zh" else "en"].format(**values)


class HandoffDesk:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        hub: ConversationHub,
        sentiment: Callable[[Sequence[str]], list[float]],
        topic_points: Callable[[str], int] = lambda _text: 0,
    ) -> None:
        self.sessions = sessions
        self.hub = hub
        self.sentiment = sentiment
        self.topic_points = topic_points

    async def _db(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.sessions() as session:
                return work(session)

        return await anyio.to_thread.run_sync(run)

    def agents_online(self) -> int:
        return self.hub.listeners(AGENTS_CHANNEL)

    def _queue_changed(self) -> None:
        self.hub.publish(AGENTS_CHANNEL, {"type": "queue_changed"})

    # -- from the bot ------------------------------------------------------------------------

    async def open(self, request: HandoffRequest) -> HandoffOpened:
        """Open a handoff (or return the conversation's open one). With an agent online the
        bot falls silent at once; without, the handoff waits in the queue as a ticket."""
        online = self.agents_online()

        def work(session: Session) -> HandoffOpened:
            conversation = ConversationStore(session).get(request.conversation_id)
            existing = session.scalars(
                select(Handoff).where(
                    Handoff.conversation_id == conversation.id, Handoff.status.in_(OPEN_STATES)
                )
            ).first()
            if existing is not None:
                if request.customer_email:
                    existing.customer_email = request.customer_email
                    existing.packet = existing.packet | {
                        "customer": {
                            "name": existing.customer_name,
                            "email": request.customer_email,
                        }
                    }
                elif online and existing.status == "waiting" and conversation.handled_by == "bot":
                    # A ticket left while nobody was online, and the customer asks for a
                    # person again now that someone is: they join the live queue.
                    conversation.handled_by = "agent"
                session.commit()
                return HandoffOpened(existing.id, existing.status, online, created=False)
            transcript = ConversationStore(session).transcript(conversation.id)
            typed = customer_messages(transcript)
            scores = self.sentiment([m.text for m in typed]) if typed else []
            trail = BotTrail(session)
            articles = ArticleStore(session)

            def title_of(article_id: str) -> str | None:
                article = articles.get(article_id)
                return article.title if article is not None else None

            packet = build_packet(
                reason=request.reason,
                language=request.language,
                transcript=transcript,
                intents=request.intents,
                sentiments=scores,
                lookups=trail.lookups(conversation.id),
                feedback=trail.feedback(conversation.id),
                title_of=title_of,
                customer_name=request.customer_name,
                customer_email=request.customer_email,
            )
            handoff = Handoff(
                conversation_id=conversation.id,
                status="waiting",
                reason=request.reason,
                language=request.language,
                summary=packet["summary"],
                sentiment=min(scores, default=0.0),
                topic_priority=max((self.topic_points(m.text) for m in typed), default=0),
                packet=packet,
                customer_name=request.customer_name,
                customer_email=request.customer_email,
            )
            session.add(handoff)
            if online:
                conversation.handled_by = "agent"
            session.commit()
            return HandoffOpened(handoff.id, handoff.status, online, created=True)

        opened = await self._db(work)
        if opened.created:
            self._queue_changed()
        return opened

    # -- the agents' side --------------------------------------------------------------------

    async def queue(self, statuses: Sequence[str]) -> list[dict[str, Any]]:
        def work(session: Session) -> list[dict[str, Any]]:
            rows = session.execute(
                select(Handoff, User.name)
                .outerjoin(User, User.id == Handoff.agent_id)
                .where(Handoff.status.in_(statuses))
            ).all()
            now = utcnow()
            summaries = [summary(h, agent_name, now) for h, agent_name in rows]
            summaries.sort(key=lambda s: (-s["priority"], s["created_at"]))
            return summaries

        return await self._db(work)

    def _load(self, session: Session, handoff_id: int) -> Handoff:
        handoff = session.get(Handoff, handoff_id)
        if handoff is None:
            raise HandoffNotFoundError(f"handoff {handoff_id} not found")
        return handoff

    @staticmethod
    def _may_see(handoff: Handoff, agent: StaffUser) -> bool:
        """Waiting handoffs are everyone's; once claimed, the holder's (and admins')."""
        return handoff.status == "waiting" or handoff.agent_id == agent.id or agent.role == "admin"

    def _held(self, session: Session, handoff_id: int, agent: StaffUser) -> Handoff:
        handoff = self._load(session, handoff_id)
        if handoff.status != "assigned":
            raise HandoffConflictError(f"handoff {handoff_id} is {handoff.status}, not assigned")
        if handoff.agent_id != agent.id:
            raise HandoffForbiddenError(f"handoff {handoff_id} is held by another agent")
        return handoff

    async def detail(self, handoff_id: int, agent: StaffUser) -> dict[str, Any]:
        def work(session: Session) -> dict[str, Any]:
            handoff = self._load(session, handoff_id)
            if not self._may_see(handoff, agent):
                raise HandoffForbiddenError(f"handoff {handoff_id} is held by another agent")
            agent_name = _name_of(session, handoff.agent_id)
            transcript = ConversationStore(session).transcript(handoff.conversation_id)
            notes = session.scalars(
                select(HandoffNote)
                .where(HandoffNote.handoff_id == handoff_id)
                .order_by(HandoffNote.id)
            )
            authors = {u.id: u.name for u in session.scalars(select(User))}
            return summary(handoff, agent_name, utcnow()) | {
                "packet": handoff.packet,
                "messages": [MessagePublic.of(m).model_dump(mode="json") for m in transcript],
                "notes": [
                    {
                        "id": n.id,
                        "text": n.text,
                        "author": authors.get(n.author_id or 0),
                        "created_at": n.created_at.isoformat(),
                    }
                    for n in notes
                ],
            }

        return await self._db(work)

    async def claim(self, handoff_id: int, agent: StaffUser) -> dict[str, Any]:
        """Exactly one agent wins: the claim is one conditional UPDATE on a waiting row."""

        def work(session: Session) -> tuple[Message, str, dict[str, Any]]:
            now = utcnow()
            result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == "waiting")
                .values(status="assigned", agent_id=agent.id, claimed_at=now)
            )
            won = result.rowcount
            if not won:
                session.rollback()
                handoff = self._load(session, handoff_id)
                holder = _name_of(session, handoff.agent_id)
                detail = f"handoff {handoff_id} is {handoff.status}"
                raise HandoffConflictError(detail + (f", claimed by {holder}" if holder else ""))
            handoff = self._load(session, handoff_id)
            conversation = session.get(Conversation, handoff.conversation_id)
            assert conversation is not None
            conversation.handled_by = "agent"
            joined = Message(
                conversation_id=handoff.conversation_id,
                sender="system",
                text=_say("joined", handoff.language, name=agent.name),
                payload={"kind": "agent_joined"},
            )
            session.add(joined)
            session.commit()
            return joined, handoff.conversation_id, summary(handoff, agent.name, now)

        joined, conversation_id, claimed = await self._db(work)
        self.hub.publish(conversation_id, MessagePublic.of(joined).frame())
        self._queue_changed()
        return claimed

    async def reply(self, handoff_id: int, agent: StaffUser, text: str) -> MessagePublic:
        def work(session: Session) -> tuple[str, Message]:
            handoff = self._held(session, handoff_id, agent)
            message = Message(
                conversation_id=handoff.conversation_id,
                sender="agent",
                text=text,
                payload={"agent_name": agent.name},
            )
            session.add(message)
            if handoff.first_response_at is None:
                handoff.first_response_at = utcnow()
            session.commit()
            return handoff.conversation_id, message

        conversation_id, message = await self._db(work)
        public = MessagePublic.of(message)
        self.hub.publish(conversation_id, public.frame())
        return public

    async def note(self, handoff_id: int, agent: StaffUser, text: str) -> dict[str, Any]:
        def work(session: Session) -> dict[str, Any]:
            handoff = self._load(session, handoff_id)
            if not self._may_see(handoff, agent) or handoff.status == "waiting":
                raise HandoffForbiddenError("claim the handoff before adding notes")
            note = HandoffNote(handoff_id=handoff_id, author_id=agent.id, text=text)
            session.add(note)
            session.commit()
            return {
                "id": note.id,
                "text": note.text,
                "author": agent.name,
                "created_at": note.created_at.isoformat(),
            }

        return await self._db(work)

    async def _close(self, handoff_id: int, agent: StaffUser, status: str) -> dict[str, Any]:
        """Resolve (the customer is asked for a rating) or return to the bot."""

        def work(session: Session) -> tuple[Message, str, dict[str, Any]]:
            handoff = self._held(session, handoff_id, agent)
            handoff.status = status
            handoff.closed_at = utcnow()
            conversation = session.get(Conversation, handoff.conversation_id)
            assert conversation is not None
            conversation.handled_by = "bot"
            key = "resolved" if status == "resolved" else "returned"
            message = Message(
                conversation_id=handoff.conversation_id,
                sender="system",
                text=_say(key, handoff.language),
                payload={"kind": "csat_request" if status == "resolved" else "returned_to_bot"},
            )
            session.add(message)
            session.commit()
            return message, handoff.conversation_id, summary(handoff, agent.name, utcnow())

        message, conversation_id, closed = await self._db(work)
        self.hub.publish(conversation_id, MessagePublic.of(message).frame())
        self._queue_changed()
        return closed

    async def resolve(self, handoff_id: int, agent: StaffUser) -> dict[str, Any]:
        return await self._close(handoff_id, agent, "resolved")

    async def give_back(self, handoff_id: int, agent: StaffUser) -> dict[str, Any]:
        return await self._close(handoff_id, agent, "returned")

    # -- the customer's rating ---------------------------------------------------------------

    async def rate(self, conversation_id: str, score: int, comment: str | None) -> dict[str, Any]:
        def work(session: Session) -> dict[str, Any]:
            ConversationStore(session).get(conversation_id)
            if session.scalars(
                select(ConversationRating).where(
                    ConversationRating.conversation_id == conversation_id
                )
            ).first():
                raise HandoffConflictError("this conversation has been rated already")
            resolved = session.scalars(
                select(Handoff)
                .where(Handoff.conversation_id == conversation_id, Handoff.status == "resolved")
                .order_by(Handoff.id.desc())
            ).first()
            rating = ConversationRating(
                conversation_id=conversation_id,
                score=score,
                comment=comment,
                resolved_by="agent" if resolved is not None else "bot",
                agent_id=resolved.agent_id if resolved is not None else None,
            )
            session.add(rating)
            session.commit()
            return {
                "score": rating.score,
                "comment": rating.comment,
                "resolved_by": rating.resolved_by,
                "created_at": rating.created_at.isoformat(),
            }

        return await self._db(work)


def _name_of(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id is not None else None
    return user.name if user is not None else None


def summary(handoff: Handoff, agent_name: str | None, now: datetime) -> dict[str, Any]:
    """One row of the queue."""
    points: Priority = priority(
        handoff.reason, handoff.sentiment, handoff.topic_priority, handoff.created_at, now
    )
    end = handoff.claimed_at or handoff.closed_at or now
    return {
        "id": handoff.id,
        "conversation_id": handoff.conversation_id,
        "status": handoff.status,
        "reason": handoff.reason,
        "language": handoff.language,
        "summary": handoff.summary,
        "sentiment": round(handoff.sentiment, 3),
        "priority": points.total,
        "priority_parts": {
            "reason": points.reason,
            "upset": points.upset,
            "topic": points.topic,
            "waiting": points.waiting,
        },
        "customer_name": handoff.customer_name,
        "customer_email": handoff.customer_email,
        "agent_id": handoff.agent_id,
        "agent_name": agent_name,
        "created_at": handoff.created_at.isoformat(),
        "claimed_at": handoff.claimed_at.isoformat() if handoff.claimed_at else None,
        "wait_seconds": round((end - handoff.created_at).total_seconds()),
    }


__all__ = [
    "ConversationNotFoundError",
    "HandoffConflictError",
    "HandoffDesk",
    "HandoffForbiddenError",
    "HandoffNotFoundError",
    "HandoffOpened",
    "HandoffRequest",
]
