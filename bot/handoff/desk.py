"""The handoff desk: escalations from the bot, the agents' queue, claiming, live replies,
notes, resolving or returning to the bot, and the customer's rating at the end.

The rules themselves live in ``HandoffStore`` (one session each); the desk runs them as one
unit of work in a worker thread, then pushes what changed: to the conversation (the widget
and the agent who has it open) and to the ``agents`` channel (every open queue refreshes).
The chat gateway asks the desk, never the handoff tables, what to tell a waiting customer.

Routing is the desk's too: which agents count as online (``AgentPresence``: status online
and a live console), each agent's limit of open chats, auto-assignment to the least-busy
available agent, and, with nobody online outside business hours, when the team is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot.auth.store import StaffUser
from bot.conversations.hub import ConversationHub
from bot.conversations.models import Message
from bot.conversations.schemas import MessagePublic
from bot.conversations.store import ConversationNotFoundError
from bot.handoff.errors import HandoffConflictError, HandoffForbiddenError, HandoffNotFoundError
from bot.handoff.hours import WEEKDAYS
from bot.handoff.presence import (
    AgentPresence,
    AgentPresenceState,
    InProcessPresence,
    PresenceStatus,
)
from bot.handoff.routing import RoutingRules
from bot.handoff.schemas import (
    HandoffCreate,
    HandoffOpenedPublic,
    HandoffPublic,
    HandoffSummaryPublic,
    NotePublic,
    RatingPublic,
    TeamMemberPublic,
    TeamPublic,
)
from bot.handoff.signals import EscalationSignals
from bot.handoff.store import HandoffStore
from bot.mail.outbox import Outbox
from bot.metrics import ServiceMetrics
from db.base import utcnow
from db.engine import in_worker_thread
from texts import say

P = ParamSpec("P")
T = TypeVar("T")
AGENTS_CHANNEL = "agents"


def _on_store(
    session: Session,
    outbox: Outbox | None,
    work: Callable[Concatenate[HandoffStore, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    return work(HandoffStore(session, outbox), *args, **kwargs)


class HandoffDesk:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        hub: ConversationHub,
        signals: EscalationSignals,
        metrics: ServiceMetrics | None = None,
        presence: AgentPresence | None = None,
        rules: RoutingRules | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.hub = hub
        self.signals = signals
        self.metrics = metrics or ServiceMetrics()
        self.presence = presence or InProcessPresence()
        self.rules = rules or RoutingRules()

    async def _run(
        self,
        work: Callable[Concatenate[HandoffStore, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return await in_worker_thread(self.sessions, _on_store, self.outbox, work, *args, **kwargs)

    async def _ask_presence(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A presence call, in a worker thread when it may wait on Redis (never in the event
        loop, which holds every socket); in this process's memory, at once."""
        if self.presence.blocking:
            return await asyncio.to_thread(call, *args, **kwargs)
        return call(*args, **kwargs)

    async def agents_online(self) -> int:
        """Agents whose status is online and whose console is live (docs/handoff.md)."""
        return len(await self._ask_presence(self.presence.available, utcnow()))

    # -- presence ----------------------------------------------------------------------------

    async def console_opened(self, agent: StaffUser) -> None:
        """A console's queue socket opened: the agent is live (and others' count changes)."""
        await self._ask_presence(self.presence.console_opened, agent.id, utcnow())
        if not await self._route_waiting():  # routing tells the consoles itself
            self._queue_changed()

    async def console_closed(self, agent: StaffUser) -> None:
        """The socket closed; when the grace ends, every console's "agents online" may change,
        so they hear queue_changed then (a count read before would still include the agent)."""
        await self._ask_presence(self.presence.console_closed, agent.id, utcnow())
        grace = self.presence.timeout.total_seconds()
        asyncio.get_running_loop().call_later(grace + 0.5, self._queue_changed)

    async def team(self) -> TeamPublic:
        """Who may take a chat, with their presence and open chats (the transfer's choices)."""
        now = utcnow()
        members = await self._run(HandoffStore.team)
        states = await self._ask_presence(
            lambda: [self.presence.state(member.id, now) for member, _ in members]
        )
        return TeamPublic(
            items=[
                TeamMemberPublic(
                    id=member.id,
                    name=member.name,
                    role=member.role,
                    status=state.status,
                    open_chats=held,
                )
                for (member, held), state in zip(members, states, strict=True)
            ]
        )

    async def presence_of(self, agent: StaffUser) -> AgentPresenceState:
        return await self._ask_presence(self.presence.state, agent.id, utcnow())

    async def set_presence(self, agent: StaffUser, status: PresenceStatus) -> AgentPresenceState:
        state = await self._ask_presence(self.presence.choose, agent.id, status, utcnow())
        if not await self._route_waiting():  # routing tells the consoles itself
            self._queue_changed()  # every console's "agents online"
        return state

    async def _route_waiting(self) -> bool:
        """With auto-assignment, give waiting chats of the live queue to available agents
        under the limit: when a chat opens, an agent comes online, or a slot frees. Whether
        any was given (the queue changed)."""
        available = await self._ask_presence(self.presence.available, utcnow())
        if not (self.rules.auto_assign and available):
            return False
        assigned = await self._run(
            HandoffStore.route_waiting, available, self.rules.max_open_chats, utcnow()
        )
        for joined, claimed in assigned:
            self._push(claimed.conversation_id, joined)
            self.metrics.handoffs_claimed.inc()
        if assigned:
            self._queue_changed()
        return bool(assigned)

    def _away_notice(self, language: str, now: datetime) -> str:
        """What a customer hears with nobody online: outside business hours, when the team is
        back (their clock, the business's zone); else that nobody is online now."""
        back = self.rules.closed_until(now)
        if back is None:
            return say("nobody_online", language)
        weekday = say(f"weekday_{WEEKDAYS[back.weekday()]}", language)
        time = f"{back.hour}:{back.minute:02d}"
        if back - now.astimezone(back.tzinfo) > timedelta(days=6):
            date = back.date().isoformat()
            return say("closed_until_date", language, time=time, weekday=weekday, date=date)
        return say("closed_until", language, time=time, weekday=weekday)

    def queue_length(self) -> int:
        """Handoffs waiting for an agent (read as Prometheus scrapes; blocking)."""
        with self.sessions() as session:
            return HandoffStore(session).waiting_count()

    def _queue_changed(self) -> None:
        self.hub.publish(AGENTS_CHANNEL, {"type": "queue_changed"})

    def _push(self, conversation_id: str, message: Message) -> MessagePublic:
        public = MessagePublic.of(message)
        self.hub.publish(conversation_id, public.frame())
        return public

    # -- from the bot and the gateway --------------------------------------------------------

    async def open(self, request: HandoffCreate) -> HandoffOpenedPublic:
        """Open a handoff (or return the conversation's open one). With nobody online, the
        answer carries what to tell the customer; with auto-assignment, a chat in the live
        queue goes to the least-busy available agent under the limit."""
        now = utcnow()
        available = await self._ask_presence(self.presence.available, now)
        opened = await self._run(HandoffStore.open, request, len(available), self.signals)
        return await self._after_opening(request, opened, bool(available), now)

    async def open_once(
        self, request: HandoffCreate, since: datetime
    ) -> HandoffOpenedPublic | None:
        """``open``, unless the conversation was handed off at or after ``since`` (then None,
        nothing done): the email channel's recovery of a mail the bot could not answer, which
        two workers may attempt at once (HandoffStore.open_unless_handed_off)."""
        now = utcnow()
        available = await self._ask_presence(self.presence.available, now)
        opened = await self._run(
            HandoffStore.open_unless_handed_off, request, since, len(available), self.signals
        )
        if opened is None:
            return None
        return await self._after_opening(request, opened, bool(available), now)

    async def _after_opening(
        self, request: HandoffCreate, opened: HandoffOpenedPublic, available: bool, now: datetime
    ) -> HandoffOpenedPublic:
        """What the customer is told with nobody online, the count, and the queue's routing."""
        if not available:
            opened.notice = self._away_notice(request.language, now)
        if opened.created:
            self.metrics.handoffs_opened.labels(request.reason).inc()
        routed = opened.status == "waiting" and await self._route_waiting()
        if opened.created and not routed:
            self._queue_changed()
        return opened

    async def refresh_packet(self, conversation_id: str) -> None:
        """The open handoff's packet built again after a new message or lookup; while it
        waits, the agents' consoles are told (its priority may move; they reload it if shown)."""
        status = await self._run(
            HandoffStore.refresh_packet, conversation_id, self.signals, utcnow()
        )
        if status == "waiting":
            self._queue_changed()

    async def queue_notice(self, conversation_id: str, reply_to: int) -> MessagePublic | None:
        """What to tell a customer who writes while waiting for an agent: their place in the
        queue, when due, as a reply to their message. Stored, not pushed: the gateway pushes
        its replies."""
        now = utcnow()
        message = await self._run(
            HandoffStore.queue_notice, conversation_id, reply_to, now, now - self.rules.live_window
        )
        return MessagePublic.of(message) if message is not None else None

    async def rating_request_after_bot(
        self, conversation_id: str, reply_to: int, language: str
    ) -> MessagePublic | None:
        """At the end of a chat the bot resolved: the rating request, when due."""
        message = await self._run(
            HandoffStore.rating_request_after_bot, conversation_id, reply_to, language
        )
        return MessagePublic.of(message) if message is not None else None

    # -- the agents' side --------------------------------------------------------------------

    async def queue(self, statuses: Sequence[str], agent: StaffUser) -> list[HandoffSummaryPublic]:
        return await self._run(HandoffStore.queue, statuses, agent, utcnow())

    async def detail(self, handoff_id: int, agent: StaffUser) -> HandoffPublic:
        return await self._run(HandoffStore.detail, handoff_id, agent, utcnow())

    async def claim(self, handoff_id: int, agent: StaffUser) -> HandoffSummaryPublic:
        joined, claimed = await self._run(
            HandoffStore.claim, handoff_id, agent, utcnow(), self.rules.max_open_chats
        )
        self._push(claimed.conversation_id, joined)
        self.metrics.handoffs_claimed.inc()
        self._queue_changed()
        return claimed

    async def transfer(
        self, handoff_id: int, agent: StaffUser, to_agent_id: int | None, note: str
    ) -> HandoffSummaryPublic:
        """To another agent (who holds it at once) or back to the queue, with a note."""
        told, moved = await self._run(
            HandoffStore.transfer,
            handoff_id,
            agent,
            to_agent_id,
            note,
            utcnow(),
            self.rules.max_open_chats,
        )
        self._push(moved.conversation_id, told)
        if not (moved.status == "waiting" and await self._route_waiting()):
            self._queue_changed()
        return moved

    async def reply(
        self, handoff_id: int, agent: StaffUser, text: str, article_ids: Sequence[str] = ()
    ) -> MessagePublic:
        """An agent's message to the customer, with the articles attached as link cards; by
        mail too when the customer's widget is not open (docs/email.md#an-agents-reply)."""
        # Asked here, in the event loop that owns the sockets, not in the worker thread.
        widget_open = False
        if self.outbox is not None and self.outbox.enabled:
            conversation_id = await self._run(HandoffStore.held_conversation, handoff_id, agent)
            widget_open = await self.hub.customers_watching(conversation_id)
        message = await self._run(
            HandoffStore.reply, handoff_id, agent, text, utcnow(), article_ids, widget_open
        )
        return self._push(message.conversation_id, message)

    async def typing(self, handoff_id: int, agent: StaffUser, active: bool) -> None:
        """The holder is typing a reply: the customer's widget shows it (nothing is stored)."""
        conversation_id = await self._run(HandoffStore.held_conversation, handoff_id, agent)
        self.hub.publish(conversation_id, {"type": "typing", "active": active, "from": "agent"})

    async def note(self, handoff_id: int, agent: StaffUser, text: str) -> NotePublic:
        return await self._run(HandoffStore.note, handoff_id, agent, text)

    async def _close(self, handoff_id: int, agent: StaffUser, status: str) -> HandoffSummaryPublic:
        message, closed = await self._run(HandoffStore.close, handoff_id, agent, status, utcnow())
        self._push(closed.conversation_id, message)
        if not await self._route_waiting():  # the holder has a free slot
            self._queue_changed()
        return closed

    async def resolve(self, handoff_id: int, agent: StaffUser) -> HandoffSummaryPublic:
        resolved = await self._close(handoff_id, agent, "resolved")
        self.metrics.handoffs_resolved.inc()
        return resolved

    async def give_back(self, handoff_id: int, agent: StaffUser) -> HandoffSummaryPublic:
        returned = await self._close(handoff_id, agent, "returned")
        self.metrics.handoffs_returned.inc()
        return returned

    # -- the customer's rating ---------------------------------------------------------------

    async def rate(self, conversation_id: str, score: int, comment: str | None) -> RatingPublic:
        rating = await self._run(HandoffStore.rate, conversation_id, score, comment)
        self.rated(rating)
        return rating

    def rated(self, rating: RatingPublic) -> None:
        """A rating was recorded (here, or by mail in the email channel's transaction)."""
        if rating.resolved_by == "agent":
            self._queue_changed()  # the agent's history shows it


__all__ = [
    "AGENTS_CHANNEL",
    "ConversationNotFoundError",
    "HandoffConflictError",
    "HandoffDesk",
    "HandoffForbiddenError",
    "HandoffNotFoundError",
]
