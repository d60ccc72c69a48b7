"""PostgreSQL's index for the conversation list's text search: trigrams of ``messages.text``.

SQLite has had one since 0008 (FTS5 with the trigram tokenizer). On PostgreSQL the same search
(a substring of any message, case-insensitive: ILIKE) is served by a GIN index of the
``pg_trgm`` extension, which ILIKE '%text%' uses directly for text of three characters or more
(bot/analytics/message_search.py). ``pg_trgm`` ships with PostgreSQL (Debian's
``postgresql-contrib``, part of ``postgresql``) and is a trusted extension: the database's owner
may create it. Where it is not installed, the index is left out and the search reads the
messages, slower but with the same results; the service says so in its log at start.

Nothing on SQLite.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-12
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEX = "ix_messages_text_trgm"
log = logging.getLogger(__name__)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).first()
    if available is None:
        log.warning("pg_trgm is not installed: the message search reads every message (slower)")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON messages USING gin (text gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
