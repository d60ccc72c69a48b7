"""Database engines, sessions and the unit of work; the URL always comes from the caller."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

P = ParamSpec("P")
T = TypeVar("T")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and for in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return None if parsed.database == ":memory:" else Path(parsed.database)


def create_engine_for(url: str) -> Engine:
    """An engine; SQLite files get WAL (readers never block the writer), foreign keys and
    ``synchronous=NORMAL``: in WAL mode a commit then waits for no disk sync (the WAL is synced
    at checkpoints), so a crash of the process loses nothing and a power cut may lose the last
    commits but never damages the file (https://www.sqlite.org/wal.html#performance)."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One session for one piece of work: committed when the block ends, rolled back if it
    raises. Work may commit earlier itself (to read a new row's id, say)."""
    with sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _work_in_session(
    sessions: sessionmaker[Session],
    work: Callable[Concatenate[Session, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    with unit_of_work(sessions) as session:
        return work(session, *args, **kwargs)


async def in_worker_thread(
    sessions: sessionmaker[Session],
    work: Callable[Concatenate[Session, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``work(session, *args)`` as one unit of work in a worker thread, so one slow write
    never stalls every socket of the event loop."""
    call = functools.partial(_work_in_session, sessions, work, *args, **kwargs)
    return await anyio.to_thread.run_sync(call)
