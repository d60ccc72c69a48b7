"""Fixtures for knowledge-base tests: a real database migrated with Alembic (SQLite, or
PostgreSQL with KEFU_TEST_DATABASE=postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from db.engine import create_engine_for, session_factory
from kb.schemas import ArticleIn
from kb.store import ArticleStore
from tests.servers.databases import FreshDatabases


@pytest.fixture
def database_url(tmp_path: Path, fresh_databases: FreshDatabases) -> Iterator[str]:
    # A migrated SQLite file, or a PostgreSQL database with KEFU_TEST_DATABASE=postgres.
    with fresh_databases.fresh(tmp_path / "data") as url:
        yield url


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = create_engine_for(database_url)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def store(session: Session) -> ArticleStore:
    return ArticleStore(session)


def article(**changes: object) -> ArticleIn:
    fields: dict[str, object] = {
        "id": "returns-policy",
        "title": "Returns policy",
        "body": "Return items within 30 days.",
        "questions": ["How do I return an item?"],
        "category": "returns",
        "tags": ["returns"],
        "language": "en",
        "status": "published",
    }
    fields.update(changes)
    return ArticleIn.model_validate(fields)
