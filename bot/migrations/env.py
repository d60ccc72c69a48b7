"""Alembic environment: runs migrations against the URL that bot.database passes in."""

from alembic import context
from sqlalchemy import engine_from_config, pool, text

from bot.database import metadata

config = context.config
target_metadata = metadata

# Several service workers start at once and each brings the schema up to date: on PostgreSQL
# they take turns under this advisory lock (per database), and the later ones find it current.
MIGRATION_LOCK = 0x6B656675  # "kefu"


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
        if connection.dialect.name == "postgresql":
            # A session lock: released when this connection closes (NullPool), even after a
            # failed migration. Committed, so Alembic begins (and commits) its own transaction;
            # it reads the current revision inside it, after the lock is ours.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
