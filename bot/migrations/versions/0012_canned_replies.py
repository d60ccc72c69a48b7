"""Canned replies: an agent's personal ones and the team's shared ones.

Adds ``canned_replies`` (owner_id null for a shared reply; shortcut, language, title, body with
placeholders), unique per owner, shortcut and language, and per shortcut and language among
the shared ones (docs/handoff.md#canned-replies).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "owner_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("shortcut", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner_id", "shortcut", "language", name="uq_canned_replies_owner"),
    )
    op.create_index("ix_canned_replies_owner_id", "canned_replies", ["owner_id"])
    op.create_index(
        "uq_canned_replies_shared",
        "canned_replies",
        ["shortcut", "language"],
        unique=True,
        sqlite_where=sa.text("owner_id IS NULL"),
        postgresql_where=sa.text("owner_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_canned_replies_shared", table_name="canned_replies")
    op.drop_index("ix_canned_replies_owner_id", table_name="canned_replies")
    op.drop_table("canned_replies")
