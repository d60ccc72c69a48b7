"""The engines a stack at scale stands on, PostgreSQL and Redis: checked before anything starts,
and Rasa's share of them (its tracker database, its lock store) derived from the service's
``DATABASE_URL`` and ``REDIS_URL`` (docs/scaling.md#rasa).

Every address shown to a person is masked (``db.engine.masked_url`` for a database,
``bot.shared.redis.masked_redis_url`` for Redis): the password never reaches a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import URL, make_url

from bot.shared.redis import masked_redis_url
from db.engine import driver_url, ensure_reachable, masked_url

CHECK_TIMEOUT_S = 3
# Rasa's lock keys in the service's Redis database: "kefurasa:lock:<conversation>" (Rasa takes
# letters and digits only for a prefix).
RASA_LOCK_PREFIX = "kefurasa"
RASA_DATABASE_SUFFIX = "_rasa"
# How long a Rasa's lock on a conversation outlives a Rasa killed while holding it (Rasa's
# TICKET_LOCK_LIFETIME; its default is 60 s). Shorter than the gateway's 10 s wait for Rasa, so
# the Rasa that takes over answers in time; long enough for any one message, and the gateway's
# own conversation lock (bot/conversations/locks.py) already keeps a conversation to one
# request at a time.
RASA_LOCK_LIFETIME_S = 5


class EngineUnavailableError(RuntimeError):
    """PostgreSQL or Redis does not answer at the configured address (named, password masked)."""


def is_postgres(database_url: str | None) -> bool:
    if not database_url:
        return False
    return make_url(driver_url(database_url)).get_backend_name() == "postgresql"


def rasa_tracker_url(database_url: str) -> URL:
    """Rasa's tracker database beside the service's: the same server and login, the database
    named ``<service's>_rasa`` (its own ``events`` table, its own migrations: Rasa's), through
    psycopg2, the driver Rasa's SQLAlchemy 1.4 has."""
    service = make_url(driver_url(database_url))
    return service.set(
        drivername="postgresql", database=f"{service.database}{RASA_DATABASE_SUFFIX}"
    )


def check_database(database_url: str) -> None:
    """Connect once to a PostgreSQL ``database_url`` (a SQLite file needs no check); the
    error (``db.engine.DatabaseUnavailable``) names it, password masked."""
    if is_postgres(database_url):
        ensure_reachable(database_url)


def ensure_rasa_database(database_url: str) -> None:
    """Create Rasa's tracker database next to the service's when it is missing (the login
    needs CREATEDB; otherwise create it once by hand, as docs/scaling.md says)."""
    import psycopg
    from psycopg import sql

    tracker = rasa_tracker_url(database_url)
    try:
        with psycopg.connect(
            _libpq(make_url(driver_url(database_url))),
            connect_timeout=CHECK_TIMEOUT_S,
            autocommit=True,
        ) as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (tracker.database,)
            ).fetchone()
            if found is None:
                connection.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(tracker.database)))
                )
    except psycopg.errors.DuplicateDatabase:
        pass  # another stack created it meanwhile
    except psycopg.Error as error:
        raise EngineUnavailableError(
            f"Rasa's tracker database {tracker.database!r} on {masked_url(database_url)} is "
            f"missing and cannot be created: {_first_line(error)}"
        ) from error


def check_redis(redis_url: str) -> None:
    """PING the Redis at ``redis_url``."""
    import redis

    try:
        client = redis.Redis.from_url(
            redis_url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError) as error:
        raise EngineUnavailableError(
            f"Redis at {masked_redis_url(redis_url)} is unavailable: {_first_line(error)}"
        ) from error


@dataclass(frozen=True)
class RedisAddress:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    ssl: bool


def redis_address(redis_url: str) -> RedisAddress:
    """``redis://[user:password@]host[:port][/db]`` (``rediss://`` with TLS) in parts, as
    Rasa's lock store takes them."""
    parts = urlsplit(redis_url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"{masked_redis_url(redis_url)}: not a redis:// or rediss:// address")
    path = parts.path.strip("/")
    return RedisAddress(
        host=parts.hostname,
        port=parts.port or 6379,
        db=int(path) if path else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=parts.scheme == "rediss",
    )


def rasa_lock_store(redis_url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """endpoints.yml's ``lock_store`` for Rasa's RedisLockStore on ``redis_url``, and the
    environment Rasa needs for it: the password is a ``${KEFU_RASA_REDIS_PASSWORD}`` that Rasa
    expands at start, never written to disk."""
    address = redis_address(redis_url)
    lock_store: dict[str, Any] = {
        "type": "redis",
        "url": address.host,
        "port": address.port,
        "db": address.db,
        "key_prefix": RASA_LOCK_PREFIX,
        "use_ssl": address.ssl,
    }
    env = {"TICKET_LOCK_LIFETIME": str(RASA_LOCK_LIFETIME_S)}
    if address.username:
        lock_store["username"] = address.username
    if address.password:
        lock_store["password"] = "${KEFU_RASA_REDIS_PASSWORD}"
        env["KEFU_RASA_REDIS_PASSWORD"] = address.password
    return lock_store, env


def rasa_tracker_store(database_url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """endpoints.yml's ``tracker_store`` on Rasa's PostgreSQL database, and Rasa's environment:
    the whole address (with its password) is ``${KEFU_RASA_TRACKER_URL}``, never on disk."""
    tracker = rasa_tracker_url(database_url)
    store = {"type": "SQL", "dialect": "postgresql", "url": "${KEFU_RASA_TRACKER_URL}"}
    return store, {"KEFU_RASA_TRACKER_URL": tracker.render_as_string(hide_password=False)}


def _libpq(url: URL) -> str:
    """A libpq connection string from a SQLAlchemy URL (any driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
