"""The editors' articles: what the console sends (with the knowledge base's own bounds) and
what it gets back — rows with their outcome stats and translations, full articles, versions,
diffs, preview, "try a question" and import reports."""

from __future__ import annotations

import difflib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from bot.analytics.outcomes import ArticleOutcomes, OutcomeReport
from bot.api.schemas.kb import MatchedPassagePublic
from bot.settings import Settings
from db.base import MAX_ROW_ID
from db.text import Storable
from kb.importer import JSONL_SUFFIXES, ImportReport
from kb.markdown import render_markdown
from kb.schemas import (
    MAX_BODY_CHARS,
    ArticleBody,
    ArticleCategory,
    ArticleId,
    ArticleIn,
    ArticleQuestions,
    ArticleSnapshot,
    ArticleStatus,
    ArticleTags,
    ArticleTitle,
    Language,
)
from kb.store import ArticleStore
from retrieval.retriever import SearchResult

MAX_IMPORT_BYTES = 5_000_000
StatusName = Literal["draft", "published", "archived"]

# -- what the console sends ---------------------------------------------------------------------


class ArticleFilters(BaseModel):
    """The list's query string: search, filters and the page."""

    q: str | None = Field(default=None, max_length=200)
    status: StatusName | None = None
    category: str | None = Field(default=None, max_length=60)
    language: Language | None = None
    tag: str | None = Field(default=None, max_length=40)
    topic: str | None = Field(default=None, max_length=80)  # an article and its translations
    needs_review: bool = False
    offset: int = Field(default=0, ge=0, le=MAX_ROW_ID)
    limit: int = Field(default=20, ge=1, le=100)

    def matches(self, article: ArticleSnapshot) -> bool:
        needle = (self.q or "").strip().lower()
        return (
            (self.status is None or article.status == self.status)
            and (self.category is None or article.category == self.category)
            and (self.language is None or article.language == self.language.value)
            and (self.tag is None or self.tag.lower() in article.tags)
            and (self.topic is None or article.topic_id == self.topic)
            and (
                not needle
                or needle in article.id
                or needle in article.title.lower()
                or needle in article.body.lower()
                or any(needle in question.lower() for question in article.questions)
            )
        )


# The fields carry kb/schemas.py's types, so a request is bounded and cleaned by the same rules
# as an import line; ``article()`` hands the result to the store without validating it twice
# (cleaning is not idempotent: removing the tags of "<<b>i>" leaves a tag to remove).
# ``translation_of`` is the id of an article in another language, whose topic this one joins.


class ArticleCreate(BaseModel):
    id: ArticleId
    title: ArticleTitle
    body: ArticleBody
    questions: ArticleQuestions = Field(default_factory=list)
    category: ArticleCategory = "general"
    tags: ArticleTags = Field(default_factory=list)
    language: Language
    status: Literal["draft", "published"] = "draft"
    translation_of: ArticleId | None = None

    def article(self) -> ArticleIn:
        content = self.model_dump(exclude={"status"})
        return ArticleIn.model_construct(status=ArticleStatus(self.status), **content)


class ArticleUpdate(BaseModel):
    expected_version: int = Field(ge=1, le=MAX_ROW_ID)
    title: ArticleTitle
    body: ArticleBody
    questions: ArticleQuestions = Field(default_factory=list)
    category: ArticleCategory = "general"
    tags: ArticleTags = Field(default_factory=list)
    language: Language
    translation_of: ArticleId | None = None  # null unlinks; left out, the link stays

    def article(self, article_id: str, status: str) -> ArticleIn:
        """The new content of an article, which keeps its status (and its topic, unless
        ``translation_of`` is given)."""
        content = self.model_dump(exclude={"expected_version"})
        if "translation_of" not in self.model_fields_set:
            del content["translation_of"]
        return ArticleIn.model_construct(id=article_id, status=ArticleStatus(status), **content)


class StatusChange(BaseModel):
    status: StatusName
    expected_version: int = Field(ge=1, le=MAX_ROW_ID)


class Restore(BaseModel):
    version: int = Field(ge=1, le=MAX_ROW_ID)
    expected_version: int = Field(ge=1, le=MAX_ROW_ID)


