"""The database the tests run on: a SQLite file (the default) or the harness's PostgreSQL.

``KEFU_TEST_DATABASE=postgres`` switches every fixture that asks ``fresh_databases`` for a
database to PostgreSQL (tests/servers/postgres.py): one cluster per run, a migrated template
made once, and a copy of it per test (``CREATE DATABASE … TEMPLATE``: ~30 ms), dropped when the
test ends. ``copy_of`` copies any database the tests made (the demo knowledge base, say: a file
copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so a module that changes it has
its own. Tests about SQLite itself carry ``@pytest.mark.sqlite_only("why")`` and are skipped
on PostgreSQL with that reason.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from db.engine import sqlite_file
from tests.servers.postgres import PostgresServer

ENGINES = ("sqlite", "postgres")
TEMPLATE = "kefu_template"


def engine_under_test() -> str:
    """The engine this run's tests use: ``KEFU_TEST_DATABASE`` (sqlite by default)."""
    engine = os.environ.get("KEFU_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
    if engine not in ENGINES:
        raise pytest.UsageError(f"KEFU_TEST_DATABASE={engine!r}: use one of {', '.join(ENGINES)}")
    return engine


def on_postgres() -> bool:
    return engine_under_test() == "postgres"


class FreshDatabases:
    """Fresh databases for tests, on the engine of the run."""

    def __init__(self, server: PostgresServer | None) -> None:
        self.server = server
        self._names = itertools.count(1)
        self._template_ready = False

    @property
    def engine(self) -> str:
        return "sqlite" if self.server is None else "postgres"

    @contextmanager
    def fresh(self, folder: Path, *, migrated: bool = True, name: str = "kefu") -> Iterator[str]:
        """The URL of a new database (at the latest migration unless ``migrated=False``), for
        the block: a SQLite file ``<folder>/<name>.db``, or a PostgreSQL database dropped at
        the end."""
        if self.server is None:
            folder.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{folder / f'{name}.db'}"
            if migrated:
                from bot.database import upgrade_database

                upgrade_database(url)
            yield url
            return
        with self._database(self._template() if migrated else None) as url:
            yield url

    @contextmanager
    def copy_of(self, source: str, folder: Path, *, name: str = "kefu") -> Iterator[str]:
        """The URL of a new database holding what the database at ``source`` (one of these)
        holds, for the block: ``<folder>/<name>.db`` on SQLite, a PostgreSQL database dropped
        at the end. Nothing may be connected to ``source`` meanwhile (dispose its engines)."""
        if self.server is None:
            original = sqlite_file(source)
            assert original is not None, f"{source}: not a SQLite file"
            folder.mkdir(parents=True, exist_ok=True)
            copy = folder / f"{name}.db"
            shutil.copy(original, copy)
            yield f"sqlite:///{copy}"
            return
        with self._database(make_url(source).database) as url:
            yield url

    @contextmanager
    def _database(self, template: str | None) -> Iterator[str]:
        assert self.server is not None
        database = f"kefu_test_{os.getpid()}_{next(self._names)}"
        url = self.server.create_database(database, template)
        try:
            yield url
        finally:
            self.server.drop_database(database)

    def _template(self) -> str:
        """A database migrated to the latest revision once, the copy source of every test's."""
        assert self.server is not None
        if not self._template_ready:
            from bot.database import upgrade_database

            self.server.drop_database(TEMPLATE)
            upgrade_database(self.server.create_database(TEMPLATE))
            self._template_ready = True
        return TEMPLATE


@pytest.fixture(scope="session")
def fresh_databases(request: pytest.FixtureRequest) -> FreshDatabases:
    """Where the tests' databases come from; see the module's docstring."""
    if not on_postgres():
        return FreshDatabases(None)
    return FreshDatabases(request.getfixturevalue("postgres_server"))
