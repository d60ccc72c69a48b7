"""Fixtures shared by every test package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO_KB = REPO / "kb" / "demo" / "articles.jsonl"
RETRIEVAL_DATA = REPO / "tests" / "data" / "retrieval"

# Action tests need rasa_sdk, which lives in the Rasa environment (.venv-rasa) only; that
# environment runs nothing else, and has neither the service's code nor the servers' clients.
IN_RASA_ENVIRONMENT = importlib.util.find_spec("rasa_sdk") is not None
collect_ignore = [] if IN_RASA_ENVIRONMENT else ["actions"]
if not IN_RASA_ENVIRONMENT:
    from tests.servers.fixtures import *  # noqa: F403  (the real servers' fixtures)


@pytest.fixture(autouse=True)
def _offline_models(monkeypatch: pytest.MonkeyPatch) -> None:
    # Models come from installed packages; any hub access would hang on this network.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only(reason): about SQLite itself (pragmas, FTS5, triggers); skipped when "
        "KEFU_TEST_DATABASE=postgres",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IN_RASA_ENVIRONMENT:
        return
    from tests.servers.databases import on_postgres

    if not on_postgres():
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "about SQLite itself"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))