class Preview(BaseModel):
    body: Annotated[str, StringConstraints(max_length=MAX_BODY_CHARS), Storable]


class TryQuestion(BaseModel):
    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), Storable
    ]
    language: Literal["zh", "en"] | None = None


class ImportFile(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200), Storable]
    content: Annotated[str, StringConstraints(max_length=MAX_IMPORT_BYTES), Storable]


class ImportRequest(BaseModel):
    format: Literal["jsonl", "markdown"]
    files: list[ImportFile] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _distinct_names(self) -> ImportRequest:
        # Two files of one name would overwrite each other: the first would be lost unsaid.
        names = self._names()
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"files with the same name: {', '.join(twice)} (rename one)")
        return self

    def _names(self) -> list[str]:
        """Each file's name as it is written for the importer (no folders)."""
        suffixes = JSONL_SUFFIXES if self.format == "jsonl" else (".md",)
        names = []
        for index, file in enumerate(self.files):
            name = Path(file.name).name or f"file-{index}"
            names.append(name if name.endswith(suffixes) else name + suffixes[0])
        return names

    def write_source(self, folder: Path) -> Path:
        """The files as the importer reads them: one JSONL file, or a folder of files (each
        JSONL line's location then names its file)."""
        if self.format == "jsonl" and len(self.files) == 1:
            # One file keeps its name, which a refusal's "file:line" then tells.
            source = folder / self._names()[0]
            source.write_text(self.files[0].content, "utf-8")
            return source
        source = folder / "import"
        source.mkdir()
        for name, file in zip(self._names(), self.files, strict=True):
            (source / name).write_text(file.content, "utf-8")
        return source


# -- what it gets back --------------------------------------------------------------------------


class ArticleStatsPublic(BaseModel):
    """How the bot's answers from this article went."""

    offered: int
    answered: int
    helpful: int
    not_helpful: int
    handoff_after: int

    @classmethod
    def of(cls, outcomes: ArticleOutcomes) -> ArticleStatsPublic:
        return cls.model_validate(outcomes, from_attributes=True)


class TranslationPublic(BaseModel):
    """Another article of the same topic."""

    id: str
    language: str
    title: str
    status: str

    @classmethod
    def of(cls, article: ArticleSnapshot) -> TranslationPublic:
        return cls(
            id=article.id, language=article.language, title=article.title, status=article.status
        )


class ArticleRowPublic(BaseModel):
    """An article in the list: everything but its text."""

    id: str
    topic_id: str  # shared with its translations
    translation_of: str | None  # the article its topic is named after; None if that is itself
    translations: list[TranslationPublic]  # the other articles of its topic, by language
    version: int
    title: str
    category: str
    tags: list[str]
    language: str
    status: str
    author: str | None
    updated_at: datetime
    stats: ArticleStatsPublic
    needs_review: bool

    @classmethod
    def of(
        cls,
        article: ArticleSnapshot,
        translations: list[ArticleSnapshot],
        outcomes: OutcomeReport,
        settings: Settings,
    ) -> ArticleRowPublic:
        mine = outcomes.of(article.id)
        return cls(
            id=article.id,
            topic_id=article.topic_id,
            translation_of=article.translation_of,
            translations=[TranslationPublic.of(t) for t in translations],
            version=article.version,
            title=article.title,
            category=article.category,
            tags=article.tags,
            language=article.language,
            status=article.status,
            author=article.author,
            updated_at=article.updated_at,
            stats=ArticleStatsPublic.of(mine),
            needs_review=mine.needs_review(settings.review_threshold, settings.review_min_offered),
        )


class ArticlePublic(ArticleRowPublic):
    """One article with its text, as stored and as shown, and the outcomes of its topic."""

    body: str
    body_html: str
    questions: list[str]
    created_at: datetime
    topic_stats: ArticleStatsPublic  # the article and its translations, each lookup once

    @classmethod
    def of(
        cls,
        article: ArticleSnapshot,
        translations: list[ArticleSnapshot],
        outcomes: OutcomeReport,
        settings: Settings,
    ) -> ArticlePublic:
        row = ArticleRowPublic.of(article, translations, outcomes, settings)
        return cls(
            **row.model_dump(),
            topic_stats=ArticleStatsPublic.of(outcomes.of_topic(article.topic_id)),
            body=article.body,
            body_html=render_markdown(article.body),
            questions=article.questions,
            created_at=article.created_at,
        )


