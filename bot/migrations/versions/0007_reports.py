"""The reports: a conversation's channel, and the indexes the KPI queries walk.

Adds ``conversations.channel`` (``widget`` for every existing conversation; issue 13 adds
``email``), an index on ``conversations.created_at`` (a report's range, the conversation list's
newest-first keyset) and one on ``messages (conversation_id, sender, created_at)``: a
conversation's customer messages are counted, and its last customer and bot messages found,
from the index alone (bot/analytics/kpis.py); it replaces ``ix_messages_conversation_id``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(16), nullable=False, server_default="widget")
        )
        batch.create_index("ix_conversations_created_at", ["created_at"])
    with op.batch_alter_table("messages") as batch:
        batch.create_index(
            "ix_messages_conversation_sender", ["conversation_id", "sender", "created_at"]
        )
        # Its first column: the new index serves every lookup by conversation, and SQLite's
        # planner (no ANALYZE statistics) would otherwise pick the narrower one and read rows.
        batch.drop_index("ix_messages_conversation_id")


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.create_index("ix_messages_conversation_id", ["conversation_id"])
        batch.drop_index("ix_messages_conversation_sender")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_created_at")
        batch.drop_column("channel")
