"""Alembic environment: runs migrations against the URL that kb.db passes in."""

from alembic import context
from sqlalchemy import engine_from_config, pool

# Imported for their side effect: every model module registers its tables on Base.metadata.
import bot.auth.models
import bot.conversations.models
import bot.handoff.models  # noqa: F401
from kb.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
