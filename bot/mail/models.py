"""The mail tables: what is to be sent (the outbox), what was received (the inbox), and where
the IMAP poll is in the mailbox (migration 0013)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow

MAIL_KINDS = ("confirmation", "agent_reply", "bot_answer", "transcript", "rating_request")
OUTBOX_STATES = ("queued", "sent", "failed", "cancelled")
INBOX_STATES = ("accepted", "ignored", "rejected")
MAX_ADDRESS = 254  # RFC 5321's limit on a path (contact/email.py)


class OutboundMail(Base):
    """One mail to send, stored in the transaction of what it carries, sent at most once.

    ``message_id_header`` is made when the row is queued, so every attempt (a retry, a restart)
    sends the same Message-ID; ``status`` goes queued → sent | failed | cancelled, and a sender
    claims a due row by moving its ``next_attempt_at`` before it sends (bot/mail/outbox.py).
    """

    __tablename__ = "mail_outbox"
    # The sender's question: which queued rows are due.
    __table_args__ = (Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))  # MAIL_KINDS
    to_address: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    message_id_header: Mapped[str] = mapped_column(String(255), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text, nullable=True)
    references_header: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The chat message this mail carries (an agent's reply): its delivery shows in the console.
    message_row_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class InboundMail(Base):
    """One mail read from the support mailbox, kept once per Message-ID whatever became of it:
    accepted into a conversation, ignored (an auto-reply, a bounce) or rejected (too big,
    malformed), with the reason."""

    __tablename__ = "mail_inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # RFC 5322 allows a line of 998 characters: a Message-ID is bounded by that, not less.
    message_id_header: Mapped[str] = mapped_column(String(998), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True
    )
    message_row_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    from_address: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    subject: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))  # INBOX_STATES
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # [{name, content_type, size}]: listed for the agent, never opened.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MailCursor(Base):
    """How far the IMAP poll has read a mailbox: a new UIDVALIDITY means the numbers restart."""

    __tablename__ = "mail_cursor"

    mailbox: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
