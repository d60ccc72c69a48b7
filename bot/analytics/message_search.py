"""The conversation list's text search: conversations with a message containing the text.

The meaning is LIKE's, whatever the path: a substring of any message, case-insensitive for
Latin letters, ``%`` and ``_`` literal. (SQLite's LIKE folds the case of A–Z only; PostgreSQL's
ILIKE, used there, folds every cased letter, so "ÉTÉ" finds "été" on PostgreSQL alone.) On
SQLite with ``messages_fts`` (migration 0008, FTS5 with the trigram tokenizer), and on
PostgreSQL with ``ix_messages_text_trgm`` (migration 0014, a ``pg_trgm`` GIN index that ILIKE
uses itself), a text of three characters or more is looked up in that index first, and the few
messages it finds are checked with the same LIKE. Then:

- rare text (fewer than ``FEW_MESSAGES`` messages hold it): the list reads only their
  conversations, so a search that matches nothing costs an index lookup, not a read of every
  message of the period;
- common text: the list walks the conversations newest first, checking each one's messages
  with LIKE, which finds a page of matches after a few conversations;
- shorter text, or a database without the index: that walk, as before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, select, table, text
from sqlalchemy.orm import Session

from bot.analytics.sql import dialect_of
from bot.conversations.models import Conversation, Message

FTS_TABLE = "messages_fts"  # created by migration 0008 (SQLite)
TRIGRAM_INDEX = "ix_messages_text_trgm"  # created by migration 0014 (PostgreSQL)
TRIGRAM = 3  # the tokenizer indexes three-character sequences: shorter text cannot be looked up
FEW_MESSAGES = 1000  # a text in fewer messages than this is rare enough to look up first

_fts = table(FTS_TABLE, column("rowid"))


def has_message_index(session: Session) -> bool:
    if dialect_of(session) == "postgresql":
        found = session.execute(
            text("SELECT 1 FROM pg_indexes WHERE tablename = 'messages' AND indexname = :name"),
            {"name": TRIGRAM_INDEX},
        ).first()
    else:
        found = session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
            {"name": FTS_TABLE},
        ).first()
    return found is not None


def _phrase(query: str) -> str:
    """The text as one FTS5 phrase: every character literal, a double quote doubled."""
    return '"' + query.replace('"', '""') + '"'


def _indexed(dialect: str, query: str) -> Select[Any]:
    """The ids of messages with the query's trigrams (a superset of LIKE's matches; on
    PostgreSQL the matches themselves: ILIKE reads the trigram index)."""
    if dialect == "postgresql":
        return select(Message.id).where(_contains(dialect, query))
    match = text(f"{FTS_TABLE} MATCH :phrase").bindparams(phrase=_phrase(query))
    return select(_fts.c.rowid).where(match)


def _contains(dialect: str, query: str) -> ColumnElement[bool]:
    if dialect == "postgresql":  # PostgreSQL's LIKE minds the case: ILIKE is SQLite's LIKE
        return Message.text.icontains(query, autoescape=True)
    return Message.text.contains(query, autoescape=True)


def mentioning(session: Session, query: str) -> ColumnElement[bool]:
    """A condition on ``Conversation``: one of its messages contains ``query``."""
    dialect = dialect_of(session)
    if len(query) >= TRIGRAM and has_message_index(session):
        few = _indexed(dialect, query).limit(FEW_MESSAGES).subquery()
        if (session.scalar(select(func.count()).select_from(few)) or 0) < FEW_MESSAGES:
            return Conversation.id.in_(
                select(Message.conversation_id).where(
                    Message.id.in_(_indexed(dialect, query)), _contains(dialect, query)
                )
            )
    return (
        select(Message.id)
        .where(Message.conversation_id == Conversation.id, _contains(dialect, query))
        .correlate(Conversation)
        .exists()
    )
