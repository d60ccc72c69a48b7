"""Fixtures for unit tests of the service's core: a real database migrated with Alembic, its
sessions, the hub, a handoff desk whose sentiment scorer is a fake, and staff users.

Nothing here speaks HTTP: the tests call the gateway, the desk and the stores directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.auth.store import StaffUser, UserStore
from bot.conversations.hub import ConversationHub, Subscription
from bot.conversations.store import ConversationStore
from bot.handoff.desk import HandoffDesk
from bot.handoff.presence import InProcessPresence
from bot.handoff.signals import EscalationSignals
from bot.handoff.topics import AlwaysHumanTopics
from db.engine import create_engine_for, session_factory
from tests.servers.databases import FreshDatabases

PASSWORD = "correct-horse-battery"
ALWAYS_HUMAN = AlwaysHumanTopics(("refund over",), 30)


@pytest.fixture
def database_url(tmp_path: Path, fresh_databases: FreshDatabases) -> Iterator[str]:
    # A migrated SQLite file, or a PostgreSQL database with KEFU_TEST_DATABASE=postgres.
    with fresh_databases.fresh(tmp_path) as url:
        yield url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine_for(database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def hub() -> ConversationHub:
    return ConversationHub()


@pytest.fixture
def signals() -> EscalationSignals:
    # A calm customer (sentiment 0) unless a test says otherwise; the topics are real.
    return EscalationSignals(lambda texts: [0.0 for _ in texts], ALWAYS_HUMAN)


@pytest.fixture
def desk(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals
) -> HandoffDesk:
    # A closed console counts at once here (no grace): the timeout has tests of its own.
    return HandoffDesk(sessions, hub, signals, presence=InProcessPresence(timedelta(0)))


@dataclass(frozen=True)
class Staff:
    alice: StaffUser  # an agent
    bob: StaffUser  # another agent
    ada: StaffUser  # an admin


@pytest.fixture
def staff(sessions: sessionmaker[Session]) -> Staff:
    with sessions() as session:
        users = UserStore(session)
        return Staff(
            alice=users.create("alice@shop.test", "Alice", "agent", PASSWORD),
            bob=users.create("bob@shop.test", "Bob", "agent", PASSWORD),
            ada=users.create("ada@shop.test", "Ada", "admin", PASSWORD),
        )


def open_conversation(
    sessions: sessionmaker[Session], *customer_texts: str, language: str | None = None
) -> str:
    """A new conversation with the customer's messages in it (history: the bot owes them no
    answer); its id."""
    with sessions() as session:
        store = ConversationStore(session)
        conversation_id = store.open(language).id
        for text in customer_texts:
            message, _ = store.add_customer_message(conversation_id, text, None)
            store.release([message.id])
        return conversation_id


ON_DUTY = StaffUser(1, "alice@shop.test", "Alice", "agent")


@contextmanager
def agent_console(desk: HandoffDesk, agent: StaffUser = ON_DUTY) -> Iterator[None]:
    """An agent online, with their console's queue socket open for the block."""
    asyncio.run(desk.console_opened(agent))
    try:
        yield
    finally:
        asyncio.run(desk.console_closed(agent))


def drain(subscription: Subscription) -> list[dict[str, Any]]:
    """Every frame the subscription holds now, oldest first."""
    frames = []
    while not subscription.frames.empty():
        frames.append(subscription.frames.get_nowait())
    return frames


def messages_in(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f["message"] for f in frames if f["type"] == "message"]
