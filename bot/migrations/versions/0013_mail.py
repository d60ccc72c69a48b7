"""Email both ways: the outbox, the inbox, the IMAP cursor, and a conversation's address.

Adds ``conversations.contact_email`` (where mail about the conversation goes), ``mail_outbox``
(mails to send, each with its Message-ID made when queued, so it is sent at most once),
``mail_inbox`` (mails read, once per Message-ID) and ``mail_cursor`` (the IMAP poll's place in
a mailbox). docs/email.md.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (SQLite adds a column in place): a batch copy would lose the triggers
    # that keep the conversations' report facts (migration 0010).
    op.add_column("conversations", sa.Column("contact_email", sa.String(254), nullable=True))
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id",
            sa.String(36),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("to_address", sa.String(254), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("message_id_header", sa.String(255), nullable=False, unique=True),
        sa.Column("in_reply_to", sa.Text, nullable=True),
        sa.Column("references_header", sa.Text, nullable=True),
        sa.Column(
            "message_row_id",
            sa.Integer,
            sa.ForeignKey("messages.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_mail_outbox_conversation_id", "mail_outbox", ["conversation_id"])
    op.create_index("ix_mail_outbox_due", "mail_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "mail_inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id_header", sa.String(998), nullable=False, unique=True),
        sa.Column(
            "conversation_id",
            sa.String(36),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "message_row_id",
            sa.Integer,
            sa.ForeignKey("messages.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("from_address", sa.String(254), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("attachments", sa.JSON, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "mail_cursor",
        sa.Column("mailbox", sa.String(255), primary_key=True),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("last_uid", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mail_cursor")
    op.drop_table("mail_inbox")
    op.drop_index("ix_mail_outbox_due", table_name="mail_outbox")
    op.drop_index("ix_mail_outbox_conversation_id", table_name="mail_outbox")
    op.drop_table("mail_outbox")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), as 0010's downgrade.
    op.drop_column("conversations", "contact_email")
