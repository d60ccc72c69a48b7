"""The PostgreSQL harness itself: a real server, its databases, and stopping and starting it."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.servers.postgres import PostgresServer


def _select_one(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT 1")).scalar_one())
    finally:
        engine.dispose()


def test_a_database_answers_with_the_role_and_password(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("harness_answers")
    try:
        assert _select_one(url) == 1
        wrong = url.replace(postgres_server.password, "wrong-password")
        with pytest.raises(OperationalError, match="password authentication failed"):
            _select_one(wrong)
    finally:
        postgres_server.drop_database("harness_answers")


def test_stopped_it_refuses_connections_and_started_again_it_answers(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database("harness_restart")
    try:
        postgres_server.stop()
        with pytest.raises(OperationalError):
            _select_one(url)
        postgres_server.start()
        assert _select_one(url) == 1
    finally:
        if not postgres_server.is_running():
            postgres_server.start()
        postgres_server.drop_database("harness_restart")
