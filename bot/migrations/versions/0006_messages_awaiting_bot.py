"""Customer messages the bot still owes an answer.

Adds ``awaiting_bot`` (indexed) and ``bot_attempts`` to ``messages``. Existing messages are
taken as answered: only a message stored from now on is asked again after a crash.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("awaiting_bot", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("bot_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_index("ix_messages_awaiting_bot", ["awaiting_bot"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_awaiting_bot")
        batch.drop_column("bot_attempts")
        batch.drop_column("awaiting_bot")
