"""The conversation list's text search: conversations with a message containing the text.

The meaning is LIKE's, whatever the path: a substring of any message, case-insensitive for
Latin letters, ``%`` and ``_`` literal. On SQLite with ``messages_fts`` (migration 0008, FTS5
with the trigram tokenizer) a text of three characters or more is looked up in that index
first, and the few messages it finds are checked with the same LIKE. Then:

- rare text (fewer than ``FEW_MESSAGES`` messages hold it): the list reads only their
  conversations, so a search that matches nothing costs an index lookup, not a read of every
  message of the period;
- common text: the list walks the conversations newest first, checking each one's messages
  with LIKE, which finds a page of matches after a few conversations;
- shorter text, PostgreSQL, or an SQLite without the index: that walk, as before.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, column, func, select, table, text
from sqlalchemy.orm import Session

from bot.analytics.sql import dialect_of
from bot.conversations.models import Conversation, Message

FTS_TABLE = "messages_fts"  # created by migration 0008
TRIGRAM = 3  # the tokenizer indexes three-character sequences: shorter text cannot be looked up
FEW_MESSAGES = 1000  # a text in fewer messages than this is rare enough to look up first

_fts = table(FTS_TABLE, column("rowid"))


def has_message_index(session: Session) -> bool:
    if dialect_of(session) != "sqlite":
        return False
    found = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": FTS_TABLE},
    ).first()
    return found is not None


def _phrase(query: str) -> str:
    """The text as one FTS5 phrase: every character literal, a double quote doubled."""
    return '"' + query.replace('"', '""') + '"'


def _indexed(query: str) -> Select[tuple[int]]:
    """The ids of messages with the query's trigrams (a superset of LIKE's matches)."""
    match = text(f"{FTS_TABLE} MATCH :phrase").bindparams(phrase=_phrase(query))
    return select(_fts.c.rowid).where(match)


def _contains(query: str) -> ColumnElement[bool]:
    return Message.text.contains(query, autoescape=True)


def mentioning(session: Session, query: str) -> ColumnElement[bool]:
    """A condition on ``Conversation``: one of its messages contains ``query``."""
    if len(query) >= TRIGRAM and has_message_index(session):
        few = _indexed(query).limit(FEW_MESSAGES).subquery()
        if (session.scalar(select(func.count()).select_from(few)) or 0) < FEW_MESSAGES:
            return Conversation.id.in_(
                select(Message.conversation_id).where(
                    Message.id.in_(_indexed(query)), _contains(query)
                )
            )
    return (
        select(Message.id)
        .where(Message.conversation_id == Conversation.id, _contains(query))
        .correlate(Conversation)
        .exists()
    )
