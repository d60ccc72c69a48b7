"""The database plumbing: a unit of work commits or rolls back as a whole, runs in a worker
thread when asked, and SQLite files get WAL and foreign keys."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from db.engine import create_engine_for, in_worker_thread, session_factory, unit_of_work
from db.text import storable
from tests.servers.databases import FreshDatabases, on_postgres


class _Base(DeclarativeBase):  # its own metadata: the service's schema is left alone
    pass


class Note(_Base):
    __tablename__ = "test_db_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


@pytest.fixture
def sessions(tmp_path: Path, fresh_databases: FreshDatabases) -> Iterator[sessionmaker[Session]]:
    """An empty database of the run's engine with the notes table alone."""
    with fresh_databases.fresh(tmp_path, migrated=False) as url:
        engine = create_engine_for(url)
        Note.__table__.create(engine)
        yield session_factory(engine)
        engine.dispose()


def notes(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Note.text).order_by(Note.id)))


def test_a_unit_of_work_commits_when_it_ends(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as session:
        session.add(Note(text="kept"))
    assert notes(sessions) == ["kept"]


def test_a_unit_of_work_that_raises_writes_nothing(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), unit_of_work(sessions) as session:
        session.add(Note(text="lost"))
        session.flush()
        raise RuntimeError("half way")
    assert notes(sessions) == []


def test_work_runs_in_a_worker_thread_as_one_unit(sessions: sessionmaker[Session]) -> None:
    def work(session: Session, value: str) -> str:
        session.add(Note(text=value))
        return threading.current_thread().name

    caller = threading.current_thread().name
    ran_in = asyncio.run(in_worker_thread(sessions, work, "from a thread"))
    assert ran_in != caller
    assert notes(sessions) == ["from a thread"]


@pytest.mark.sqlite_only("SQLite's pragmas")
def test_sqlite_files_get_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'nested' / 'db.sqlite'}")  # made too
    with session_factory(engine)() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_postgres_connections_give_up_on_a_silent_database_within_seconds(
    tmp_path: Path, fresh_databases: FreshDatabases
) -> None:
    """Each pooled connection's socket carries TCP keepalives and a TCP user timeout (read
    back from the socket itself), so a partitioned database fails a request in tens of
    seconds; and no statement timeout, which would cut migrations and reports."""
    if not on_postgres():
        pytest.skip("PostgreSQL's connections: run with KEFU_TEST_DATABASE=postgres")
    with fresh_databases.fresh(tmp_path, migrated=False) as url:
        engine = create_engine_for(url)
        try:
            with engine.connect() as connection:
                pg = connection.connection.driver_connection
                assert connection.execute(text("SHOW statement_timeout")).scalar() == "0"
                with socket.fromfd(pg.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM) as tcp:
                    option = tcp.getsockopt
                    assert option(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                    assert option(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
                    assert option(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 5
                    assert option(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
                    assert option(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000
        finally:
            engine.dispose()


@pytest.mark.parametrize(
    ("value", "reason"),
    [("nul\x00", "NUL"), ("a\ud800b", "surrogate")],
)
def test_text_no_database_can_store_is_refused_with_a_reason(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        storable(value)
    assert storable("普通的文字 and text") == "普通的文字 and text"
