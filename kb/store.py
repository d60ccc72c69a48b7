"""Reading and writing articles; every change is a new version, old versions stay.

Each article is in a topic with its translations (``kb.topics``): linking, unlinking or a
change of language is checked against the topic's other articles before anything is written,
and a change of topic is a new version too.

The store flushes but never commits: the caller owns the transaction (the importer commits
per article, so one bad article never leaves another half written).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from kb.errors import ArticleExistsError, ArticleNotFoundError, StaleVersionError
from kb.models import Article, ArticleVersion
from kb.schemas import ArticleIn, ArticleSnapshot, ArticleStatus, Language
from kb.topics import Link, TopicMember, TranslationLink, place

_CONTENT_FIELDS = ("title", "body", "questions", "category", "tags", "language", "status")


class UpsertResult(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class UpsertOutcome:
    result: UpsertResult
    article: ArticleSnapshot


def _snapshot(row: Article | ArticleVersion) -> ArticleSnapshot:
    article_id = row.id if isinstance(row, Article) else row.article_id
    updated = row.updated_at if isinstance(row, Article) else row.created_at
    return ArticleSnapshot(
        id=article_id,
        topic_id=row.topic_id,
        version=row.version,
        title=row.title,
        body=row.body,
        questions=list(row.questions or []),
        category=row.category,
        tags=list(row.tags or []),
        language=row.language,
        status=row.status,
        author=row.author,
        created_at=row.created_at,
        updated_at=updated,
    )


def _member(row: Article) -> TopicMember:
    return TopicMember(row.id, row.language, row.topic_id)


class _StoredTopics:
    """The topics as the database has them (``kb.topics.TopicView``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def member(self, article_id: str) -> TopicMember | None:
        row = self.session.get(Article, article_id)
        return _member(row) if row is not None else None

    def members(self, topic_id: str) -> Iterable[TopicMember]:
        return [
            _member(row)
            for row in self.session.scalars(select(Article).where(Article.topic_id == topic_id))
        ]


class ArticleStore:
    """Articles in one database session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _place(self, article_id: str, language: str, link: TranslationLink) -> str:
        return place(article_id, language, link, _StoredTopics(self.session))

    def _row(self, article_id: str) -> Article:
        row = self.session.get(Article, article_id)
        if row is None:
            raise ArticleNotFoundError(article_id)
        return row

    def _write_version(self, row: Article) -> None:
        self.session.add(
            ArticleVersion(
                article_id=row.id,
                version=row.version,
                created_at=row.updated_at,
                **{name: getattr(row, name) for name in (*_CONTENT_FIELDS, "author", "topic_id")},
            )
        )
        self.session.flush()

    def _apply(
        self, row: Article, content: dict[str, object], topic_id: str, author: str | None
    ) -> bool:
        if row.topic_id == topic_id and all(
            getattr(row, name) == content[name] for name in _CONTENT_FIELDS
        ):
            return False
        for name in _CONTENT_FIELDS:
            setattr(row, name, content[name])
        row.topic_id = topic_id
        row.version += 1
        row.author = author
        row.updated_at = utcnow()
        self._write_version(row)
        return True

    def _content(self, row: Article) -> dict[str, object]:
        return {name: getattr(row, name) for name in _CONTENT_FIELDS}

    def upsert(self, data: ArticleIn, author: str | None = None) -> UpsertOutcome:
        """Create the article, or write a new version if any field or its topic changed.

        Raises ``TranslationError`` for a link that cannot be made, before any write."""
        content = data.model_dump(mode="json", include=set(_CONTENT_FIELDS))
        topic_id = self._place(data.id, str(content["language"]), data.link())
        row = self.session.get(Article, data.id)
        if row is None:
            now = utcnow()
            row = Article(
                id=data.id,
                topic_id=topic_id,
                version=1,
                author=author,
                created_at=now,
                updated_at=now,
                **content,
            )
            self.session.add(row)
            self.session.flush()
            self._write_version(row)
            return UpsertOutcome(UpsertResult.CREATED, _snapshot(row))
        changed = self._apply(row, content, topic_id, author)
        return UpsertOutcome(
            UpsertResult.UPDATED if changed else UpsertResult.UNCHANGED, _snapshot(row)
        )

    def get(self, article_id: str) -> ArticleSnapshot | None:
        row = self.session.get(Article, article_id)
        return _snapshot(row) if row is not None else None

    def get_many(self, article_ids: Sequence[str]) -> dict[str, ArticleSnapshot]:
        """The articles of these ids that exist, by id, read in one query."""
        if not article_ids:
            return {}
        rows = self.session.scalars(select(Article).where(Article.id.in_(set(article_ids))))
        return {row.id: _snapshot(row) for row in rows}

    def published_among(self, article_ids: Sequence[str]) -> dict[str, ArticleSnapshot]:
        """The published articles among these ids, by id, read in one query."""
        if not article_ids:
            return {}
        rows = self.session.scalars(
            select(Article).where(
                Article.id.in_(set(article_ids)), Article.status == ArticleStatus.PUBLISHED.value
            )
        )
        return {row.id: _snapshot(row) for row in rows}

    def title_of(self, article_id: str) -> str | None:
        row = self.session.get(Article, article_id)
        return row.title if row is not None else None

    def articles(
        self,
        status: ArticleStatus | None = None,
        language: Language | None = None,
        topic: str | None = None,
    ) -> list[ArticleSnapshot]:
        query = select(Article).order_by(Article.id)
        if status is not None:
            query = query.where(Article.status == status.value)
        if language is not None:
            query = query.where(Article.language == language.value)
        if topic is not None:
            query = query.where(Article.topic_id == topic)
        return [_snapshot(row) for row in self.session.scalars(query)]

    def translations(self, article_id: str) -> list[ArticleSnapshot]:
        """The other articles of its topic, by language."""
        row = self._row(article_id)
        query = (
            select(Article)
            .where(Article.topic_id == row.topic_id, Article.id != article_id)
            .order_by(Article.language, Article.id)
        )
        return [_snapshot(other) for other in self.session.scalars(query)]

    def topic_ids(self) -> dict[str, str]:
        """Every article's topic, by article id."""
        return {
            article_id: topic_id
            for article_id, topic_id in self.session.execute(select(Article.id, Article.topic_id))
        }

    def topic_members(self) -> list[TopicMember]:
        """Every article's id, language and topic: what an import checks its links against."""
        query = select(Article.id, Article.language, Article.topic_id)
        return [
            TopicMember(article_id, language, topic_id)
            for article_id, language, topic_id in self.session.execute(query)
        ]

    def published(self) -> list[ArticleSnapshot]:
        """What the bot may answer from."""
        return self.articles(status=ArticleStatus.PUBLISHED)

    def revision(self) -> int:
        """Grows with every committed change to any article, whichever process or clock made
        it: every change writes one version and none is ever deleted (``max(updated_at)`` would
        miss a change committed after a later-stamped one)."""
        return self.session.scalar(select(func.count()).select_from(ArticleVersion)) or 0

    def set_status(
        self, article_id: str, status: ArticleStatus, author: str | None = None
    ) -> ArticleSnapshot:
        row = self._row(article_id)
        content = self._content(row)
        content["status"] = status.value
        self._apply(row, content, row.topic_id, author)
        return _snapshot(row)

    def versions(self, article_id: str) -> list[ArticleSnapshot]:
        """Every version, oldest first."""
        self._row(article_id)
        query = (
            select(ArticleVersion)
            .where(ArticleVersion.article_id == article_id)
            .order_by(ArticleVersion.version)
        )
        return [_snapshot(row) for row in self.session.scalars(query)]

    def restore(self, article_id: str, version: int, author: str | None = None) -> ArticleSnapshot:
        """Copy an old version's content forward as a new version; the article stays in the
        topic it is in now (a link is not content), so an old language may be refused."""
        row = self._row(article_id)
        old = self.session.get(ArticleVersion, (article_id, version))
        if old is None:
            raise ArticleNotFoundError(article_id, version)
        content = {name: getattr(old, name) for name in _CONTENT_FIELDS}
        topic_id = self._place(article_id, old.language, Link.KEEP)
        self._apply(row, content, topic_id, author)
        return _snapshot(row)

    # ----- the editor console: explicit create, and changes checked against a loaded version

    def create(self, data: ArticleIn, author: str | None = None) -> ArticleSnapshot:
        if self.session.get(Article, data.id) is not None:
            raise ArticleExistsError(data.id)
        return self.upsert(data, author).article

    def _check_version(self, row: Article, expected_version: int) -> None:
        """Saving over a version newer than the one the editor loaded is refused."""
        if row.version != expected_version:
            raise StaleVersionError(
                row.id, row.version, row.author, row.updated_at.isoformat(timespec="seconds")
            )

    def update(
        self, data: ArticleIn, expected_version: int, author: str | None = None
    ) -> ArticleSnapshot:
        row = self._row(data.id)
        self._check_version(row, expected_version)
        return self.upsert(data, author).article

    def change_status(
        self, article_id: str, status: ArticleStatus, expected_version: int, author: str | None
    ) -> ArticleSnapshot:
        self._check_version(self._row(article_id), expected_version)
        return self.set_status(article_id, status, author)

    def restore_checked(
        self, article_id: str, version: int, expected_version: int, author: str | None
    ) -> ArticleSnapshot:
        self._check_version(self._row(article_id), expected_version)
        return self.restore(article_id, version, author)

    def version(self, article_id: str, version: int) -> ArticleSnapshot:
        old = self.session.get(ArticleVersion, (article_id, version))
        if old is None:
            raise ArticleNotFoundError(article_id, version)
        return _snapshot(old)
