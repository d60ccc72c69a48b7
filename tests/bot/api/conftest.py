"""An app over a real SQLite file holding the demo knowledge base, and the real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.database import upgrade_database
from bot.settings import Settings
from db.engine import create_engine_for, session_factory
from kb.importer import import_path
from kb.store import ArticleStore
from tests.conftest import DEMO_KB

SERVICE_TOKEN = "test-service-token"
CONSOLE_ORIGIN = "http://testserver"  # the TestClient's own origin, where the consoles are served


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("api")
    url = f"sqlite:///{folder / 'kefu.db'}"
    upgrade_database(url)
    engine = create_engine_for(url)
    with session_factory(engine)() as session:
        import_path(DEMO_KB, ArticleStore(session))
    engine.dispose()
    return folder


@pytest.fixture
def settings(demo_database: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{demo_database / 'kefu.db'}",
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
