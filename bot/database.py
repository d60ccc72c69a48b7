"""The service's schema: every model module registers its tables on one ``Base``, and
Alembic (``bot/migrations``) brings a database to the latest revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

# Imported for their side effect: each registers its tables on Base.metadata.
import kb.models  # noqa: F401
from db.base import Base
from db.engine import driver_url, ensure_reachable, sqlite_file

MIGRATIONS = Path(__file__).with_name("migrations")
metadata: MetaData = Base.metadata


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", driver_url(url).replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the schema to the latest migration, or to ``revision`` (creates a SQLite file if
    missing). A database that cannot be reached is ``db.engine.DatabaseUnavailable``, naming it
    (password masked): a migration that fails is another error."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    ensure_reachable(url)
    command.upgrade(_alembic(url), revision)


def downgrade_database(url: str, revision: str) -> None:
    """Take the schema back to ``revision`` (each migration's downgrade, newest first)."""
    command.downgrade(_alembic(url), revision)
