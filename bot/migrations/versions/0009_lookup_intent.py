"""The intent Rasa detected for the message a knowledge-base lookup answers.

Adds ``kb_lookups.intent`` and ``kb_lookups.intent_confidence``, both nullable: a lookup made
before this migration, or by a caller that does not know the intent, has none. The supervisor's
conversation detail shows them on the bot's trail (docs/reports.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_lookups") as batch:
        batch.add_column(sa.Column("intent", sa.String(64), nullable=True))
        batch.add_column(sa.Column("intent_confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kb_lookups") as batch:
        batch.drop_column("intent_confidence")
        batch.drop_column("intent")
