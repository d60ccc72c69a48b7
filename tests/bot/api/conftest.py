"""An app over a real database (SQLite, or PostgreSQL with KEFU_TEST_DATABASE=postgres) holding
the demo knowledge base, and the real model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.settings import Settings
from db.engine import sqlite_file
from tests.servers.databases import FreshDatabases


@dataclass(frozen=True)
class DatabaseCopy:
    """A copy of the demo database (``FreshDatabases.copy_of``) and the folder for its index."""

    url: str
    folder: Path


SERVICE_TOKEN = "test-service-token"
CONSOLE_ORIGIN = "http://testserver"  # the TestClient's own origin, where the consoles are served


@pytest.fixture(scope="session")
def demo_database_url(
    tmp_path_factory: pytest.TempPathFactory, fresh_databases: FreshDatabases, demo_template: str
) -> Iterator[str]:
    """The demo knowledge base in a database the API tests share (its folder: demo_database).
    A test that changes more than its own rows takes ``demo_copy`` instead."""
    with fresh_databases.copy_of(demo_template, tmp_path_factory.mktemp("api")) as url:
        yield url


@pytest.fixture
def demo_copy(
    demo_template: str, fresh_databases: FreshDatabases, tmp_path: Path
) -> Iterator[DatabaseCopy]:
    """A test's own copy of the demo database, which it may change (its index: none yet)."""
    with fresh_databases.copy_of(demo_template, tmp_path) as url:
        yield DatabaseCopy(url, tmp_path)


@pytest.fixture(scope="session")
def demo_database(demo_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the demo database's index (and of its SQLite file, on SQLite)."""
    path = sqlite_file(demo_database_url)
    return path.parent if path is not None else tmp_path_factory.mktemp("api-index")


@pytest.fixture
def settings(demo_database: Path, demo_database_url: str) -> Settings:
    return Settings(
        database_url=demo_database_url,
        index_dir=demo_database / "index",
        service_token=SERVICE_TOKEN,
        environment="test",
        # The tests share one database where an agent piles up claimed chats; the limit of
        # open chats has tests of its own (test_agents.py).
        agent_max_open_chats=100,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def service_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {SERVICE_TOKEN}"}


def console_headers(client: TestClient) -> dict[str, str]:
    """What a console sends with a state-changing request: its origin and the CSRF token that
    the login left in the client's cookie jar."""
    return {"Origin": CONSOLE_ORIGIN, "X-CSRF-Token": client.cookies.get("kefu_csrf", "")}
