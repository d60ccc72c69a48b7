"""Claims at the same moment from two workers (two engines, two threads, as two service
processes would): the database decides, so exactly one agent wins a handoff, and an agent at
the open-chats limit never goes over it. Run on SQLite, and on PostgreSQL with
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
from bot.handoff.desk import HandoffDesk
from bot.handoff.errors import HandoffConflictError
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
