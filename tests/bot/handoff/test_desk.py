"""The handoff desk and its rules (HandoffStore) without HTTP: escalation with a packet, the
queue, claiming once, live replies and notes, resolving or returning, and the rating."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.auth.store import UserStore
from bot.conversations.hub import ConversationHub
from bot.conversations.store import ConversationNotFoundError, ConversationStore
from bot.conversations.trail import BotTrail
from bot.handoff.desk import (
    AGENTS_CHANNEL,
    HandoffConflictError,
    HandoffDesk,
    HandoffForbiddenError,
    HandoffNotFoundError,
)
from bot.handoff.errors import TransferTargetError
from bot.handoff.models import ConversationRating, Handoff
from bot.handoff.routing import RoutingRules
from bot.handoff.schemas import HandoffCreate, HandoffOpenedPublic, HandoffSummaryPublic
from bot.handoff.signals import EscalationSignals
from tests.bot.conftest import (
    ALWAYS_HUMAN,
    PASSWORD,
    Staff,
    agent_console,
    drain,
    messages_in,
    open_conversation,
)
from texts import say


def escalate(
    desk: HandoffDesk, cid: str, reason: str = "requested", language: str = "en", **fields: Any
) -> HandoffOpenedPublic:
    request = HandoffCreate.model_validate(
        {"conversation_id": cid, "reason": reason, "language": language, **fields}
    )
    return asyncio.run(desk.open(request))


def handed_over(
    desk: HandoffDesk, sessions: sessionmaker[Session], *texts: str, **fields: Any
) -> tuple[str, int]:
    """A conversation with the customer's messages, escalated: its id and the handoff's."""
    cid = open_conversation(sessions, *texts or ("I want to talk to a person",))
    return cid, escalate(desk, cid, **fields).handoff_id


def claimed(
    desk: HandoffDesk, sessions: sessionmaker[Session], staff: Staff, **fields: Any
) -> tuple[str, int]:
    cid, handoff_id = handed_over(desk, sessions, **fields)
    asyncio.run(desk.claim(handoff_id, staff.alice))
    return cid, handoff_id


def handled_by(sessions: sessionmaker[Session], cid: str) -> str:
    with sessions() as session:
        return ConversationStore(session).get(cid).handled_by


def transcript(sessions: sessionmaker[Session], cid: str) -> list[tuple[str, str, str | None]]:
    with sessions() as session:
        return [
            (m.sender, m.text, (m.payload or {}).get("kind"))
            for m in ConversationStore(session).transcript(cid)
        ]


def created_at(sessions: sessionmaker[Session], handoff_id: int) -> datetime:
    with sessions() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None
        return handoff.created_at


def backdate(sessions: sessionmaker[Session], handoff_id: int, to: datetime) -> None:
    with sessions() as session:
        session.execute(update(Handoff).where(Handoff.id == handoff_id).values(created_at=to))
        session.commit()


# -- opening ---------------------------------------------------------------------------------


def test_opening_creates_a_waiting_handoff_with_its_packet(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "hi", "my refund from last week never arrived")
    with sessions() as session:
        BotTrail(session).record_lookup(
            cid,
            "my refund from last week never arrived",
            "en",
            "answer",
            [{"article_id": "refunds", "version": 2, "score": 0.8}],
        )
    opened = escalate(
        desk,
        cid,
        intents=[
            {"text": "hi", "intent": "greet", "confidence": 0.99},
            {
                "text": "my refund from last week never arrived",
                "intent": "ask_question",
                "confidence": 0.9,
            },
        ],
        customer_name="Wang Fang",
    )

    assert opened.created and opened.status == "waiting"
    handoff = asyncio.run(desk.detail(opened.handoff_id, staff.alice))
    assert handoff.conversation_id == cid
    assert handoff.summary == "my refund from last week never arrived"
    assert handoff.customer_name == "Wang Fang"
    packet = handoff.packet
    assert packet["reason"] == "requested"
    assert packet["customer"] == {"name": "Wang Fang", "email": None}
    assert [s["text"] for s in packet["sentiment"]] == [
        "hi",
        "my refund from last week never arrived",
    ]
    assert [(a["article_id"], a["version"]) for a in packet["articles"]] == [("refunds", 2)]
    assert [m.text for m in handoff.messages] == ["hi", "my refund from last week never arrived"]


def test_a_waiting_handoffs_packet_keeps_up_with_the_conversation(
    desk: HandoffDesk, hub: ConversationHub, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "I want a person")
    opened = escalate(
        desk,
        cid,
        intents=[{"text": "I want a person", "intent": "request_human", "confidence": 0.97}],
    )
    before = asyncio.run(desk.detail(opened.handoff_id, staff.alice))
    assert before.packet["articles"] == [] and before.packet_updated_at is None
    # Nobody was online: the bot goes on answering the ticket, the customer goes on writing.
    with sessions() as session:
        store = ConversationStore(session)
        message, _ = store.add_customer_message(cid, "where is my refund", None)
        store.release([message.id])
        lookup = BotTrail(session).record_lookup(
            cid,
            "where is my refund",
            "en",
            "answer",
            [{"article_id": "refunds", "version": 3, "score": 0.8}],
            "ask_question",
            0.91,
        )
        BotTrail(session).record_feedback(cid, "refunds", 3, False, lookup.id)
    with hub.subscribe(AGENTS_CHANNEL) as queue:
        asyncio.run(desk.refresh_packet(cid))
        assert drain(queue) == [{"type": "queue_changed"}]  # consoles reload it

    after = asyncio.run(desk.detail(opened.handoff_id, staff.alice))
    assert [(a["article_id"], a["version"]) for a in after.packet["articles"]] == [("refunds", 3)]
    assert [s["text"] for s in after.packet["sentiment"]] == [
        "I want a person",
        "where is my refund",
    ]
    assert [(i["text"], i["intent"]) for i in after.packet["intents"]] == [
        ("I want a person", "request_human"),
        ("where is my refund", "ask_question"),
    ]
    assert after.summary == "where is my refund"
    assert after.packet_updated_at is not None
    assert after.packet["reason"] == "requested"  # what the handoff was opened for stays


def test_a_conversation_without_an_open_handoff_has_no_packet_to_refresh(
    desk: HandoffDesk, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "hello")
    with hub.subscribe(AGENTS_CHANNEL) as queue:
        asyncio.run(desk.refresh_packet(cid))
        assert drain(queue) == []


def test_opening_tells_every_open_queue(
    desk: HandoffDesk, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "I want a person")
    with agent_console(desk), hub.subscribe(AGENTS_CHANNEL) as queue:
        opened = escalate(desk, cid)
        assert drain(queue) == [{"type": "queue_changed"}]
    assert opened.agents_online == 1


def test_with_an_agent_online_the_bot_falls_silent_at_once(
    desk: HandoffDesk, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "I want a person")
    with agent_console(desk):
        escalate(desk, cid)
    assert handled_by(sessions, cid) == "agent"


def test_with_nobody_online_the_handoff_waits_as_a_ticket_and_the_bot_stays(
    desk: HandoffDesk, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "I want a person")
    opened = escalate(desk, cid)
    assert (opened.status, opened.agents_online) == ("waiting", 0)
    assert handled_by(sessions, cid) == "bot"


def test_opening_again_returns_the_same_handoff_and_adds_the_email_to_the_ticket(
    desk: HandoffDesk, hub: ConversationHub, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "I want a person")
    first = escalate(desk, cid, customer_name="Wang Fang")
    with hub.subscribe(AGENTS_CHANNEL) as queue:
        again = escalate(desk, cid, customer_email="wang@example.com")
        assert drain(queue) == []  # the queue did not change: no new handoff

    assert not again.created
    assert again.handoff_id == first.handoff_id
    handoff = asyncio.run(desk.detail(first.handoff_id, staff.alice))
    assert handoff.customer_email == "wang@example.com"
    assert handoff.packet["customer"] == {"name": "Wang Fang", "email": "wang@example.com"}
    queue_rows = asyncio.run(desk.queue(["waiting", "assigned"], staff.alice))
    assert [h.id for h in queue_rows] == [first.handoff_id]


def test_a_ticket_joins_the_live_queue_when_the_customer_asks_again_with_an_agent_online(
    desk: HandoffDesk, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "I want a person")
    escalate(desk, cid)
    assert handled_by(sessions, cid) == "bot"
    with agent_console(desk):
        again = escalate(desk, cid)
    assert not again.created
    assert handled_by(sessions, cid) == "agent"


def test_a_conversation_closed_earlier_opens_a_new_handoff(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, first = claimed(desk, sessions, staff)
    asyncio.run(desk.resolve(first, staff.alice))
    again = escalate(desk, cid)
    assert again.created and again.handoff_id != first


def test_an_upset_customer_and_an_always_human_topic_raise_the_priority(
    sessions: sessionmaker[Session], hub: ConversationHub, staff: Staff
) -> None:
    upset = EscalationSignals(
        lambda texts: [-1.0 if "!!" in t else 0.2 for t in texts], ALWAYS_HUMAN
    )
    desk = HandoffDesk(sessions, hub, upset)
    _, handoff_id = handed_over(
        desk, sessions, "hello", "I want my REFUND OVER the phone!!", reason="topic"
    )
    [row] = asyncio.run(desk.queue(["waiting"], staff.alice))
    assert row.id == handoff_id
    assert row.sentiment == -1.0
    assert (row.priority_parts.upset, row.priority_parts.topic) == (30, 30)
    assert row.priority == 20 + 30 + 30


def test_the_customers_name_cannot_reorder_the_agents_console(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    _, handoff_id = handed_over(desk, sessions, customer_name="\u202eAnn Lee")
    assert asyncio.run(desk.detail(handoff_id, staff.alice)).customer_name == "Ann Lee"
    _, handoff_id = handed_over(desk, sessions, customer_name="مريم العلي")
    assert asyncio.run(desk.detail(handoff_id, staff.alice)).customer_name == "مريم العلي"


def test_opening_for_an_unknown_conversation_is_not_found(desk: HandoffDesk) -> None:
    with pytest.raises(ConversationNotFoundError):
        escalate(desk, "nope")


# -- the queue -------------------------------------------------------------------------------


def test_the_queue_is_by_priority_then_by_waiting_time(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    _, asked = handed_over(desk, sessions, reason="requested")  # 10 points
    _, newer = handed_over(desk, sessions, reason="repeated_failure")  # 20 points
    _, older = handed_over(desk, sessions, reason="repeated_failure")
    _, angry = handed_over(desk, sessions, reason="frustration")  # 30 points, newest
    # ``older`` has waited longer than ``newer`` (under a minute: no extra points).
    backdate(sessions, older, created_at(sessions, newer) - timedelta(seconds=30))

    rows = asyncio.run(desk.queue(["waiting"], staff.alice))
    assert [r.id for r in rows] == [angry, older, newer, asked]
    assert [r.priority for r in rows] == [30, 20, 20, 10]


def test_waiting_long_enough_outranks_a_newer_angrier_customer(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    _, patient = handed_over(desk, sessions, reason="requested")
    _, angry = handed_over(desk, sessions, reason="frustration")
    backdate(sessions, patient, created_at(sessions, patient) - timedelta(minutes=25))
    rows = asyncio.run(desk.queue(["waiting"], staff.alice))
    assert [r.id for r in rows] == [patient, angry]
    assert rows[0].priority_parts.waiting == 25


def test_a_claimed_handoff_is_hidden_from_other_agents_but_not_from_an_admin(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    _, mine = claimed(desk, sessions, staff)
    _, waiting = handed_over(desk, sessions)
    statuses = ["waiting", "assigned"]

    def ids(agent: Any) -> set[int]:
        return {h.id for h in asyncio.run(desk.queue(statuses, agent))}

    assert ids(staff.alice) == {mine, waiting}
    assert ids(staff.bob) == {waiting}
    assert ids(staff.ada) == {mine, waiting}
    with pytest.raises(HandoffForbiddenError):
        asyncio.run(desk.detail(mine, staff.bob))
    assert asyncio.run(desk.detail(mine, staff.ada)).agent_name == "Alice"


def test_the_queue_filters_by_status(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    _, done = claimed(desk, sessions, staff)
    asyncio.run(desk.resolve(done, staff.alice))
    _, waiting = handed_over(desk, sessions)
    assert [h.id for h in asyncio.run(desk.queue(["waiting"], staff.alice))] == [waiting]
    assert [h.id for h in asyncio.run(desk.queue(["resolved"], staff.alice))] == [done]


# -- claiming --------------------------------------------------------------------------------


def test_of_two_agents_claiming_at_once_exactly_one_wins(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = handed_over(desk, sessions)

    async def both() -> list[HandoffSummaryPublic | BaseException]:
        return await asyncio.gather(
            desk.claim(handoff_id, staff.alice),
            desk.claim(handoff_id, staff.bob),
            return_exceptions=True,
        )

    results = asyncio.run(both())
    won = [r for r in results if isinstance(r, HandoffSummaryPublic)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], HandoffConflictError)
    assert f"claimed by {won[0].agent_name}" in str(lost[0])
    holder = asyncio.run(desk.detail(handoff_id, staff.ada))
    assert (holder.status, holder.agent_id) == ("assigned", won[0].agent_id)
    assert [kind for _, _, kind in transcript(sessions, cid)].count("agent_joined") == 1


def test_claiming_tells_the_customer_in_their_language_and_refreshes_the_queues(
    desk: HandoffDesk, hub: ConversationHub, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "我要人工客服")
    handoff_id = escalate(desk, cid, language="zh").handoff_id
    with hub.subscribe(cid) as widget, hub.subscribe(AGENTS_CHANNEL) as queue:
        summary = asyncio.run(desk.claim(handoff_id, staff.alice))
        [joined] = messages_in(drain(widget))
        assert drain(queue) == [{"type": "queue_changed"}]

    assert (summary.status, summary.agent_name) == ("assigned", "Alice")
    assert summary.claimed_at is not None
    assert (joined["sender"], joined["kind"]) == ("system", "agent_joined")
    assert joined["text"] == say("agent_joined", "zh", name="Alice")
    assert "Alice" in joined["text"]
    assert handled_by(sessions, cid) == "agent"


def test_a_claimed_handoff_cannot_be_claimed_again(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    _, handoff_id = claimed(desk, sessions, staff)
    with pytest.raises(HandoffConflictError, match="claimed by Alice"):
        asyncio.run(desk.claim(handoff_id, staff.bob))
    with pytest.raises(HandoffConflictError):
        asyncio.run(desk.claim(handoff_id, staff.alice))


# -- replies and notes -----------------------------------------------------------------------


def test_the_holders_reply_reaches_the_customer_with_their_name(
    desk: HandoffDesk, hub: ConversationHub, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    with hub.subscribe(cid) as widget:
        reply = asyncio.run(desk.reply(handoff_id, staff.alice, "Hi, I'm looking into it."))
        [pushed] = messages_in(drain(widget))
    assert (reply.sender, reply.agent_name) == ("agent", "Alice")
    assert pushed["id"] == reply.id
    assert transcript(sessions, cid)[-1] == ("agent", "Hi, I'm looking into it.", None)


def test_only_the_holder_may_reply(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    before = transcript(sessions, cid)
    with pytest.raises(HandoffForbiddenError):
        asyncio.run(desk.reply(handoff_id, staff.bob, "I'll take over"))
    assert transcript(sessions, cid) == before


def test_an_admin_may_step_in_on_another_agents_handoff(
    desk: HandoffDesk, hub: ConversationHub, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    with hub.subscribe(cid) as widget:
        reply = asyncio.run(desk.reply(handoff_id, staff.ada, "A supervisor here, I can help."))
        [pushed] = messages_in(drain(widget))
    assert (reply.agent_name, pushed["id"]) == ("Ada", reply.id)
    note = asyncio.run(desk.note(handoff_id, staff.ada, "refund approved"))
    assert note.author == "Ada"
    closed = asyncio.run(desk.resolve(handoff_id, staff.ada))
    # The handoff stays Alice's: she is shown as its agent and the rating is credited to her.
    assert (closed.status, closed.agent_name) == ("resolved", "Alice")
    asyncio.run(desk.rate(cid, 5, None))
    with sessions() as session:
        rating = session.scalars(
            select(ConversationRating).where(ConversationRating.conversation_id == cid)
        ).one()
    assert rating.agent_id == staff.alice.id


def test_an_admin_may_give_back_another_agents_handoff(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    assert asyncio.run(desk.give_back(handoff_id, staff.ada)).status == "returned"
    assert handled_by(sessions, cid) == "bot"


def test_nobody_replies_to_a_waiting_handoff(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    _, handoff_id = handed_over(desk, sessions)
    with pytest.raises(HandoffConflictError):
        asyncio.run(desk.reply(handoff_id, staff.alice, "hello"))


def test_notes_need_a_claim_and_stay_with_the_agents(
    desk: HandoffDesk, hub: ConversationHub, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = handed_over(desk, sessions)
    with pytest.raises(HandoffForbiddenError):
        asyncio.run(desk.note(handoff_id, staff.alice, "VIP customer"))

    asyncio.run(desk.claim(handoff_id, staff.alice))
    with pytest.raises(HandoffForbiddenError):
        asyncio.run(desk.note(handoff_id, staff.bob, "not mine"))
    with hub.subscribe(cid) as widget:
        note = asyncio.run(desk.note(handoff_id, staff.alice, "VIP customer"))
        assert drain(widget) == []  # the customer never sees a note
    assert note.author == "Alice"
    detail = asyncio.run(desk.detail(handoff_id, staff.alice))
    assert [(n.text, n.author) for n in detail.notes] == [("VIP customer", "Alice")]
    assert "VIP customer" not in [text for _, text, _ in transcript(sessions, cid)]


# -- transfer --------------------------------------------------------------------------------


def test_a_transfer_hands_the_chat_to_another_agent_with_a_note_and_the_history(
    desk: HandoffDesk, hub: ConversationHub, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    with hub.subscribe(cid) as widget, hub.subscribe(AGENTS_CHANNEL) as queue:
        moved = asyncio.run(
            desk.transfer(handoff_id, staff.alice, staff.bob.id, "wants a refund over 500")
        )
        [joined] = messages_in(drain(widget))
        assert {"type": "queue_changed"} in drain(queue)
    assert (moved.status, moved.agent_id, moved.agent_name) == ("assigned", staff.bob.id, "Bob")
    assert joined["text"] == say("agent_joined", "en", name="Bob")
    detail = asyncio.run(desk.detail(handoff_id, staff.bob))  # Bob holds it now
    assert [(n.text, n.author) for n in detail.notes] == [("wants a refund over 500", "Alice")]
    assert detail.messages[0].text == "I want to talk to a person"  # the whole history
    [record] = detail.packet["transfers"]
    assert (record["from"], record["to"], record["by"]) == ("Alice", "Bob", "Alice")
    with pytest.raises(HandoffForbiddenError):  # Alice holds it no more
        asyncio.run(desk.reply(handoff_id, staff.alice, "still here"))


def test_a_transfer_back_to_the_queue_waits_for_anyone(
    desk: HandoffDesk, hub: ConversationHub, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    with hub.subscribe(cid) as widget:
        moved = asyncio.run(
            desk.transfer(handoff_id, staff.alice, None, "needs a Cantonese speaker")
        )
        [told] = messages_in(drain(widget))
    assert (moved.status, moved.agent_id) == ("waiting", None)
    assert told["text"] == say("transferred_to_queue", "en")
    assert handled_by(sessions, cid) == "agent"  # the bot stays silent: a person comes
    claimed_again = asyncio.run(desk.claim(handoff_id, staff.bob))
    assert claimed_again.agent_id == staff.bob.id
    notes = asyncio.run(desk.detail(handoff_id, staff.bob)).notes
    assert [n.text for n in notes] == ["needs a Cantonese speaker"]


def test_a_transfer_is_refused_when_it_cannot_be_done(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    _, waiting = handed_over(desk, sessions)
    with pytest.raises(HandoffConflictError):  # nobody holds it yet: claim it
        asyncio.run(desk.transfer(waiting, staff.alice, staff.bob.id, "note"))
    _, handoff_id = claimed(desk, sessions, staff)
    with pytest.raises(HandoffForbiddenError):  # only the holder (or an admin)
        asyncio.run(desk.transfer(handoff_id, staff.bob, staff.bob.id, "mine now"))
    with pytest.raises(HandoffConflictError):  # Alice holds it already
        asyncio.run(desk.transfer(handoff_id, staff.alice, staff.alice.id, "to me"))
    with sessions() as session:
        erin = UserStore(session).create("erin@shop.test", "Erin", "editor", PASSWORD)
    for nobody in (erin.id, 10**9):
        with pytest.raises(TransferTargetError):
            asyncio.run(desk.transfer(handoff_id, staff.alice, nobody, "an editor?"))
    with pytest.raises(HandoffNotFoundError):
        asyncio.run(desk.transfer(10**9, staff.alice, staff.bob.id, "gone"))
    moved = asyncio.run(desk.transfer(handoff_id, staff.ada, staff.bob.id, "admin steps in"))
    assert moved.agent_id == staff.bob.id


def test_a_transfer_respects_the_receivers_limit(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals, staff: Staff
) -> None:
    desk = HandoffDesk(sessions, hub, signals, rules=RoutingRules(max_open_chats=1))
    _, mine = claimed(desk, sessions, staff)
    _, bobs = handed_over(desk, sessions)
    asyncio.run(desk.claim(bobs, staff.bob))
    with pytest.raises(HandoffConflictError, match="limit is 1"):
        asyncio.run(desk.transfer(mine, staff.alice, staff.bob.id, "one more"))


# -- resolving and returning -----------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh"])
def test_resolving_returns_the_conversation_to_the_bot_and_asks_for_a_rating(
    desk: HandoffDesk,
    hub: ConversationHub,
    staff: Staff,
    sessions: sessionmaker[Session],
    language: str,
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff, language=language)
    with hub.subscribe(cid) as widget, hub.subscribe(AGENTS_CHANNEL) as queue:
        closed = asyncio.run(desk.resolve(handoff_id, staff.alice))
        [request] = messages_in(drain(widget))
        assert drain(queue) == [{"type": "queue_changed"}]

    assert closed.status == "resolved"
    assert handled_by(sessions, cid) == "bot"
    assert (request["sender"], request["kind"]) == ("system", "csat_request")
    assert request["text"] == say("rating_after_agent", language)
    assert asyncio.run(desk.queue(["waiting", "assigned"], staff.alice)) == []


def test_giving_back_returns_the_conversation_to_the_bot_without_a_rating(
    desk: HandoffDesk, hub: ConversationHub, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    with hub.subscribe(cid) as widget:
        closed = asyncio.run(desk.give_back(handoff_id, staff.alice))
        [notice] = messages_in(drain(widget))
    assert closed.status == "returned"
    assert handled_by(sessions, cid) == "bot"
    assert (notice["kind"], notice["text"]) == ("returned_to_bot", say("returned_to_bot", "en"))
    assert "csat_request" not in [kind for _, _, kind in transcript(sessions, cid)]


def test_only_the_holder_closes_and_only_once(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    with pytest.raises(HandoffForbiddenError):
        asyncio.run(desk.resolve(handoff_id, staff.bob))
    assert handled_by(sessions, cid) == "agent"
    asyncio.run(desk.resolve(handoff_id, staff.alice))
    with pytest.raises(HandoffConflictError):
        asyncio.run(desk.give_back(handoff_id, staff.alice))


# -- the rating ------------------------------------------------------------------------------


def test_the_rating_is_credited_to_the_agent_who_resolved(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    asyncio.run(desk.resolve(handoff_id, staff.alice))
    rating = asyncio.run(desk.rate(cid, 5, "quick and kind"))
    assert (rating.score, rating.comment, rating.resolved_by) == (5, "quick and kind", "agent")
    with sessions() as session:
        stored = session.scalars(
            select(ConversationRating).where(ConversationRating.conversation_id == cid)
        ).one()
    assert stored.agent_id == staff.alice.id


def test_a_conversation_given_back_is_credited_to_the_bot(
    desk: HandoffDesk, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    cid, handoff_id = claimed(desk, sessions, staff)
    asyncio.run(desk.give_back(handoff_id, staff.alice))
    assert asyncio.run(desk.rate(cid, 4, None)).resolved_by == "bot"


def test_a_conversation_is_rated_once(desk: HandoffDesk, sessions: sessionmaker[Session]) -> None:
    cid = open_conversation(sessions, "thanks")
    asyncio.run(desk.rate(cid, 4, None))
    with pytest.raises(HandoffConflictError):
        asyncio.run(desk.rate(cid, 1, "changed my mind"))
    with sessions() as session:
        scores = session.scalars(
            select(ConversationRating.score).where(ConversationRating.conversation_id == cid)
        ).all()
    assert scores == [4]


def test_rating_an_unknown_conversation_is_not_found(desk: HandoffDesk) -> None:
    with pytest.raises(ConversationNotFoundError):
        asyncio.run(desk.rate("nope", 5, None))


# -- unknown handoffs ------------------------------------------------------------------------


def test_an_unknown_handoff_is_not_found(desk: HandoffDesk, staff: Staff) -> None:
    agent = staff.alice
    calls: list[Callable[[], Coroutine[Any, Any, object]]] = [
        lambda: desk.detail(999, agent),
        lambda: desk.claim(999, agent),
        lambda: desk.reply(999, agent, "hi"),
        lambda: desk.note(999, agent, "hi"),
        lambda: desk.resolve(999, agent),
        lambda: desk.give_back(999, agent),
    ]
    for call in calls:
        with pytest.raises(HandoffNotFoundError, match="handoff 999 not found"):
            asyncio.run(call())
