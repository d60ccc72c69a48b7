"""Claims at the same moment from two workers (two engines, two threads, as two service
processes would): the database decides, so exactly one agent wins a handoff, an agent at the
open-chats limit never goes over it, and a reply racing a transfer is never stored from an
agent who no longer holds the chat. Run on SQLite, and on PostgreSQL with
KEFU_TEST_DATABASE=postgres (tests/servers/databases.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.auth.store import StaffUser
from bot.conversations.models import Message
from bot.handoff.desk import HandoffDesk
from bot.handoff.errors import HandoffConflictError, HandoffForbiddenError
from bot.handoff.models import Handoff
from bot.handoff.schemas import HandoffCreate
from bot.handoff.store import HandoffStore
from db.base import utcnow
from db.engine import create_engine_for, session_factory, unit_of_work
from tests.bot.conftest import Staff, open_conversation

ROUNDS = 25


@pytest.fixture
def workers(database_url: str) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    """Two workers' sessions: each its own engine and pool, as in two processes."""
    engines = [create_engine_for(database_url) for _ in range(2)]
    yield session_factory(engines[0]), session_factory(engines[1])
    for engine in engines:
        engine.dispose()


def waiting_handoff(desk: HandoffDesk, sessions: sessionmaker[Session]) -> int:
    cid = open_conversation(sessions, "I want to talk to a person")
    request = HandoffCreate.model_validate(
        {"conversation_id": cid, "reason": "requested", "language": "en"}
    )
    return asyncio.run(desk.open(request)).handoff_id


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; each one's result or exception."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = calls[n]()
        except Exception as error:
            results[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def claim(sessions: sessionmaker[Session], handoff_id: int, agent: StaffUser, limit: int) -> int:
    with unit_of_work(sessions) as session:
        _, summary = HandoffStore(session).claim(handoff_id, agent, utcnow(), limit)
        return summary.agent_id or 0


def test_two_agents_on_two_workers_claim_one_handoff_and_exactly_one_wins(
    desk: HandoffDesk,
    sessions: sessionmaker[Session],
    staff: Staff,
    workers: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    first, second = workers
    for _ in range(ROUNDS):
        handoff_id = waiting_handoff(desk, sessions)
        results = at_once(
            partial(claim, first, handoff_id, staff.alice, 100),
            partial(claim, second, handoff_id, staff.bob, 100),
        )
        won = [r for r in results if isinstance(r, int)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1, results
        assert len(lost) == 1 and isinstance(lost[0], HandoffConflictError), results
        with sessions() as session:
            handoff = session.get(Handoff, handoff_id)
            assert handoff is not None
            assert (handoff.status, handoff.agent_id) == ("assigned", won[0])


def test_one_agent_at_the_limit_claiming_two_handoffs_at_once_gets_one(
    desk: HandoffDesk,
    sessions: sessionmaker[Session],
    staff: Staff,
    workers: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    first, second = workers
    for round_ in range(ROUNDS):
        limit = round_ + 1  # the agent holds limit - 1 chats: one more fits, not two
        pair = [waiting_handoff(desk, sessions) for _ in range(2)]
        results = at_once(
            partial(claim, first, pair[0], staff.alice, limit),
            partial(claim, second, pair[1], staff.alice, limit),
        )
        won = [r for r in results if isinstance(r, int)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1, results
        assert isinstance(lost[0], HandoffConflictError) and "the limit is" in str(lost[0])
        with sessions() as session:
            held = session.scalar(
                select(func.count())
                .select_from(Handoff)
                .where(Handoff.agent_id == staff.alice.id, Handoff.status == "assigned")
            )
        assert held == limit


def test_a_reply_racing_a_transfer_is_stored_only_while_its_agent_holds_the_handoff(
    desk: HandoffDesk,
    sessions: sessionmaker[Session],
    staff: Staff,
    workers: tuple[sessionmaker[Session], sessionmaker[Session]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Alice's reply (worker 1) has found her holding the handoff when Bob takes it over by a
    transfer (worker 2). Either the transfer waits until the reply is stored, or the reply is
    refused: never an answer stored from an agent who no longer holds the chat."""
    first, second = workers
    handoff_id = waiting_handoff(desk, sessions)
    claim(sessions, handoff_id, staff.alice, 100)
    checked, go_on = threading.Event(), threading.Event()
    held = HandoffStore._held

    def held_then_pause(store: HandoffStore, *args: Any, **kwargs: Any) -> Handoff:
        handoff = held(store, *args, **kwargs)
        if threading.current_thread().name == "reply":
            checked.set()
            go_on.wait(timeout=10)
        return handoff

    monkeypatch.setattr(HandoffStore, "_held", held_then_pause)
    results: dict[str, Any] = {}

    def run(name: str, work: Callable[[], Any]) -> None:
        try:
            results[name] = work()
        except Exception as error:
            results[name] = error

    def reply() -> int:
        with unit_of_work(first) as session:
            return HandoffStore(session).reply(handoff_id, staff.alice, "on my way", utcnow()).id

    def transfer() -> int:
        with unit_of_work(second) as session:
            message, _ = HandoffStore(session).transfer(
                handoff_id, staff.alice, staff.bob.id, "yours", utcnow(), 100
            )
            return message.id

    replying = threading.Thread(target=run, args=("reply", reply), name="reply")
    replying.start()
    assert checked.wait(timeout=10)
    transferring = threading.Thread(target=run, args=("transfer", transfer))
    transferring.start()
    transferring.join(timeout=1.0)  # a transfer that need not wait for the reply is done by now
    go_on.set()
    replying.join(timeout=30)
    transferring.join(timeout=30)
    assert isinstance(results["transfer"], int), results
    with sessions() as session:
        replies = session.scalars(
            select(Message.id).where(
                Message.conversation_id == Handoff.conversation_id,
                Handoff.id == handoff_id,
                Message.sender == "agent",
            )
        ).all()
    if isinstance(results["reply"], int):  # stored: then it came before the transfer
        assert replies == [results["reply"]] and results["reply"] < results["transfer"]
    else:
        assert isinstance(results["reply"], HandoffForbiddenError) and replies == []
