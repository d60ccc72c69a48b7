"""Validated article input and the read-only snapshot that the rest of Kefu consumes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from db.text import Storable
from kb.markdown import strip_html
from kb.topics import Link, TranslationLink

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"
MAX_BODY_CHARS = 20_000


class Language(StrEnum):
    ZH = "zh"
    EN = "en"


class ArticleStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"  # the only status the bot ever answers from
    ARCHIVED = "archived"


def _clean(text: str) -> str:
    # NUL characters break PostgreSQL text columns and are never meaningful in an article.
    return text.replace("\x00", "").strip()


def _cleaned(value: object) -> object:
    return _clean(value) if isinstance(value, str) else value


def _without_html(value: str) -> str:
    # Bodies are Markdown; HTML typed into one is removed on save (see kb/markdown.py).
    stripped = strip_html(value).strip()
    if not stripped:
        raise ValueError("the body is empty once HTML tags are removed")
    return stripped


def _unique_questions(value: list[str]) -> list[str]:
    cleaned = [_clean(q) for q in value]
    return list(dict.fromkeys(q for q in cleaned if q))


def _normal_tags(value: list[str]) -> list[str]:
    return list(dict.fromkeys(_clean(t).lower() for t in value if _clean(t)))


# The rules of each field, in one place: the model below and the editors' API
# (bot/api/schemas/articles.py) both declare their fields with these types.
Question = Annotated[str, StringConstraints(max_length=300), Storable]
Tag = Annotated[str, StringConstraints(max_length=40), Storable]
ArticleId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN), Storable]
ArticleTitle = Annotated[
    str, StringConstraints(min_length=1, max_length=200), Storable, BeforeValidator(_cleaned)
]
ArticleBody = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_BODY_CHARS),
    Storable,
    BeforeValidator(_cleaned),
    AfterValidator(_without_html),
]
ArticleQuestions = Annotated[
    list[Question], Field(max_length=20), AfterValidator(_unique_questions)
]
ArticleCategory = Annotated[
    str, StringConstraints(min_length=1, max_length=60), Storable, BeforeValidator(_cleaned)
]
ArticleTags = Annotated[list[Tag], Field(max_length=20), AfterValidator(_normal_tags)]


def article_url(article_id: str) -> str:
    """The public page of an article (bot/api/routes/article_pages.py), as cards link to it."""
    return f"/articles/{article_id}"


class ArticleIn(BaseModel):
    """An article as written by an editor or an import line: validated before any write.

    ``translation_of`` links it into the topic of an article in another language; ``None``
    given explicitly gives it a topic of its own; left out, the article keeps the topic it
    has (so a file written before translations existed never undoes a link).
    """

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    id: ArticleId
    title: ArticleTitle
    body: ArticleBody
    questions: ArticleQuestions = Field(default_factory=list)
    category: ArticleCategory = "general"
    tags: ArticleTags = Field(default_factory=list)
    language: Language
    status: ArticleStatus = ArticleStatus.PUBLISHED
    translation_of: ArticleId | None = None

    def link(self) -> TranslationLink:
        """What becomes of the article's topic (see ``kb.topics.place``)."""
        return self.translation_of if "translation_of" in self.model_fields_set else Link.KEEP


@dataclass(frozen=True, slots=True)
class ArticleSnapshot:
    """One version of an article, detached from the database session."""

    id: str
    topic_id: str  # its own id, or that of the article its topic is named after
    version: int
    title: str
    body: str
    questions: list[str]
    category: str
    tags: list[str]
    language: str
    status: str
    author: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def translation_of(self) -> str | None:
        """The article whose topic it joined; None when the topic is its own."""
        return self.topic_id if self.topic_id != self.id else None

    def content(self) -> dict[str, object]:
        """The fields of an import line, in the export format's order (without
        ``translation_of``, which the export adds per topic)."""
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "questions": list(self.questions),
            "category": self.category,
            "tags": list(self.tags),
            "language": self.language,
            "status": self.status,
        }
