"""The real stack for end-to-end tests: the trained Rasa model, the action server and the
service, over a fresh SQLite file holding the demo knowledge base and a real FAISS index.

Needs models/kefu.tar.gz: `make test-e2e` trains it first (when its inputs changed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.auth.store import UserStore
from bot.stack import Stack, demo_stack_config
from db.engine import create_engine_for, session_factory


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = demo_stack_config(tmp_path_factory.mktemp("stack"), secret_key="e2e-secret-key")
    with Stack(config) as running:
        yield running


AGENT_PASSWORD = "agent-password-1"


def _create_user(stack: Stack, email: str, name: str, role: str) -> str:
    assert stack.config.database_url is not None
    engine = create_engine_for(stack.config.database_url)
    with session_factory(engine)() as session:
        UserStore(session).create(email, name, role, AGENT_PASSWORD)
    engine.dispose()
    return email


@pytest.fixture(scope="session")
def agent_email(stack: Stack) -> str:
    """An agent account in the stack's database (created once per run)."""
    return _create_user(stack, "lin@shop.test", "Lin", "agent")


@pytest.fixture(scope="session")
def editor_email(stack: Stack) -> str:
    """An editor account (password AGENT_PASSWORD too)."""
    return _create_user(stack, "erin@shop.test", "Erin", "editor")
