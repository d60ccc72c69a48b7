"""SQLAlchemy 2 models: the current article and every version it ever had, each in a topic
(the article and its translations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow


class _ArticleFields:
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(60), default="general")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    author: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # Its own id, or the topic of the article it translates (kb/topics.py).
    topic_id: Mapped[str] = mapped_column(String(80), index=True)


class Article(_ArticleFields, Base):
    """The latest version of an article; ``version`` counts every change."""

    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ArticleVersion(_ArticleFields, Base):
    """An immutable snapshot written on every change; restoring copies one forward."""

    __tablename__ = "article_versions"

    article_id: Mapped[str] = mapped_column(
        String(80), ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
