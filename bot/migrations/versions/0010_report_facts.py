"""The reports' facts of a conversation, kept on it as they happen (SQLite, by triggers).

A conversation's outcome (bot/analytics/kpis.py) asks about a dozen questions of its messages,
lookups, feedback, handoffs and rating; at 100k conversations that was most of a report's time.
These columns keep the answers on the conversation:

- ``customer_messages`` (how many), ``last_customer_message_id``, ``last_customer_message_at``
  and ``last_bot_message_id`` (messages);
- ``last_lookup_band`` and ``last_lookup_at`` (the lookup with the highest id);
- ``last_feedback_helpful`` and ``last_feedback_at`` (the feedback with the highest id);
- ``first_handoff_reason`` (the handoff with the lowest id; NULL: never handed off);
- ``rating_score``;

and ``messages.bot_reply_s`` on a customer message: seconds to the bot's first reply to it
(``reply_to``), with the partial index ``ix_messages_bot_reply`` (conversation, seconds) that a
report reads alone; and ``kb_lookups.top_article_id``, the article of a lookup's first hit,
with ``ix_kb_lookups_offered`` (conversation, band, top article): a report counts lookups by
band, and the articles they offered first, from the index alone (only the further hits a band
shows are read from the JSON).

On SQLite, triggers on each table they come from work a fact out again from its rows (indexed
lookups of one conversation) after every insert, delete, and update of a column it depends on,
so every writer keeps them right: the stores, imports, the tests' seeds, the benchmark's bulk
inserts. Working out again rather than adding on keeps them exact in any order (feedback before
its lookup, a rating changed, a handoff deleted). The rows stored so far are filled here. The
reports read the kept facts only when every trigger is there (``bot.analytics.kpis``).

On PostgreSQL the columns are added but not kept here: migration 0015 keeps them, with the same
``FACTS``, by PL/pgSQL triggers that lock the conversation first.

A later migration that rebuilds one of these tables (a batch operation copies it) drops its
triggers with it: it must create them again, or the reports fall back to working the facts out
(correct, but slow).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TRIGGER_PREFIX = "report_facts_"
EVENTS = ("insert", "delete", "update")

CONVERSATION_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("customer_messages", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_customer_message_id", sa.Integer(), nullable=True),
    sa.Column("last_customer_message_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_bot_message_id", sa.Integer(), nullable=True),
    sa.Column("last_lookup_band", sa.String(16), nullable=True),
    sa.Column("last_lookup_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_feedback_helpful", sa.Boolean(), nullable=True),
    sa.Column("last_feedback_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("first_handoff_reason", sa.String(32), nullable=True),
    sa.Column("rating_score", sa.Integer(), nullable=True),
]

# source table: (the columns its facts read, {conversation column: its value for {c}})
FACTS = {
    "messages": (
        "conversation_id, sender, created_at, reply_to",
        {
            "customer_messages": "SELECT count(*) FROM messages"
            " WHERE conversation_id = {c} AND sender = 'customer'",
            "last_customer_message_id": "SELECT max(id) FROM messages"
            " WHERE conversation_id = {c} AND sender = 'customer'",
            "last_customer_message_at": "SELECT max(created_at) FROM messages"
            " WHERE conversation_id = {c} AND sender = 'customer'",
            "last_bot_message_id": "SELECT max(id) FROM messages"
            " WHERE conversation_id = {c} AND sender = 'bot'",
        },
    ),
    "kb_lookups": (
        "conversation_id, band, created_at, hits",
        {
            "last_lookup_band": "SELECT band FROM kb_lookups"
            " WHERE conversation_id = {c} ORDER BY id DESC LIMIT 1",
            "last_lookup_at": "SELECT created_at FROM kb_lookups"
            " WHERE conversation_id = {c} ORDER BY id DESC LIMIT 1",
        },
    ),
    "article_feedback": (
        "conversation_id, helpful, created_at",
        {
            "last_feedback_helpful": "SELECT helpful FROM article_feedback"
            " WHERE conversation_id = {c} ORDER BY id DESC LIMIT 1",
            "last_feedback_at": "SELECT created_at FROM article_feedback"
            " WHERE conversation_id = {c} ORDER BY id DESC LIMIT 1",
        },
    ),
    "handoffs": (
        "conversation_id, reason",
        {
            "first_handoff_reason": "SELECT reason FROM handoffs"
            " WHERE conversation_id = {c} ORDER BY id LIMIT 1",
        },
    ),
    "conversation_ratings": (
        "conversation_id, score",
        {
            "rating_score": "SELECT score FROM conversation_ratings"
            " WHERE conversation_id = {c} ORDER BY id LIMIT 1",
        },
    ),
}

# A lookup's top article, set on the lookup itself.
TOP_ARTICLE = "top_article_id = json_extract(hits, '$[0].article_id')"

# A customer message's bot reply time, set on the message being updated: the expression the
# reports computed before (bot/analytics/sql.py seconds_between), so the values are the same.
BOT_REPLY = (
    "bot_reply_s = CASE WHEN sender = 'customer' THEN"
    " (SELECT (julianday(min(reply.created_at)) - julianday(messages.created_at)) * 86400.0"
    " FROM messages AS reply WHERE reply.reply_to = messages.id AND reply.sender = 'bot') END"
)


def _assignments(values: dict[str, str], conversation: str) -> str:
    return ", ".join(
        f"{column} = ({query.format(c=conversation)})" for column, query in values.items()
    )


def _facts_of(values: dict[str, str], conversation: str, condition: str = "") -> str:
    return (
        f"UPDATE conversations SET {_assignments(values, conversation)}"
        f" WHERE id = {conversation}{condition};"
    )


def _bot_reply_of(message: str, condition: str = "") -> str:
    return f"UPDATE messages SET {BOT_REPLY} WHERE id = {message}{condition};"


def trigger_statements() -> list[str]:
    """Three triggers per source table: after an insert, a delete, an update of what it reads."""
    statements = []
    for table, (columns, values) in FACTS.items():
        bodies = {
            "insert": [_facts_of(values, "new.conversation_id")],
            "delete": [_facts_of(values, "old.conversation_id")],
            "update": [
                _facts_of(values, "old.conversation_id"),
                _facts_of(
                    values,
                    "new.conversation_id",
                    " AND new.conversation_id IS NOT old.conversation_id",
                ),
            ],
        }
        if table == "kb_lookups":
            bodies["insert"].append(f"UPDATE kb_lookups SET {TOP_ARTICLE} WHERE id = new.id;")
            bodies["update"].append(f"UPDATE kb_lookups SET {TOP_ARTICLE} WHERE id = new.id;")
        if table == "messages":  # the message a bot reply answers, and the message itself
            bodies["insert"].append(_bot_reply_of("new.reply_to", " AND new.sender = 'bot'"))
            bodies["delete"].append(_bot_reply_of("old.reply_to"))
            bodies["update"] += [
                _bot_reply_of("old.reply_to"),
                _bot_reply_of("new.reply_to", " AND new.reply_to IS NOT old.reply_to"),
                _bot_reply_of("new.id"),
            ]
        for event, body in bodies.items():
            when = f"UPDATE OF {columns}" if event == "update" else event.upper()
            statements.append(
                f"CREATE TRIGGER {TRIGGER_PREFIX}{table}_{event} AFTER {when} ON {table}"
                f" BEGIN {' '.join(body)} END"
            )
    return statements


def backfill_statements() -> list[str]:
    """The facts of the rows stored so far: every conversation's, every answered message's,
    every lookup's."""
    conversations = [
        f"UPDATE conversations SET {_assignments(values, 'conversations.id')}"
        for _, values in FACTS.values()
    ]
    replies = (
        f"UPDATE messages SET {BOT_REPLY} WHERE sender = 'customer' AND id IN"
        " (SELECT reply_to FROM messages WHERE reply_to IS NOT NULL AND sender = 'bot')"
    )
    return [*conversations, replies, f"UPDATE kb_lookups SET {TOP_ARTICLE}"]


def upgrade() -> None:
    for column in CONVERSATION_COLUMNS:
        op.add_column("conversations", column)
    op.add_column("messages", sa.Column("bot_reply_s", sa.Float(), nullable=True))
    op.add_column("kb_lookups", sa.Column("top_article_id", sa.String(128), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        for statement in backfill_statements() + trigger_statements():
            op.execute(statement)
    op.create_index(
        "ix_messages_bot_reply",
        "messages",
        ["conversation_id", "bot_reply_s"],
        sqlite_where=sa.text("bot_reply_s IS NOT NULL"),
        postgresql_where=sa.text("bot_reply_s IS NOT NULL"),
    )
    op.create_index(
        "ix_kb_lookups_offered", "kb_lookups", ["conversation_id", "band", "top_article_id"]
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in FACTS:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}{table}_{event}")
    op.drop_index("ix_kb_lookups_offered", table_name="kb_lookups")
    op.drop_index("ix_messages_bot_reply", table_name="messages")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a batch copy, which would drop the
    # messages' full-text triggers (migration 0008).
    op.drop_column("messages", "bot_reply_s")
    op.drop_column("kb_lookups", "top_article_id")
    for column in reversed(CONVERSATION_COLUMNS):
        op.drop_column("conversations", column.name)
