"""The real servers' fixtures, shared by every test package of the service (tests/conftest.py
takes them in the service's environment only: the Rasa environment, which runs tests/actions,
has neither the service's database code nor the servers' clients)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.databases import FreshDatabases, fresh_databases
from tests.servers.postgres import postgres_server
from tests.servers.redis import RedisServer, flush
from tests.servers.smtp import SmtpServer

__all__ = [
    "demo_template",
    "fresh_databases",
    "postgres_server",
    "redis_server",
    "redis_url",
    "smtp_server",
    "smtp_server_with_login",
]

DEMO_KB = Path(__file__).resolve().parent.parent.parent / "kb" / "demo" / "articles.jsonl"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd on loopback, tests/servers/smtp.py) for one test."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_server_with_login() -> Iterator[SmtpServer]:
    with SmtpServer(login=("kefu", "s3cret-pass")) as server:
        yield server


@pytest.fixture(scope="session")
def demo_template(
    tmp_path_factory: pytest.TempPathFactory, fresh_databases: FreshDatabases
) -> Iterator[str]:
    """A database holding the demo knowledge base, made once and never connected to again:
    what ``fresh_databases.copy_of`` copies for each test or module that needs the demo."""
    from db.engine import create_engine_for, session_factory
    from kb.importer import import_path
    from kb.store import ArticleStore

    with fresh_databases.fresh(tmp_path_factory.mktemp("demo-template")) as url:
        engine = create_engine_for(url)
        with session_factory(engine)() as session:
            import_path(DEMO_KB, ArticleStore(session))
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session (tests/servers/redis.py); a test may stop it."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, running and empty."""
    redis_server.start()  # again, if an earlier test stopped it
    flush(redis_server.url)
    return redis_server.url
