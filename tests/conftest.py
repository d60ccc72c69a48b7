"""Fixtures shared by every test package."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.redis import RedisServer, flush

REPO = Path(__file__).resolve().parent.parent
DEMO_KB = REPO / "kb" / "demo" / "articles.jsonl"
RETRIEVAL_DATA = REPO / "tests" / "data" / "retrieval"

# Action tests need rasa_sdk, which lives in the Rasa environment (.venv-rasa) only.
collect_ignore = [] if importlib.util.find_spec("rasa_sdk") else ["actions"]


@pytest.fixture(autouse=True)
def _offline_models(monkeypatch: pytest.MonkeyPatch) -> None:
    # Models come from installed packages; any hub access would hang on this network.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session (tests/servers/redis.py); a test may stop it."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, running and empty."""
    redis_server.start()  # again, if an earlier test stopped it
    flush(redis_server.url)
    return redis_server.url
