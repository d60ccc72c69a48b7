"""The handoff rules over the database, in one session: opening a handoff with its packet,
the queue and the customer's place in it, claiming, replies, notes, closing, and when the
customer is asked for a rating. The desk runs these in a worker thread and pushes the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, exists, func, or_, select, update
from sqlalchemy.orm import Session

from bot.auth.models import User
from bot.auth.store import StaffUser, UserStore
from bot.conversations.models import ArticleFeedback, Conversation, Message
from bot.conversations.store import ConversationStore
from bot.conversations.trail import BotTrail
from bot.handoff.errors import (
    ArticleNotAvailableError,
    HandoffConflictError,
    HandoffForbiddenError,
    HandoffNotFoundError,
    TransferTargetError,
)
from bot.handoff.models import OPEN_STATES, ConversationRating, Handoff, HandoffNote
from bot.handoff.packet import build_packet, customer_messages
from bot.handoff.priority import priority
from bot.handoff.routing import least_busy
from bot.handoff.schemas import (
    HandoffCreate,
    HandoffMessagePublic,
    HandoffOpenedPublic,
    HandoffPublic,
    HandoffSummaryPublic,
    NotePublic,
    PriorityPartsPublic,
    RatingPublic,
)
from bot.handoff.signals import EscalationSignals
from bot.mail.outbox import Outbox, deliveries
from db.engine import lock_rows
from kb.schemas import article_url
from kb.store import ArticleStore
from texts import say

# While a handoff waits, the customer hears their place in the queue at most this often.
QUEUE_NOTICE_INTERVAL = timedelta(minutes=2)


class HandoffStore:
    def __init__(self, session: Session, outbox: Outbox | None = None) -> None:
        self.session = session
        self.conversations = ConversationStore(session)
        # Mail in the same transaction as what it carries (docs/email.md); None: email off.
        self.outbox = outbox

    # -- from the bot ----------------------------------------------------------------------

    def open(
        self, request: HandoffCreate, agents_online: int, signals: EscalationSignals
    ) -> HandoffOpenedPublic:
        """Open a handoff, or update the conversation's open one. With an agent online the bot
        falls silent at once; without, the handoff waits in the queue as a ticket."""
        conversation = self.conversations.get(request.conversation_id)
        email = str(request.customer_email) if request.customer_email else None
        if email:
            conversation.contact_email = email  # where mail about it goes from now on
            if not agents_online:
                self._confirm_by_mail(conversation, email, request.language)
        existing = self._open_handoff(conversation.id)
        if existing is not None:
            if email:
                existing.customer_email = email
                existing.packet = existing.packet | {
                    "customer": {"name": existing.customer_name, "email": email}
                }
            elif (
                agents_online and existing.status == "waiting" and conversation.handled_by == "bot"
            ):
                # A ticket left while nobody was online, and the customer asks for a person
                # again now that someone is: they join the live queue.
                conversation.handled_by = "agent"
            return HandoffOpenedPublic(
                handoff_id=existing.id,
                status=existing.status,
                agents_online=agents_online,
                created=False,
            )
        transcript = self.conversations.transcript(conversation.id)
        typed = [m.text for m in customer_messages(transcript)]
        scores = signals.sentiments(typed)
        trail = BotTrail(self.session)
        packet = build_packet(
            reason=request.reason,
            language=request.language,
            transcript=transcript,
            intents=[intent.model_dump() for intent in request.intents],
            sentiments=scores,
            lookups=trail.lookups(conversation.id),
            feedback=trail.feedback(conversation.id),
            title_of=ArticleStore(self.session).title_of,
            customer_name=request.customer_name,
            customer_email=email,
        )
        handoff = Handoff(
            conversation_id=conversation.id,
            status="waiting",
            reason=request.reason,
            language=request.language,
            summary=packet["summary"],
            sentiment=min(scores, default=0.0),
            topic_priority=signals.topic_points(typed),
            packet=packet,
            customer_name=request.customer_name,
            customer_email=email,
        )
        self.session.add(handoff)
        if agents_online:
            conversation.handled_by = "agent"
        self.session.flush()  # the new handoff's id
        return HandoffOpenedPublic(
            handoff_id=handoff.id, status=handoff.status, agents_online=agents_online, created=True
        )

    def _confirm_by_mail(self, conversation: Conversation, email: str, language: str) -> None:
        """ "We received your request" to the address left while nobody could take it."""
        if self.outbox is None or not self.outbox.enabled:
            return
        typed = [m.text for m in customer_messages(self.conversations.transcript(conversation.id))]
        self.outbox.confirmation(self.session, conversation, email, typed, language)

    def _open_handoff(self, conversation_id: str) -> Handoff | None:
        """The conversation's open handoff (waiting or assigned), if it has one."""
        return self.session.scalars(
            select(Handoff).where(
                Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_STATES)
            )
        ).first()

    def handed_off_since(self, conversation_id: str, since: datetime) -> bool:
        """Whether the conversation had a handoff at or after ``since``: one opened then or
        later, or one open then (still open, or closed since)."""
        query = select(Handoff.id).where(
            Handoff.conversation_id == conversation_id,
            or_(
                Handoff.created_at >= since,
                Handoff.closed_at.is_(None),
                Handoff.closed_at >= since,
            ),
        )
        return self.session.scalars(query.limit(1)).first() is not None

    def open_unless_handed_off(
        self,
        request: HandoffCreate,
        since: datetime,
        agents_online: int,
        signals: EscalationSignals,
    ) -> HandoffOpenedPublic | None:
        """``open``, unless the conversation was handed off at or after ``since`` (None): the
        check and the opening under the conversation's row lock, so two workers recovering the
        same unanswered mail open one handoff (bot/chat/email_channel.py's sweep)."""
        lock_rows(self.session, Conversation.id, [request.conversation_id])
        if self.handed_off_since(request.conversation_id, since):
            self.session.rollback()
            return None
        return self.open(request, agents_online, signals)

    def open_handoff_id(self, conversation_id: str) -> int | None:
        handoff = self._open_handoff(conversation_id)
        return handoff.id if handoff is not None else None

    def refresh_packet(
        self, conversation_id: str, signals: EscalationSignals, now: datetime
    ) -> str | None:
        """Build the open handoff's packet again from what the conversation holds now: the
        transcript and its sentiment, the summary, every article the bot tried and the
        feedback on it (the bot may go on answering a ticket left while nobody was online).
        The intents Rasa read up to the handoff are kept, and those of later lookups added.
        The handoff's status, or None when the conversation has no open handoff."""
        handoff = self._open_handoff(conversation_id)
        if handoff is None:
            return None
        transcript = self.conversations.transcript(conversation_id)
        said = customer_messages(transcript)
        typed = [m.text for m in said]
        # Only messages the packet has not scored yet are read for their sentiment.
        known = {e["message_id"]: e["score"] for e in handoff.packet.get("sentiment", [])}
        new = [m for m in said if m.id not in known]
        known |= dict(
            zip([m.id for m in new], signals.sentiments([m.text for m in new]), strict=True)
        )
        scores = [known[m.id] for m in said]
        trail = BotTrail(self.session)
        lookups = trail.lookups(conversation_id)
        kept = list(handoff.packet.get("intents", []))
        seen = {(i.get("text"), i.get("intent")) for i in kept}
        later = [
            {"text": lk.question, "intent": lk.intent, "confidence": lk.intent_confidence}
            for lk in lookups
            if lk.intent and lk.created_at > handoff.created_at
        ]
        packet = build_packet(
            reason=handoff.reason,
            language=handoff.language,
            transcript=transcript,
            intents=kept + [i for i in later if (i["text"], i["intent"]) not in seen],
            sentiments=scores,
            lookups=lookups,
            feedback=trail.feedback(conversation_id),
            title_of=ArticleStore(self.session).title_of,
            customer_name=handoff.customer_name,
            customer_email=handoff.customer_email,
        )
        handoff.packet = packet | {"updated_at": now.isoformat()}
        handoff.summary = packet["summary"]
        handoff.sentiment = min(scores, default=0.0)
        handoff.topic_priority = max(handoff.topic_priority, signals.topic_points(typed))
        return handoff.status

    def waiting_count(self) -> int:
        """Handoffs waiting for an agent (tickets left with nobody online included)."""
        count = self.session.scalar(
            select(func.count()).select_from(Handoff).where(Handoff.status == "waiting")
        )
        return int(count or 0)

    def queue_notice(
        self, conversation_id: str, reply_to: int, now: datetime, live_since: datetime
    ) -> Message | None:
        """The customer's place in the queue while their handoff waits unclaimed, stored as a
        system message at most every QUEUE_NOTICE_INTERVAL (None when not due). Ahead of them
        count only live waiting customers, in the agents' order (priority, then wait)."""
        mine = self.session.scalars(
            select(Handoff).where(
                Handoff.conversation_id == conversation_id, Handoff.status == "waiting"
            )
        ).first()
        if mine is None:
            return None  # claimed already: the agent is here
        last = self.conversations.last_system_message(conversation_id)
        if (
            last is not None
            and (last.payload or {}).get("kind") == "queue_position"
            and now - last.created_at < QUEUE_NOTICE_INTERVAL
        ):
            return None
        live = [h for h in self.live_waiting(live_since) if h.id != mine.id] + [mine]
        live.sort(key=lambda h: (-priority_points(h, now), h.created_at, h.id))
        position = live.index(mine) + 1
        return self.conversations.add_message(
            conversation_id,
            "system",
            say("queue_position", mine.language, position=position),
            {"kind": "queue_position", "position": position},
            reply_to=reply_to,
        )

    def live_waiting(self, live_since: datetime | None) -> list[Handoff]:
        """Waiting handoffs in the live queue (not tickets left with nobody online) whose
        customer escalated or wrote since ``live_since`` (the customers still there; None:
        all of them)."""
        query = (
            select(Handoff)
            .join(Conversation, Conversation.id == Handoff.conversation_id)
            .where(Handoff.status == "waiting", Conversation.handled_by == "agent")
        )
        if live_since is not None:
            # Per waiting handoff, one index search of its conversation's recent messages.
            wrote = exists().where(
                Message.conversation_id == Handoff.conversation_id,
                Message.sender == "customer",
                Message.created_at >= live_since,
            )
            query = query.where(or_(Handoff.created_at >= live_since, wrote))
        return list(self.session.scalars(query))

    def rating_request_after_bot(
        self, conversation_id: str, reply_to: int, language: str
    ) -> Message | None:
        """At a goodbye after a helpful answer, not rated and not asked yet: ask for a rating."""
        helped = self.session.scalars(
            select(ArticleFeedback.id).where(
                ArticleFeedback.conversation_id == conversation_id, ArticleFeedback.helpful
            )
        ).first()
        if helped is None or self._rating(conversation_id) is not None:
            return None
        if self.conversations.has_message_of_kind(conversation_id, "csat_request"):
            return None
        return self.conversations.add_message(
            conversation_id,
            "system",
            say("rating_after_bot", language),
            {"kind": "csat_request"},
            reply_to=reply_to,
        )

    # -- the agents' side --------------------------------------------------------------------

    def queue(
        self, statuses: Sequence[str], agent: StaffUser, now: datetime
    ) -> list[HandoffSummaryPublic]:
        """By priority, then waiting time; a claimed handoff only for its holder (and admins)."""
        rows = self.session.execute(
            select(Handoff, User.name, Conversation.channel)
            .outerjoin(User, User.id == Handoff.agent_id)
            .join(Conversation, Conversation.id == Handoff.conversation_id)
            .where(Handoff.status.in_(statuses))
        ).all()
        ratings = self.ratings_of([h for h, _, _ in rows])
        summaries = [
            summary(h, name, now, ratings.get(h.id), channel)
            for h, name, channel in rows
            if may_see(h, agent)
        ]
        summaries.sort(key=lambda s: (-s.priority, s.created_at))
        return summaries

    def detail(self, handoff_id: int, agent: StaffUser, now: datetime) -> HandoffPublic:
        handoff = self._load(handoff_id)
        if not may_see(handoff, agent):
            raise HandoffForbiddenError(f"handoff {handoff_id} is held by another agent")
        transcript = self.conversations.transcript(handoff.conversation_id)
        notes = self.session.scalars(
            select(HandoffNote).where(HandoffNote.handoff_id == handoff_id).order_by(HandoffNote.id)
        )
        authors = {u.id: u.name for u in self.session.scalars(select(User))}
        conversation = self.conversations.get(handoff.conversation_id)
        return HandoffPublic(
            **summary(
                handoff,
                self._name_of(handoff.agent_id),
                now,
                self.ratings_of([handoff]).get(handoff_id),
                conversation.channel,
            ).model_dump(),
            contact_email=conversation.contact_email,
            packet=handoff.packet,
            messages=[HandoffMessagePublic.of(m) for m in transcript],
            deliveries={
                str(message_id): delivery
                for message_id, delivery in deliveries(self.session, conversation.id).items()
            },
            notes=[
                NotePublic(
                    id=n.id,
                    text=n.text,
                    author=authors.get(n.author_id or 0),
                    created_at=n.created_at,
                )
                for n in notes
            ],
        )

    def claim(
        self, handoff_id: int, agent: StaffUser, now: datetime, max_open_chats: int
    ) -> tuple[Message, HandoffSummaryPublic]:
        """Exactly one agent wins: the claim is one conditional UPDATE on a waiting row. An
        agent who holds ``max_open_chats`` open chats already is refused; the agent's row is
        locked first, so two claims of one agent (two workers, two tabs) count one after the
        other."""
        lock_rows(self.session, User.id, [agent.id])
        held = self.open_chats([agent.id]).get(agent.id, 0)
        if held >= max_open_chats:
            self._load(handoff_id)  # an unknown handoff is 404 before the limit
            raise HandoffConflictError(
                f"{agent.name} holds {held} open chats, the limit is {max_open_chats}: "
                "resolve or return one first"
            )
        joined = self._take(handoff_id, agent, now)
        if joined is None:
            self.session.rollback()
            handoff = self._load(handoff_id)
            holder = self._name_of(handoff.agent_id)
            detail = f"handoff {handoff_id} is {handoff.status}"
            raise HandoffConflictError(detail + (f", claimed by {holder}" if holder else ""))
        return joined, summary(self._load(handoff_id), agent.name, now)

    def _take(self, handoff_id: int, agent: StaffUser, now: datetime) -> Message | None:
        """The agent takes a waiting handoff (one conditional UPDATE) and the customer hears
        they joined; None when it was not waiting any more (nothing changed)."""
        result: CursorResult[Any] = self.session.execute(  # type: ignore[assignment]
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == "waiting")
            .values(status="assigned", agent_id=agent.id, claimed_at=now)
        )
        if not result.rowcount:
            return None
        handoff = self._load(handoff_id)
        self.conversations.get(handoff.conversation_id).handled_by = "agent"
        return self.conversations.add_message(
            handoff.conversation_id,
            "system",
            say("agent_joined", handoff.language, name=agent.name),
            {"kind": "agent_joined"},
        )

    def transfer(
        self,
        handoff_id: int,
        agent: StaffUser,
        to_agent_id: int | None,
        note: str,
        now: datetime,
        max_open_chats: int,
    ) -> tuple[Message, HandoffSummaryPublic]:
        """The holder (or an admin) hands the conversation to another agent, who holds it at
        once, or back to the queue, where it waits with its priority and original waiting
        time; the note stays with the handoff for whoever takes it, with the whole history.
        The customer hears who joined, or that a colleague will take over."""
        if to_agent_id is not None:  # users before handoffs: the order every lock takes
            lock_rows(self.session, User.id, [to_agent_id])
        handoff = self._held(handoff_id, agent, lock=True)
        target = self.session.get(User, to_agent_id) if to_agent_id is not None else None
        if to_agent_id is not None:
            if target is None or target.role not in ("agent", "admin"):
                raise TransferTargetError(f"no agent with id {to_agent_id}")
            if target.id == handoff.agent_id:
                raise HandoffConflictError(f"{target.name} holds handoff {handoff_id} already")
            held = self.open_chats([target.id]).get(target.id, 0)
            if held >= max_open_chats:
                raise HandoffConflictError(
                    f"{target.name} holds {held} open chats, the limit is {max_open_chats}"
                )
        transfers = list(handoff.packet.get("transfers", []))
        transfers.append(
            {
                "from": self._name_of(handoff.agent_id),
                "to": target.name if target is not None else None,
                "by": agent.name,
                "at": now.isoformat(),
            }
        )
        handoff.packet = handoff.packet | {"transfers": transfers}
        self.session.add(HandoffNote(handoff_id=handoff_id, author_id=agent.id, text=note))
        if target is not None:
            handoff.agent_id, handoff.claimed_at = target.id, now
            text = say("agent_joined", handoff.language, name=target.name)
            kind = "agent_joined"
        else:
            handoff.status, handoff.agent_id, handoff.claimed_at = "waiting", None, None
            text, kind = say("transferred_to_queue", handoff.language), "transferred"
        message = self.conversations.add_message(
            handoff.conversation_id, "system", text, {"kind": kind}
        )
        return message, summary(handoff, target.name if target else None, now)

    def route_waiting(
        self, candidates: Sequence[int], max_open_chats: int, now: datetime
    ) -> list[tuple[Message, HandoffSummaryPublic]]:
        """Auto-assignment: the live queue's waiting handoffs, highest priority first, each to
        the least-busy available agent under the limit, until every agent is full. Tickets
        left while nobody was online wait for a claim by hand."""
        lock_rows(self.session, User.id, candidates)  # their open chats count, as in claim
        agents = {
            user.id: StaffUser.of(user)
            for user in self.session.scalars(select(User).where(User.id.in_(candidates)))
        }
        open_chats = self.open_chats(list(agents))
        last_claimed = self.last_claimed(list(agents))
        waiting = self.live_waiting(None)
        waiting.sort(key=lambda h: (-priority_points(h, now), h.created_at, h.id))
        assigned = []
        for handoff in waiting:
            chosen = least_busy(list(agents), open_chats, last_claimed, max_open_chats)
            if chosen is None:
                break
            joined = self._take(handoff.id, agents[chosen], now)
            if joined is None:
                continue  # claimed by hand in the meantime
            open_chats[chosen] = open_chats.get(chosen, 0) + 1
            last_claimed[chosen] = now
            assigned.append((joined, summary(self._load(handoff.id), agents[chosen].name, now)))
        return assigned

    def team(self) -> list[tuple[StaffUser, int]]:
        """Everyone who may hold a chat (agents and admins), by name, with their open chats."""
        members = UserStore(self.session).with_role("agent", "admin")
        held = self.open_chats([m.id for m in members])
        return [(member, held.get(member.id, 0)) for member in members]

    def open_chats(self, agent_ids: Sequence[int]) -> dict[int, int]:
        """How many assigned handoffs each agent holds."""
        rows = self.session.execute(
            select(Handoff.agent_id, func.count())
            .where(Handoff.status == "assigned", Handoff.agent_id.in_(agent_ids))
            .group_by(Handoff.agent_id)
        ).all()
        return {agent_id: int(count) for agent_id, count in rows if agent_id is not None}

    def last_claimed(self, agent_ids: Sequence[int]) -> dict[int, datetime]:
        rows = self.session.execute(
            select(Handoff.agent_id, func.max(Handoff.claimed_at))
            .where(Handoff.agent_id.in_(agent_ids), Handoff.claimed_at.is_not(None))
            .group_by(Handoff.agent_id)
        ).all()
        return {agent_id: at for agent_id, at in rows if agent_id is not None and at is not None}

    def reply(
        self,
        handoff_id: int,
        agent: StaffUser,
        text: str,
        now: datetime,
        article_ids: Sequence[str] = (),
        widget_open: bool = False,
    ) -> Message:
        """The agent's message, and its mail when the customer's widget is not open. The
        handoff is locked first, like a close or a transfer: a reply racing either (another
        worker) is stored while its agent still holds the handoff, or refused."""
        handoff = self._held(handoff_id, agent, lock=True)
        payload: dict[str, Any] = {"agent_name": agent.name}
        if article_ids:
            payload["articles"] = self.article_cards(article_ids)
        if handoff.first_response_at is None:
            handoff.first_response_at = now
        message = self.conversations.add_message(handoff.conversation_id, "agent", text, payload)
        if self.outbox is not None:
            conversation = self.conversations.get(handoff.conversation_id)
            self.outbox.agent_reply(self.session, conversation, message, widget_open)
        return message

    def article_cards(self, article_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The link cards of the articles an agent attaches, in the bot's shape (id, title,
        url of the public page, version); published ones only, as only those have a page."""
        wanted = list(dict.fromkeys(article_ids))
        found = ArticleStore(self.session).published_among(wanted)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise ArticleNotAvailableError(f"no published article {', '.join(missing)}")
        return [
            {"id": a.id, "title": a.title, "url": article_url(a.id), "version": a.version}
            for a in (found[i] for i in wanted)
        ]

    def held_conversation(self, handoff_id: int, agent: StaffUser) -> str:
        """The conversation of a handoff the agent may answer now (its holder, or an admin)."""
        return self._held(handoff_id, agent).conversation_id

    def note(self, handoff_id: int, agent: StaffUser, text: str) -> NotePublic:
        handoff = self._load(handoff_id)
        if handoff.status == "waiting":
            raise HandoffForbiddenError("claim the handoff before adding notes")
        if not may_act(handoff, agent):
            raise HandoffForbiddenError(f"handoff {handoff_id} is held by another agent")
        note = HandoffNote(handoff_id=handoff_id, author_id=agent.id, text=text)
        self.session.add(note)
        self.session.flush()
        return NotePublic(id=note.id, text=note.text, author=agent.name, created_at=note.created_at)

    def close(
        self, handoff_id: int, agent: StaffUser, status: str, now: datetime
    ) -> tuple[Message, HandoffSummaryPublic]:
        """Resolve (the customer is asked for a rating) or return the conversation to the bot.
        The handoff stays its holder's (an admin closing it does not take the rating)."""
        handoff = self._held(handoff_id, agent, lock=True)
        handoff.status = status
        handoff.closed_at = now
        conversation = self.conversations.get(handoff.conversation_id)
        conversation.handled_by = "bot"
        resolved = status == "resolved"
        if resolved and self.outbox is not None:
            # An email conversation is asked by mail (a widget one sees the request below).
            self.outbox.enqueue_rating_request(self.session, conversation)
        message = self.conversations.add_message(
            handoff.conversation_id,
            "system",
            say("rating_after_agent" if resolved else "returned_to_bot", handoff.language),
            {"kind": "csat_request" if resolved else "returned_to_bot"},
        )
        return message, summary(handoff, self._name_of(handoff.agent_id), now)

    # -- the customer's rating ---------------------------------------------------------------

    def rate(self, conversation_id: str, score: int, comment: str | None) -> RatingPublic:
        """Once per conversation; credited to the agent who resolved it, else to the bot."""
        self.conversations.get(conversation_id)
        if self._rating(conversation_id) is not None:
            raise HandoffConflictError("this conversation has been rated already")
        resolved = self.session.scalars(
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
        self.session.add(rating)
        self.session.flush()
        return RatingPublic.model_validate(rating, from_attributes=True)

    def resolved(self, conversation_id: str) -> bool:
        """The conversation's last handoff was resolved (and none is open since): the time
        the customer is asked for a rating."""
        last = self.session.scalars(
            select(Handoff.status)
            .where(Handoff.conversation_id == conversation_id)
            .order_by(Handoff.id.desc())
        ).first()
        return last == "resolved"

    def ratings_of(self, handoffs: Sequence[Handoff]) -> dict[int, RatingPublic]:
        """The customer's rating of each resolved handoff, by handoff id: a conversation's
        rating belongs to the last handoff resolved before it (the one ``rate`` credits)."""
        conversations = {h.conversation_id for h in handoffs if h.status == "resolved"}
        if not conversations:
            return {}
        ratings = self.session.scalars(
            select(ConversationRating).where(
                ConversationRating.conversation_id.in_(conversations),
                ConversationRating.resolved_by == "agent",
            )
        )
        # Every resolved handoff of those conversations in one query, not one per rating.
        resolved = self.session.execute(
            select(Handoff.id, Handoff.conversation_id, Handoff.closed_at).where(
                Handoff.conversation_id.in_(conversations), Handoff.status == "resolved"
            )
        ).all()
        rated: dict[int, RatingPublic] = {}
        for rating in ratings:
            credited = max(
                (
                    handoff_id
                    for handoff_id, conversation_id, closed_at in resolved
                    if conversation_id == rating.conversation_id
                    and closed_at is not None
                    and closed_at <= rating.created_at
                ),
                default=None,
            )
            if credited is not None:
                rated[credited] = RatingPublic.model_validate(rating, from_attributes=True)
        return rated

    # -- loading -----------------------------------------------------------------------------

    def _load(self, handoff_id: int) -> Handoff:
        handoff = self.session.get(Handoff, handoff_id)
        if handoff is None:
            raise HandoffNotFoundError(f"handoff {handoff_id} not found")
        return handoff

    def _held(self, handoff_id: int, agent: StaffUser, lock: bool = False) -> Handoff:
        """The assigned handoff the agent may act on; ``lock``: locked first, so of two closes,
        transfers or replies at once (two workers), the second sees what the first did."""
        if lock:
            lock_rows(self.session, Handoff.id, [handoff_id])
        handoff = self._load(handoff_id)
        if handoff.status != "assigned":
            raise HandoffConflictError(f"handoff {handoff_id} is {handoff.status}, not assigned")
        if not may_act(handoff, agent):
            raise HandoffForbiddenError(f"handoff {handoff_id} is held by another agent")
        return handoff

    def _name_of(self, user_id: int | None) -> str | None:
        user = self.session.get(User, user_id) if user_id is not None else None
        return user.name if user is not None else None

    def _rating(self, conversation_id: str) -> ConversationRating | None:
        return self.session.scalars(
            select(ConversationRating).where(ConversationRating.conversation_id == conversation_id)
        ).first()


def may_see(handoff: Handoff, agent: StaffUser) -> bool:
    """Waiting handoffs are everyone's; once claimed, the holder's (and admins')."""
    return handoff.status == "waiting" or may_act(handoff, agent)


def may_act(handoff: Handoff, agent: StaffUser) -> bool:
    """Replies, notes, resolve and return: the holder's, and an admin's (a supervisor who steps
    in; admin may do everything)."""
    return handoff.agent_id == agent.id or agent.role == "admin"


def priority_points(handoff: Handoff, now: datetime) -> int:
    return priority(
        handoff.reason, handoff.sentiment, handoff.topic_priority, handoff.created_at, now
    ).total


def summary(
    handoff: Handoff,
    agent_name: str | None,
    now: datetime,
    rating: RatingPublic | None = None,
    channel: str = "widget",
) -> HandoffSummaryPublic:
    points = priority(
        handoff.reason, handoff.sentiment, handoff.topic_priority, handoff.created_at, now
    )
    end = handoff.claimed_at or handoff.closed_at or now
    return HandoffSummaryPublic(
        id=handoff.id,
        conversation_id=handoff.conversation_id,
        status=handoff.status,
        reason=handoff.reason,
        language=handoff.language,
        summary=handoff.summary,
        sentiment=round(handoff.sentiment, 3),
        priority=points.total,
        priority_parts=PriorityPartsPublic(
            reason=points.reason, upset=points.upset, topic=points.topic, waiting=points.waiting
        ),
        customer_name=handoff.customer_name,
        customer_email=handoff.customer_email,
        agent_id=handoff.agent_id,
        agent_name=agent_name,
        created_at=handoff.created_at,
        claimed_at=handoff.claimed_at,
        wait_seconds=round((end - handoff.created_at).total_seconds()),
        rating=rating,
        packet_updated_at=(handoff.packet or {}).get("updated_at"),
        channel=channel,
    )
