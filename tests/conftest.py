"""Fixtures shared by every test package."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

# The real servers' fixtures, shared by every test package (tests/servers/).
from tests.servers.databases import FreshDatabases, fresh_databases, on_postgres
from tests.servers.postgres import postgres_server
from tests.servers.redis import RedisServer, flush
from tests.servers.smtp import SmtpServer

__all__ = ["fresh_databases", "postgres_server"]

REPO = Path(__file__).resolve().parent.parent
DEMO_KB = REPO / "kb" / "demo" / "articles.jsonl"
RETRIEVAL_DATA = REPO / "tests" / "data" / "retrieval"

# Action tests need rasa_sdk, which lives in the Rasa environment (.venv-rasa) only.
collect_ignore = [] if importlib.util.find_spec("rasa_sdk") else ["actions"]


@pytest.fixture(autouse=True)
def _offline_models(monkeypatch: pytest.MonkeyPatch) -> None:
    # Models come from installed packages; any hub access would hang on this network.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only(reason): about SQLite itself (pragmas, FTS5, triggers); skipped when "
        "KEFU_TEST_DATABASE=postgres",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_postgres():
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "about SQLite itself"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))
