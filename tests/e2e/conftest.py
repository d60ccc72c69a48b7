"""The real stack for end-to-end tests: the trained Rasa model, the action server and the
service, over a fresh SQLite file holding the demo knowledge base and a real FAISS index.

Needs models/kefu.tar.gz: `make test-e2e` trains it first (when its inputs changed). Pages that
never chat (the reports) use ``service_only``: the same service process, without Rasa.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.auth.store import UserStore
from bot.stack import Stack, demo_stack_config
from db.engine import create_engine_for, session_factory
from tests.servers.smtp import SmtpServer


@pytest.fixture(scope="session")
def mail_server() -> Iterator[SmtpServer]:
    """The stack's SMTP server (aiosmtpd on loopback): every mail the service sends."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, mail_server: SmtpServer) -> Iterator[Stack]:
    # A closed console counts as an agent online for 1 s, not 60: the tests that need nobody
    # online follow tests with consoles open. Mail goes to the test's SMTP server; an agent's
    # reply waits 1 s (not 60) for the widget, a failed send 0.5 s for its first retry.
    config = demo_stack_config(
        tmp_path_factory.mktemp("stack"),
        secret_key="e2e-secret-key",
        service_env={
            "KEFU_PRESENCE_TIMEOUT_S": "1",
            "KEFU_SMTP_URL": mail_server.url,
            "KEFU_MAIL_FROM": "support@shop.test",
            "KEFU_COMPANY_NAME": "Kefu Demo Shop",
            "KEFU_MAIL_REPLY_GRACE_S": "1",
            "KEFU_MAIL_RETRY_BASE_S": "0.5",
            "KEFU_MAIL_SEND_EVERY_S": "0.2",
        },
    )
    with Stack(config) as running:
        yield running


@contextmanager
def service_alone(folder: Path, **settings: str) -> Iterator[Stack]:
    """The service alone, as the stack starts it, over a fresh copy of the demo database in
    ``folder``, with extra ``KEFU_*`` settings; nothing listens where Rasa would be (health
    says degraded)."""
    config = demo_stack_config(folder, secret_key="e2e-secret-key", service_env=settings)
    with Stack(config, service_only=True) as running:
        yield running


@pytest.fixture(scope="module")
def service_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The service alone over a fresh copy of the demo database, one per module, so a
    module's seeded conversations are its own."""
    with service_alone(tmp_path_factory.mktemp("service")) as running:
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
