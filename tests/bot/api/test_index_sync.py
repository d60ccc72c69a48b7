"""A running service follows the changes other processes make to articles: what ``kefu kb
import`` writes (on its own engine, as the command does) is answered within seconds, and an
article it archives is no longer offered, without a restart."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.settings import Settings
from db.engine import create_engine_for, session_factory
from kb.importer import import_path
from kb.store import ArticleStore
from tests.bot.api.conftest import SERVICE_TOKEN, DatabaseCopy

pytestmark = pytest.mark.slow
SEARCH = "/api/v1/internal/kb/search"
GIFT_WRAPPING = {
    "id": "gift-wrapping",
    "title": "Gift wrapping",
    "body": "We wrap any order in recycled gift paper for 5 yuan. Tick **Gift wrap** at checkout.",
    "questions": ["Do you offer gift wrapping?", "Can you wrap my order as a present?"],
    "category": "orders",
    "tags": ["gift"],
    "language": "en",
    "status": "published",
}
QUESTION = "can you wrap my order as a birthday present"


@pytest.fixture
def database(demo_copy: DatabaseCopy, demo_database: Path) -> DatabaseCopy:
    """A copy of the demo database (and of its index, if built) these tests may change."""
    if (demo_database / "index").exists():
        shutil.copytree(demo_database / "index", demo_copy.folder / "index")
    return demo_copy


def service(database: DatabaseCopy, **changes: object) -> TestClient:
    settings = Settings(
        database_url=database.url,
        index_dir=database.folder / "index",
        service_token=SERVICE_TOKEN,
        environment="test",
        **changes,
    )
    return TestClient(create_app(settings))


@pytest.fixture
def client(database: DatabaseCopy) -> Iterator[TestClient]:
    with service(database) as client:
        yield client


def kb_import(database: DatabaseCopy, tmp_path: Path, **changes: object) -> None:
    """What ``kefu kb import`` does to the database: its own engine and session."""
    source = tmp_path / "import.jsonl"
    source.write_text(json.dumps(GIFT_WRAPPING | changes) + "\n", encoding="utf-8")
    engine = create_engine_for(database.url)
    with session_factory(engine)() as session:
        report = import_path(source, ArticleStore(session))
    engine.dispose()
    assert not report.rejected


def answered_by(client: TestClient) -> list[str]:
    response = client.post(
        SEARCH, json={"text": QUESTION}, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    )
    assert response.status_code == 200
    return [hit["article_id"] for hit in response.json()["hits"]]


def eventually(check: Callable[[], bool], within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_an_article_imported_by_another_process_is_answered_then_archived_is_not(
    client: TestClient, database: DatabaseCopy, tmp_path: Path
) -> None:
    assert "gift-wrapping" not in answered_by(client)
    kb_import(database, tmp_path)
    assert eventually(lambda: answered_by(client)[:1] == ["gift-wrapping"])
    kb_import(database, tmp_path, status="archived")
    assert eventually(lambda: "gift-wrapping" not in answered_by(client))


def test_the_sync_follows_by_default_and_not_when_turned_off(
    client: TestClient, database: DatabaseCopy
) -> None:
    assert client.app.state.kefu.index_following is not None  # type: ignore[attr-defined]
    with service(database, index_sync_every_s=0) as turned_off:
        assert turned_off.app.state.kefu.index_following is None  # type: ignore[attr-defined]
