"""The reports' speed: a full-text index of messages (SQLite) and an index of bot replies.

On SQLite 3.34 or later, ``messages_fts``: an FTS5 table over ``messages.text`` with the
``trigram`` tokenizer (every three-character sequence, case folded, so it finds substrings in
Chinese as in English), external content (the text is stored once, in ``messages``) kept by
three triggers, filled from the existing messages. The conversation list's text search asks it
first (bot/analytics/message_search.py); without it (PostgreSQL, an older SQLite) the search
reads the messages with LIKE, as before.

On every database, ``ix_messages_reply_to``: replies by the message they answer
(``reply_to``, ``sender``, ``created_at``; replies only), so a report finds a customer
message's first bot reply from the index alone (bot/analytics/kpis.py, the bot reply time).

A later migration that rebuilds ``messages`` (a batch operation that copies the table) drops
the triggers with it: it must create them again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TRIGRAM_SINCE = (3, 34, 0)  # the first SQLite with FTS5's trigram tokenizer

FTS = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "text, content='messages', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN"
    " INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",  # the messages stored so far
]


def _sqlite_with_trigram() -> bool:
    return op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info >= TRIGRAM_SINCE


def upgrade() -> None:
    op.create_index(
        "ix_messages_reply_to",
        "messages",
        ["reply_to", "sender", "created_at"],
        sqlite_where=sa.text("reply_to IS NOT NULL"),
        postgresql_where=sa.text("reply_to IS NOT NULL"),
    )
    if _sqlite_with_trigram():
        for statement in FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS messages_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
    op.drop_index("ix_messages_reply_to", table_name="messages")
