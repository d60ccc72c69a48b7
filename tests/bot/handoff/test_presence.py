"""Presence and routing: who counts as online (status and a live console, with a timeout),
away stops new chats, the customer's queue position counts only customers still there, each
agent's limit of open chats, auto-assignment to the least-busy agent, and what a customer is
promised outside business hours."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.hub import ConversationHub
from bot.conversations.models import Message
from bot.handoff.desk import AGENTS_CHANNEL, HandoffConflictError, HandoffDesk
from bot.handoff.hours import WEEKDAYS, BusinessHours
from bot.handoff.models import Handoff
from bot.handoff.presence import InProcessPresence
from bot.handoff.routing import RoutingRules, least_busy
from bot.handoff.signals import EscalationSignals
from bot.handoff.store import HandoffStore
from db.base import utcnow
from tests.bot.conftest import Staff, agent_console, drain, open_conversation
from tests.bot.handoff.test_desk import escalate
from texts import say

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


# -- presence ----------------------------------------------------------------------------------


def test_an_agent_with_a_live_console_is_online_until_they_choose_otherwise() -> None:
    presence = InProcessPresence(timedelta(seconds=60))
    assert presence.state(1, T0).status == "offline"  # no console yet
    presence.console_opened(1, T0)
    assert presence.state(1, T0).status == "online"
    assert presence.available(T0) == [1]
    presence.choose(1, "away", T0)
    assert (presence.state(1, T0).status, presence.available(T0)) == ("away", [])
    presence.choose(1, "offline", T0)
    assert presence.available(T0) == []
    presence.choose(1, "online", T0)
    assert presence.available(T0) == [1]


def test_without_a_live_console_an_agent_is_offline_after_the_timeout() -> None:
    presence = InProcessPresence(timedelta(seconds=60))
    presence.console_opened(1, T0)
    presence.console_opened(1, T0)  # two tabs
    presence.console_closed(1, T0 + MINUTE)
    assert presence.available(T0 + 10 * MINUTE) == [1]  # one tab is still open
    presence.console_closed(1, T0 + 10 * MINUTE)
    later = T0 + 10 * MINUTE
    assert presence.available(later + timedelta(seconds=59)) == [1]  # a reload's grace
    gone = presence.state(1, later + timedelta(seconds=60))
    assert (gone.chosen, gone.live, gone.status) == ("online", False, "offline")
    assert presence.available(later + timedelta(seconds=60)) == []


def test_agents_online_counts_only_online_agents_with_a_live_console(
    desk: HandoffDesk, staff: Staff
) -> None:
    with agent_console(desk, staff.alice), agent_console(desk, staff.bob):
        assert asyncio.run(desk.agents_online()) == 2
        asyncio.run(desk.set_presence(staff.bob, "away"))
        assert asyncio.run(desk.agents_online()) == 1
        assert asyncio.run(desk.presence_of(staff.bob)).status == "away"
    assert asyncio.run(desk.agents_online()) == 0  # consoles closed (this desk has no grace)
    asyncio.run(desk.set_presence(staff.alice, "online"))
    assert asyncio.run(desk.agents_online()) == 0  # choosing online is not enough without a console


def test_every_console_hears_when_a_closed_console_stops_counting(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals, staff: Staff
) -> None:
    presence = InProcessPresence(timedelta(seconds=0.05))
    desk = HandoffDesk(sessions, hub, signals, presence=presence)

    async def close_and_wait() -> tuple[list[dict[str, Any]], int, list[dict[str, Any]], int]:
        with hub.subscribe(AGENTS_CHANNEL) as queue:
            await desk.console_opened(staff.alice)
            drain(queue)
            await desk.console_closed(staff.alice)
            at_close, online_at_close = drain(queue), await desk.agents_online()
            await asyncio.sleep(0.7)
            return at_close, online_at_close, drain(queue), await desk.agents_online()

    at_close, online_at_close, later, online_later = asyncio.run(close_and_wait())
    assert (at_close, online_at_close) == ([], 1)  # a reload's grace
    assert (later, online_later) == ([{"type": "queue_changed"}], 0)


# -- the queue position --------------------------------------------------------------------------


def age(sessions: sessionmaker[Session], cid: str, handoff_id: int, by: timedelta) -> None:
    """The handoff and every message of its conversation, as if they were ``by`` older."""
    with sessions() as session:
        then = utcnow() - by
        session.execute(update(Handoff).where(Handoff.id == handoff_id).values(created_at=then))
        session.execute(
            update(Message).where(Message.conversation_id == cid).values(created_at=then)
        )
        session.commit()


def told(desk: HandoffDesk, sessions: sessionmaker[Session], cid: str) -> str:
    """What a waiting customer who writes is told about their place in the queue."""
    with sessions() as session:
        reply_to = session.scalars(select(Message.id).where(Message.conversation_id == cid)).first()
    assert reply_to is not None
    notice = asyncio.run(desk.queue_notice(cid, reply_to))
    assert notice is not None
    return notice.text


def place(position: int) -> str:
    return say("queue_position", "en", position=position)


def test_the_queue_position_counts_only_customers_still_there(
    desk: HandoffDesk, sessions: sessionmaker[Session]
) -> None:
    with agent_console(desk):
        left = open_conversation(sessions, "I want a person")
        left_id = escalate(desk, left).handoff_id
        quiet_but_here = open_conversation(sessions, "I want a person")
        here_id = escalate(desk, quiet_but_here).handoff_id
        ticket = open_conversation(sessions, "I want a person")
    escalate(desk, ticket)  # nobody online: a ticket, never "ahead" of a live customer
    with agent_console(desk):
        me = open_conversation(sessions, "I want a person")
        escalate(desk, me)
    # The first customer has not written for 11 minutes (the window is 10): gone.
    age(sessions, left, left_id, timedelta(minutes=11))
    # Escalated 11 minutes ago, but wrote a minute ago: still there.
    age(sessions, quiet_but_here, here_id, timedelta(minutes=11))
    with sessions() as session:
        session.execute(
            update(Message)
            .where(Message.conversation_id == quiet_but_here)
            .values(created_at=utcnow() - MINUTE)
        )
        session.commit()
    assert told(desk, sessions, me) == place(2)


def test_the_queue_position_follows_the_agents_order_by_priority(
    desk: HandoffDesk, sessions: sessionmaker[Session]
) -> None:
    with agent_console(desk):
        first = open_conversation(sessions, "I want a person")
        escalate(desk, first)
        angry = open_conversation(sessions, "this is a chargeback!")
        escalate(desk, angry, reason="frustration")  # 30 points against 10: goes first
    assert told(desk, sessions, angry) == place(1)
    assert told(desk, sessions, first) == place(2)


# -- the limit and auto-assignment ------------------------------------------------------------


def routed_desk(
    sessions: sessionmaker[Session],
    hub: ConversationHub,
    signals: EscalationSignals,
    **rules: Any,
) -> HandoffDesk:
    presence = InProcessPresence(timedelta(0))
    return HandoffDesk(sessions, hub, signals, presence=presence, rules=RoutingRules(**rules))


def holder(sessions: sessionmaker[Session], handoff_id: int) -> int | None:
    with sessions() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None
        return handoff.agent_id


def test_a_claim_beyond_the_limit_of_open_chats_is_refused(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals, staff: Staff
) -> None:
    desk = routed_desk(sessions, hub, signals, max_open_chats=2)
    ids = [escalate(desk, open_conversation(sessions, "help")).handoff_id for _ in range(3)]
    asyncio.run(desk.claim(ids[0], staff.alice))
    asyncio.run(desk.claim(ids[1], staff.alice))
    with pytest.raises(HandoffConflictError, match="Alice holds 2 open chats, the limit is 2"):
        asyncio.run(desk.claim(ids[2], staff.alice))
    assert holder(sessions, ids[2]) is None
    asyncio.run(desk.resolve(ids[0], staff.alice))  # a slot frees
    assert asyncio.run(desk.claim(ids[2], staff.alice)).agent_id == staff.alice.id


def test_auto_assignment_gives_a_new_chat_to_the_least_busy_online_agent(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals, staff: Staff
) -> None:
    desk = routed_desk(sessions, hub, signals, auto_assign=True, max_open_chats=2)
    with agent_console(desk, staff.alice), agent_console(desk, staff.bob):
        chats = [escalate(desk, open_conversation(sessions, "help")).handoff_id for _ in range(5)]
    holders = [holder(sessions, h) for h in chats]
    # Alice, Bob, Alice, Bob (least busy, then who took one least recently), then both full.
    assert holders == [staff.alice.id, staff.bob.id, staff.alice.id, staff.bob.id, None]


def test_presence_away_stops_new_assignments(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals, staff: Staff
) -> None:
    desk = routed_desk(sessions, hub, signals, auto_assign=True)
    with agent_console(desk, staff.alice), agent_console(desk, staff.bob):
        first = escalate(desk, open_conversation(sessions, "help")).handoff_id
        asyncio.run(desk.set_presence(staff.alice, "away"))
        nxt = [escalate(desk, open_conversation(sessions, "help")).handoff_id for _ in range(2)]
    assert holder(sessions, first) == staff.alice.id
    assert [holder(sessions, h) for h in nxt] == [staff.bob.id, staff.bob.id]


def test_a_waiting_chat_goes_to_a_freed_slot_or_an_agent_who_comes_online(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals, staff: Staff
) -> None:
    desk = routed_desk(sessions, hub, signals, auto_assign=True, max_open_chats=1)
    with agent_console(desk, staff.alice):
        first, second, third = (
            escalate(desk, open_conversation(sessions, "help")).handoff_id for _ in range(3)
        )
        # Alice is full: the others wait in the live queue.
        assert [holder(sessions, h) for h in (first, second, third)] == [staff.alice.id, None, None]
        asyncio.run(desk.resolve(first, staff.alice))
        assert holder(sessions, second) == staff.alice.id  # her freed slot
        with agent_console(desk, staff.bob):
            assert holder(sessions, third) == staff.bob.id  # Bob came online


def test_without_auto_assignment_a_new_chat_waits_for_a_claim(
    desk: HandoffDesk, sessions: sessionmaker[Session], staff: Staff
) -> None:
    with agent_console(desk, staff.alice):
        opened = escalate(desk, open_conversation(sessions, "help"))
    assert (opened.status, holder(sessions, opened.handoff_id)) == ("waiting", None)


def test_least_busy_breaks_ties_by_the_longest_since_a_chat() -> None:
    long_ago = {1: T0, 2: T0 - MINUTE}
    assert least_busy([1, 2, 3], {1: 1, 2: 1, 3: 2}, long_ago, 5) == 2
    assert least_busy([1, 2], {}, {1: T0}, 5) == 2  # never took one: first
    assert least_busy([1, 2], {1: 5, 2: 5}, {}, 5) is None


# -- what a customer is promised with nobody online ------------------------------------------


def test_outside_business_hours_the_customer_hears_when_the_team_is_back(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals
) -> None:
    # No hours at all: always closed, and no opening to promise...
    never = BusinessHours.from_config({"timezone": "Asia/Shanghai", "weekly": {}})
    desk = routed_desk(sessions, hub, signals, hours=never)
    opened = escalate(desk, open_conversation(sessions, "help"))
    assert opened.notice == say("nobody_online", "en")  # ...no hours at all: nothing promised
    # Open 09:00–09:01 every day in Shanghai: closed nearly always, back at 9:00.
    shanghai = BusinessHours.from_config(
        {"timezone": "Asia/Shanghai", "weekly": {d: [["09:00", "09:01"]] for d in WEEKDAYS}}
    )
    desk = routed_desk(sessions, hub, signals, hours=shanghai)
    back = shanghai.next_opening(utcnow())
    assert back is not None
    if back.astimezone(UTC) <= utcnow():
        pytest.skip("the team is open this very minute")
    day = f"weekday_{WEEKDAYS[back.weekday()]}"
    weekday_en, weekday_zh = say(day, "en"), say(day, "zh")
    en = escalate(desk, open_conversation(sessions, "help"))
    assert en.notice == say("closed_until", "en", time="9:00", weekday=weekday_en)
    assert "We're back at 9:00 on" in (en.notice or "")
    zh = escalate(desk, open_conversation(sessions, "help"), language="zh")
    assert zh.notice == say("closed_until", "zh", time="9:00", weekday=weekday_zh)
    assert f"我们将于{weekday_zh} 9:00 回来" in (zh.notice or "")


def test_a_holiday_longer_than_a_week_names_the_date(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals
) -> None:
    today = utcnow().astimezone(UTC).date()
    holidays = [(today + timedelta(days=d)).isoformat() for d in range(-1, 10)]
    hours = BusinessHours.from_config(
        {
            "timezone": "UTC",
            "weekly": {d: [["00:00", "24:00"]] for d in WEEKDAYS},
            "holidays": holidays,
        }
    )
    desk = routed_desk(sessions, hub, signals, hours=hours)
    opened = escalate(desk, open_conversation(sessions, "help"))
    back = today + timedelta(days=10)
    weekday = say(f"weekday_{WEEKDAYS[back.weekday()]}", "en")
    expected = say("closed_until_date", "en", time="0:00", weekday=weekday, date=back.isoformat())
    assert opened.notice == expected


def test_with_an_agent_online_nothing_is_promised_whatever_the_hours(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals
) -> None:
    never = BusinessHours.from_config({"timezone": "UTC", "weekly": {}})
    desk = routed_desk(sessions, hub, signals, hours=never)
    with agent_console(desk):
        opened = escalate(desk, open_conversation(sessions, "help"))
    assert (opened.agents_online, opened.notice) == (1, None)


def test_open_chats_are_counted_per_agent(
    desk: HandoffDesk, sessions: sessionmaker[Session], staff: Staff
) -> None:
    ids = [escalate(desk, open_conversation(sessions, "help")).handoff_id for _ in range(2)]
    asyncio.run(desk.claim(ids[0], staff.alice))
    with sessions() as session:
        assert HandoffStore(session).open_chats([staff.alice.id, staff.bob.id]) == {
            staff.alice.id: 1
        }
