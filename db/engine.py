"""Database engines, sessions and the unit of work; the URL always comes from the caller."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
from sqlalchemy import Engine, create_engine, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

P = ParamSpec("P")
T = TypeVar("T")


# PostgreSQL's URLs as people write them, and the driver Kefu speaks them with: psycopg 3
# (pyproject's postgres extra). SQLAlchemy alone would pick psycopg2, which Kefu does not install.
POSTGRES_SCHEMES = ("postgresql", "postgres")
POSTGRES_DRIVER = "postgresql+psycopg"
# How long a new PostgreSQL connection may take: a database that is down is an error in
# seconds, not a request hanging for the operating system's TCP timeout.
CONNECT_TIMEOUT_S = 5
# And a connection already open whose database goes silent (a partition, a dead host: nothing
# refuses): libpq's TCP keepalives notice an idle one after KEEPALIVE_IDLE_S plus COUNT probes
# INTERVAL_S apart (~25 s), and TCP_USER_TIMEOUT_MS bounds data sent and never acknowledged, so
# a request fails in tens of seconds (a 503) rather than the kernel's ~15 minutes. A long query
# on a live server is not cut: its kernel acknowledges the probes. No statement_timeout here:
# migrations and reports may rightly run long.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
TCP_USER_TIMEOUT_MS = 30_000


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; the message names it (password masked) and why."""


# What a database that is down (or restarting, or too busy) raises through SQLAlchemy: no
# connection, a connection lost, no free connection in the pool. Worth trying again later.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)
RETRY_AFTER_S = 5  # what a client is told to wait before trying again


def driver_url(url: str) -> str:
    """The URL with the driver Kefu uses: ``postgresql://`` and ``postgres://`` become
    ``postgresql+psycopg://``; other URLs are returned as given."""
    scheme, separator, rest = url.partition("://")
    if separator and scheme in POSTGRES_SCHEMES:
        return f"{POSTGRES_DRIVER}://{rest}"
    return url


def masked_url(url: str) -> str:
    """The URL to show in a log or an error: the password replaced by ``***``."""
    try:
        return make_url(driver_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<not a database URL>"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and for in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return None if parsed.database == ":memory:" else Path(parsed.database)


def create_engine_for(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, pool_timeout_s: float = 10
) -> Engine:
    """An engine. PostgreSQL (psycopg 3) gets a pool of ``pool_size`` connections, up to
    ``max_overflow`` more under load, a wait of at most ``pool_timeout_s`` for a free one, and a
    check of each connection before use (``pool_pre_ping``), so after the database restarts the
    first request gets a new connection rather than an error.

    SQLite files get WAL (readers never block the writer), foreign keys and
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
    if make_url(url).get_backend_name() == "sqlite":  # in memory: one connection, no pool
        return create_engine(url)
    return create_engine(
        driver_url(url),
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_s,
        connect_args=_connect_args(url),
    )


def ensure_reachable(url: str) -> None:
    """Connect once; ``DatabaseUnavailable`` naming the database (password masked) and the
    driver's reason if that fails. The service checks this before anything else at start."""
    engine = create_engine(driver_url(url), poolclass=NullPool, connect_args=_connect_args(url))
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        reason = str(error.orig).strip() or type(error.orig).__name__
        raise DatabaseUnavailable(
            f"cannot reach the database {masked_url(url)} (DATABASE_URL): {reason}"
        ) from error
    finally:
        engine.dispose()


def _connect_args(url: str) -> dict[str, Any]:
    if make_url(driver_url(url)).get_backend_name() == "postgresql":
        return {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "keepalives": 1,
            "keepalives_idle": KEEPALIVE_IDLE_S,
            "keepalives_interval": KEEPALIVE_INTERVAL_S,
            "keepalives_count": KEEPALIVE_COUNT,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        }
    return {}


def lock_rows(session: Session, column: Any, values: Sequence[Any]) -> None:
    """Lock the rows whose ``column`` is one of ``values`` for the rest of the transaction,
    before it reads what it decides on: another transaction that locks them waits until this
    one ends, then reads what it wrote. Lock rows of one table in one order (ids sorted here)
    and tables in one order, so two transactions never wait for each other.

    PostgreSQL: ``SELECT … FOR UPDATE`` (row locks; each statement after it reads the newest
    committed rows). SQLite, one writer at a time: a write that changes nothing takes the
    database's write lock now, so the transaction's reads are never older than the last
    commit (a read transaction that writes later fails when another wrote in between)."""
    ordered = sorted(set(values))
    if not ordered:
        return
    if session.get_bind().dialect.name == "sqlite":
        same = update(column.table).where(column.in_(ordered)).values({column: column})
        session.execute(same, execution_options={"synchronize_session": False})
        return
    session.execute(select(column).where(column.in_(ordered)).order_by(column).with_for_update())


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
