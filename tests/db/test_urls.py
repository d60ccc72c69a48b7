"""Database URLs: PostgreSQL's spellings reach psycopg 3, passwords never reach a message, and a
database that cannot be reached is a clear error naming it."""

from __future__ import annotations

import pytest

from bot.stack import free_port
from db.engine import DatabaseUnavailable, driver_url, ensure_reachable, masked_url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://kefu:pw@db/kefu", "postgresql+psycopg://kefu:pw@db/kefu"),
        ("postgres://kefu:pw@db:5433/kefu", "postgresql+psycopg://kefu:pw@db:5433/kefu"),
        ("postgresql+psycopg://kefu@db/kefu", "postgresql+psycopg://kefu@db/kefu"),
        ("sqlite:///var/kefu.db", "sqlite:///var/kefu.db"),
    ],
)
def test_postgresql_urls_use_psycopg_3(given: str, used: str) -> None:
    assert driver_url(given) == used


def test_a_masked_url_hides_the_password_and_keeps_the_rest() -> None:
    masked = masked_url("postgresql://kefu:s3cret-pw@db.internal:5433/shop")
    assert "s3cret-pw" not in masked
    assert masked == "postgresql+psycopg://kefu:***@db.internal:5433/shop"


def test_a_database_nobody_listens_on_is_a_clear_error_naming_it() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://kefu:s3cret-pw@127.0.0.1:{port}/kefu"
    with pytest.raises(DatabaseUnavailable) as raised:
        ensure_reachable(url)
    message = str(raised.value)
    assert f"postgresql+psycopg://kefu:***@127.0.0.1:{port}/kefu" in message
    assert "DATABASE_URL" in message
    assert "refused" in message.lower()
    assert "s3cret-pw" not in message