class ArticlesPublic(BaseModel):
    """A page of the list, with every category and tag in use (for the filters)."""

    data: list[ArticleRowPublic]
    count: int  # rows matching, on every page
    offset: int
    limit: int
    categories: list[str]
    tags: list[str]


class VersionPublic(BaseModel):
    version: int
    title: str
    status: str
    topic_id: str
    author: str | None
    created_at: datetime

    @classmethod
    def of(cls, version: ArticleSnapshot) -> VersionPublic:
        return cls(
            version=version.version,
            title=version.title,
            status=version.status,
            topic_id=version.topic_id,
            author=version.author,
            created_at=version.updated_at,  # when this version was written
        )


class VersionsPublic(BaseModel):
    data: list[VersionPublic]  # newest first


class DiffLinePublic(BaseModel):
    op: Literal[" ", "+", "-"]
    text: str


class FieldDiffPublic(BaseModel):
    field: str
    lines: list[DiffLinePublic]


class DiffPublic(BaseModel):
    """Two versions line by line, per field; only the fields that changed."""

    from_: int = Field(serialization_alias="from")
    to: int
    fields: list[FieldDiffPublic]

    @classmethod
    def between(cls, old: ArticleSnapshot, new: ArticleSnapshot) -> DiffPublic:
        fields = []
        for name, before, after in (
            ("title", old.title, new.title),
            ("body", old.body, new.body),
            ("questions", "\n".join(old.questions), "\n".join(new.questions)),
            ("category", old.category, new.category),
            ("tags", ", ".join(old.tags), ", ".join(new.tags)),
            ("language", old.language, new.language),
            ("status", old.status, new.status),
            ("topic", old.topic_id, new.topic_id),
        ):
            if before == after:
                continue
            lines = [
                DiffLinePublic.model_validate({"op": line[0], "text": line[2:]})
                for line in difflib.ndiff(before.splitlines(), after.splitlines())
                if line[:1] in (" ", "+", "-")
            ]
            fields.append(FieldDiffPublic(field=name, lines=lines))
        return cls(from_=old.version, to=new.version, fields=fields)


class PreviewPublic(BaseModel):
    html: str  # Markdown rendered, raw HTML never


class TryHitPublic(BaseModel):
    """An article the bot would consider, whatever its status (drafts show, marked)."""

    article_id: str
    title: str
    status: str  # "deleted" when the index still had it
    version: int
    score: float
    matched: MatchedPassagePublic


class TryResultPublic(BaseModel):
    band: Literal["answer", "clarify", "none"]
    language: str
    hits: list[TryHitPublic]

    @classmethod
    def from_result(cls, result: SearchResult, store: ArticleStore) -> TryResultPublic:
        hits = []
        for hit in result.hits:
            article = store.get(hit.article_id)
            hits.append(
                TryHitPublic(
                    article_id=hit.article_id,
                    title=article.title if article else hit.title,
                    status=article.status if article else "deleted",
                    version=hit.version,
                    score=round(hit.score, 4),
                    matched=MatchedPassagePublic(kind=hit.matched.kind, text=hit.matched.text),
                )
            )
        return cls(band=result.band.value, language=result.language, hits=hits)


class ImportRejectionPublic(BaseModel):
    location: str  # file (and line, for JSONL)
    reason: str


class ImportReportPublic(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: list[ImportRejectionPublic]

    @classmethod
    def of(cls, report: ImportReport, folder: Path) -> ImportReportPublic:
        """Locations are told relative to the folder the request's files were written to."""
        counts = report.counts()
        return cls(
            created=counts.get("created", 0),
            updated=counts.get("updated", 0),
            unchanged=counts.get("unchanged", 0),
            rejected=[
                ImportRejectionPublic(
                    location=e.location.replace(str(folder) + "/", ""), reason=e.reason
                )
                for e in report.rejected
            ],
        )
