"""SQLAlchemy models of conversations and messages (same metadata as the knowledge base)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow

MAX_INTENT_CHARS = 64  # kb_lookups.intent (migration 0009)


class Conversation(Base):
    """One chat with one customer; ``handled_by`` says who answers (bot now, agent later)."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    handled_by: Mapped[str] = mapped_column(String(16), default="bot")
    # Where the customer writes from: widget or email.
    channel: Mapped[str] = mapped_column(String(16), default="widget", server_default="widget")
    # Where mail about this conversation goes: the address left in the offline form, or the
    # From of an email conversation (migration 0013).
    contact_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The reports' facts of the conversation, kept by triggers from its messages, lookups,
    # feedback, handoffs and rating (migration 0010 on SQLite, 0015 on PostgreSQL): never
    # written here (bot/analytics/kpis.py reads them).
    customer_messages: Mapped[int] = mapped_column(Integer, server_default="0")
    last_customer_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_customer_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_bot_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_lookup_band: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_lookup_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_feedback_helpful: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    last_feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_handoff_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rating_score: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Message(Base):
    """A message in or out, stored before it is answered or sent."""

    __tablename__ = "messages"
    # A resent client_message_id must not be stored (or answered) twice.
    __table_args__ = (
        UniqueConstraint("conversation_id", "client_message_id"),
        # The reports count a conversation's customer messages and find its last customer and
        # bot messages from this index alone (bot/analytics/kpis.py).
        Index("ix_messages_conversation_sender", "conversation_id", "sender", "created_at"),
        # A customer message's first bot reply, from the index alone (the reports' bot reply
        # time). Migration 0008 also gives SQLite a full-text table, messages_fts.
        Index(
            "ix_messages_reply_to",
            "reply_to",
            "sender",
            "created_at",
            sqlite_where=text("reply_to IS NOT NULL"),
            postgresql_where=text("reply_to IS NOT NULL"),
        ),
        # The reports' bot reply times of a conversation's messages, from the index alone.
        Index(
            "ix_messages_bot_reply",
            "conversation_id",
            "bot_reply_s",
            sqlite_where=text("bot_reply_s IS NOT NULL"),
            postgresql_where=text("bot_reply_s IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Indexed by ix_messages_conversation_sender below (conversation_id leads it).
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    sender: Mapped[str] = mapped_column(String(16))  # customer / bot / agent / system
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # buttons, articles
    client_message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reply_to: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # A customer message the bot owes an answer: set when it is stored while the bot has the
    # conversation, cleared when the bot's answer is stored. A crash or an unreachable Rasa
    # leaves it set, and the gateway asks again (ChatGateway.redeliver).
    awaiting_bot: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # How often Rasa took the message and said nothing (an action that failed): bounded retries.
    bot_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A customer message's seconds to the bot's first reply to it, kept by a trigger when the
    # reply is stored (migration 0010 on SQLite, 0015 on PostgreSQL).
    bot_reply_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class KbLookup(Base):
    """One knowledge-base lookup the bot made for a customer message, with what it found.

    The record the gap report and the handoff packet read: the question, the band and the
    ranked articles (id, version, score) as they were at that moment, with the intent Rasa
    detected for the message (none for a lookup made before migration 0009).
    """

    __tablename__ = "kb_lookups"
    # The reports count a period's lookups by band, and the articles they offered first, from
    # the index alone (migration 0010).
    __table_args__ = (Index("ix_kb_lookups_offered", "conversation_id", "band", "top_article_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), index=True, nullable=True
    )
    question: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    band: Mapped[str] = mapped_column(String(16))
    hits: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    intent: Mapped[str | None] = mapped_column(String(MAX_INTENT_CHARS), nullable=True)
    intent_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The article of the first hit, kept from ``hits`` by a trigger (migration 0010 on SQLite,
    # 0015 on PostgreSQL): never written here.
    top_article_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ArticleFeedback(Base):
    """ "Did this help?" answered by a customer, against the article version they were shown."""

    __tablename__ = "article_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    article_id: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    lookup_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("kb_lookups.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
