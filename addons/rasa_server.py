"""Rasa's own server, started with four changes that cost nothing in behaviour.

``python -m addons.rasa_server run …`` takes ``rasa run``'s arguments. Profiled under
``bench.chat`` load (``bench/profile.py``, docs/benchmarks.md#chat), a knowledge-base answer
spent much of Rasa's time in two places that its configuration cannot reach:

- **The action server's answer is checked against Rasa's JSON schema** with
  ``jsonschema.validate``, which checks the schema itself and builds a validator on every
  call. Here one validator is compiled once and checks every answer: the same schema, the same
  ``ValidationError`` with the same message.
- **The SQL tracker store on SQLite** opens a new connection for every read and write
  (SQLAlchemy 1.4 gives SQLite files a ``NullPool``) and commits in SQLite's rollback-journal
  mode with a full sync. Here its connections are pooled, in WAL mode (readers never wait for
  the writer: several Rasa processes share the file) with ``synchronous=NORMAL``, which syncs
  at checkpoints rather than at every commit: a crash of the process loses nothing, a power
  cut may lose the last turns, never the file. The service's own database does the same
  (db/engine.py). PostgreSQL tracker stores are left as Rasa makes them.

- **Every call to the action server opened a new HTTP session** (``EndpointConfig.request``
  builds an ``aiohttp.ClientSession``, hence a new connection, per call). Here an endpoint
  keeps one session per event loop, so the connection to the action server stays open
  between actions; aiohttp drops a pooled connection the peer closed (an action server that
  restarted) before reusing it.

The token for Rasa's HTTP API comes from ``KEFU_RASA_TOKEN`` and is taken out of the
environment: ``rasa run --auth-token <token>`` would show it to anyone running ``ps``. It goes
in as one argument ``--auth-token=<token>``, as a token may begin with "-" (URL-safe base64
does, one time in 64), which argparse would take for an option.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

TOKEN_VARIABLE = "KEFU_RASA_TOKEN"


def compiled_action_result_validation() -> None:
    """``RemoteAction._validate_action_result`` with a validator compiled once."""
    from jsonschema import ValidationError, validators
    from rasa.core.actions import action

    spec = action.RemoteAction.action_response_format_spec()
    validator = validators.validator_for(spec)(spec)
    original = action.RemoteAction._validate_action_result

    def validate(self: Any, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError:
            return bool(original(self, result))  # the same error, with Rasa's message
        return True

    action.RemoteAction._validate_action_result = validate


def fast_sqlite_tracker_store() -> None:
    """Pooled WAL connections with ``synchronous=NORMAL`` for Rasa's SQLite tracker store."""
    from rasa.core import tracker_store
    from sqlalchemy import event
    from sqlalchemy.engine import Engine, make_url
    from sqlalchemy.pool import QueuePool

    rasa_kwargs = tracker_store.create_engine_kwargs

    def create_engine_kwargs(url: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = rasa_kwargs(url)
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            # Sanic serves each message in one thread; the pool hands a connection to one
            # session at a time, so sharing it between threads is safe.
            kwargs |= {"poolclass": QueuePool, "connect_args": {"check_same_thread": False}}
        return kwargs

    tracker_store.create_engine_kwargs = create_engine_kwargs

    @event.listens_for(Engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        if type(connection).__module__.startswith("sqlite3"):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()


class _KeptSession:
    """``async with`` over a session that outlives the block (aiohttp would close it)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def kept_endpoint_sessions() -> None:
    """``EndpointConfig.session()`` gives each endpoint one session per event loop."""
    import asyncio

    from rasa.utils.endpoints import EndpointConfig

    new_session = EndpointConfig.session

    def session(self: Any) -> _KeptSession:
        loop = asyncio.get_running_loop()
        kept = self.__dict__.get("_kefu_session")
        if kept is None or kept[0] is not loop or kept[1].closed:
            kept = self.__dict__["_kefu_session"] = (loop, new_session(self))
        return _KeptSession(kept[1])

    EndpointConfig.session = session


def argv_with_token(argv: list[str], environ: MutableMapping[str, str]) -> list[str]:
    """Rasa's arguments, with the API token from the environment when it is set there."""
    token = environ.pop(TOKEN_VARIABLE, None)
    return [*argv, f"--auth-token={token}"] if token is not None else argv


def main() -> None:
    from rasa.__main__ import main as rasa_main

    compiled_action_result_validation()
    fast_sqlite_tracker_store()
    kept_endpoint_sessions()
    sys.argv = ["rasa", *argv_with_token(sys.argv[1:], os.environ)]
    rasa_main()


if __name__ == "__main__":
    main()
