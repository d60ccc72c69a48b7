"""PostgreSQL's index for the conversation list's text search: trigrams of ``messages.text``.

SQLite has had one since 0008 (FTS5 with the trigram tokenizer). On PostgreSQL the same search
(a substring of any message, case-insensitive: ILIKE) is served by a GIN index of the
``pg_trgm`` extension, which ILIKE '%text%' uses directly for text of three characters or more
(bot/analytics/message_search.py). ``pg_trgm`` ships with PostgreSQL (Debian's
``postgresql-contrib``, part of ``postgresql``) and is a trusted extension: a login with the
CREATE privilege on the database (its owner, say) may create it. Where it is not installed, or
the login may not create it (a least-privilege login that owns its tables only), the index is
left out with a warning in the log (the service runs the migrations at start) and the search
reads the messages, slower but with the same results (docs/scaling.md#creating-the-database).
An extension created beforehand by a superuser is used: the index needs no privilege beyond the
table's.

Nothing on SQLite.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-12
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEX = "ix_messages_text_trgm"
log = logging.getLogger(__name__)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    created = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
    if created is None and not _create_extension(bind):
        return
    op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON messages USING gin (text gin_trgm_ops)")


def _create_extension(bind: sa.Connection) -> bool:
    """Whether pg_trgm could be created; if not, says why and what to do, and the migration goes
    on without the index (a refused CREATE EXTENSION must not stop the service starting)."""
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).first()
    if available is None:
        log.warning("pg_trgm is not installed: the message search reads every message (slower)")
        return False
    try:
        # A savepoint: the refused statement must not abort the migrations' transaction.
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.ProgrammingError as error:  # InsufficientPrivilege: no CREATE on the database
        reason = str(getattr(error, "orig", error)).splitlines()[0]
        log.warning(
            "pg_trgm could not be created (%s): the message search index %s is left out and "
            "the search reads every message (slower, same results). To have the index, a "
            "superuser runs CREATE EXTENSION pg_trgm in this database, then: CREATE INDEX %s "
            "ON messages USING gin (text gin_trgm_ops)",
            reason,
            INDEX,
            INDEX,
        )
        return False
    return True


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
