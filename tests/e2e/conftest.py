"""The real stack for end-to-end tests: the trained Rasa model, the action server and the
service, over a fresh database holding the demo knowledge base and a real FAISS index.

``KEFU_E2E_LAYOUT`` chooses the layout: ``embedded`` (the default, as `make run`): one process
each over a SQLite file; ``scale`` (`make test-scale`): two service workers, two Rasa
processes and their two action servers over the harnesses' PostgreSQL and Redis
(tests/servers/), as `kefu stack up --workers 2 --rasa-workers 2` runs them. Every stack of the
run (the shared one, and the services alone) then has a PostgreSQL database of its own.

Needs models/kefu.tar.gz: `make test-e2e` trains it first (when its inputs changed). Pages that
never chat (the reports) use ``service_only``: the same service processes, without Rasa.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.auth.store import UserStore
from bot.stack import Stack, StackConfig, demo_stack_config
from db.engine import create_engine_for, session_factory
from tests.e2e import mail
from tests.servers.imap import ImapServer, imap_server
from tests.servers.postgres import PostgresServer
from tests.servers.smtp import SmtpServer

LAYOUTS = ("embedded", "scale")
SCALE_WORKERS = 2
SCALE_RASA = 2


def layout() -> str:
    chosen = os.environ.get("KEFU_E2E_LAYOUT", "embedded").strip() or "embedded"
    if chosen not in LAYOUTS:
        raise pytest.UsageError(f"KEFU_E2E_LAYOUT={chosen!r}: use one of {', '.join(LAYOUTS)}")
    return chosen


@dataclass
class ScaleEngines:
    """The harnesses' PostgreSQL and Redis, shared by every stack of the run."""

    postgres: PostgresServer
    redis_url: str
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def database(self) -> str:
        """A new empty database's URL."""
        return self.postgres.create_database(f"kefu_e2e_{os.getpid()}_{next(self._names)}")


_engines: ScaleEngines | None = None


@pytest.fixture(scope="session", autouse=True)
def scale_engines(request: pytest.FixtureRequest) -> ScaleEngines | None:
    """At scale, PostgreSQL and Redis for the run (before any stack starts); else None."""
    global _engines
    if layout() != "scale":
        return None
    redis = request.getfixturevalue("redis_server")
    _engines = ScaleEngines(request.getfixturevalue("postgres_server"), redis.url)
    return _engines


def layout_config(folder: Path, **settings: Any) -> StackConfig:
    """demo_stack_config for the run's layout (at scale: workers and Rasa processes over a new
    PostgreSQL database and the shared Redis); ``settings`` as demo_stack_config takes them."""
    if _engines is None:
        return demo_stack_config(folder, **settings)
    return demo_stack_config(
        folder,
        **{
            "rasa_workers": SCALE_RASA,
            "workers": SCALE_WORKERS,
            "database_url": _engines.database(),
            "redis_url": _engines.redis_url,
            **settings,
        },
    )


@pytest.fixture(scope="session")
def mail_server() -> Iterator[SmtpServer]:
    """The stack's SMTP server (aiosmtpd on loopback): every mail the service sends."""
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, mail_server: SmtpServer) -> Iterator[Stack]:
    # A closed console counts as an agent online for 1 s, not 60: the tests that need nobody
    # online follow tests with consoles open. Mail goes to the test's SMTP server; an agent's
    # reply waits 1 s (not 60) for the widget, a failed send 0.5 s for its first retry.
    config = layout_config(
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


@pytest.fixture(scope="module")
def dovecot() -> Iterator[ImapServer]:
    """The mail modules' support mailbox (a real Dovecot on loopback), one per module."""
    yield from imap_server()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """The mail modules' SMTP server, one per module (the shared stack's is ``mail_server``)."""
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def mail_stack(
    tmp_path_factory: pytest.TempPathFactory, dovecot: ImapServer, smtp: SmtpServer
) -> Iterator[Stack]:
    """A stack of the module's own (embedded, whatever the layout) that reads ``dovecot``
    every POLL_S and sends through ``smtp`` as SUPPORT (tests/e2e/mail.py)."""
    config = demo_stack_config(
        tmp_path_factory.mktemp("mail-stack"),
        secret_key=mail.SECRET,
        service_env={
            "KEFU_IMAP_URL": dovecot.url,
            "KEFU_IMAP_POLL_S": str(mail.POLL_S),
            "KEFU_SMTP_URL": smtp.url,
            "KEFU_MAIL_FROM": mail.SUPPORT,
            "KEFU_COMPANY_NAME": "ACME",
            "KEFU_PRESENCE_TIMEOUT_S": "1",
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
    config = layout_config(folder, secret_key="e2e-secret-key", service_env=settings)
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
