"""The editors' API: articles with search, filters and paging; create, edit (optimistic
locking), publish, archive; versions, diffs and restore; Markdown preview; import and export;
"try a question". Every change reaches the search index at once (no restart, no retraining)."""

from __future__ import annotations

import difflib
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from bot.analytics.outcomes import ArticleOutcomes, article_outcomes
from bot.api.deps import CurrentEditor, RetrieverDep, SessionDep, StateDep
from kb.errors import ArticleExistsError, ArticleNotFoundError, StaleVersionError
from kb.importer import ImportSourceError, import_path
from kb.markdown import render_markdown
from kb.schemas import MAX_BODY_CHARS, ArticleIn, ArticleSnapshot, ArticleStatus, Language
from kb.store import ArticleStore
from retrieval.retriever import Retriever

router = APIRouter(prefix="/articles", tags=["articles"])

MAX_IMPORT_BYTES = 5_000_000
StatusName = Literal["draft", "published", "archived"]


class ArticleCreate(BaseModel):
    id: str
    title: str
    body: str
    questions: list[str] = Field(default_factory=list, max_length=20)
    category: str = "general"
    tags: list[str] = Field(default_factory=list, max_length=20)
    language: Language
    status: Literal["draft", "published"] = "draft"


class ArticleUpdate(BaseModel):
    expected_version: int = Field(ge=1)
    title: str
    body: str
    questions: list[str] = Field(default_factory=list, max_length=20)
    category: str = "general"
    tags: list[str] = Field(default_factory=list, max_length=20)
    language: Language


class StatusChange(BaseModel):
    status: StatusName
    expected_version: int = Field(ge=1)


class Restore(BaseModel):
    version: int = Field(ge=1)
    expected_version: int = Field(ge=1)


class Preview(BaseModel):
    body: Annotated[str, StringConstraints(max_length=MAX_BODY_CHARS)]


class TryQuestion(BaseModel):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    language: Literal["zh", "en"] | None = None


class ImportFile(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    content: Annotated[str, StringConstraints(max_length=MAX_IMPORT_BYTES)]


class ImportRequest(BaseModel):
    format: Literal["jsonl", "markdown"]
    files: list[ImportFile] = Field(min_length=1, max_length=500)


def _stats(outcomes: ArticleOutcomes) -> dict[str, int]:
    return {
        "offered": outcomes.offered,
        "answered": outcomes.answered,
        "helpful": outcomes.helpful,
        "not_helpful": outcomes.not_helpful,
        "handoff_after": outcomes.handoff_after,
    }


def _row(article: ArticleSnapshot, outcomes: ArticleOutcomes, state: Any) -> dict[str, Any]:
    settings = state.settings
    return {
        "id": article.id,
        "version": article.version,
        "title": article.title,
        "category": article.category,
        "tags": article.tags,
        "language": article.language,
        "status": article.status,
        "author": article.author,
        "updated_at": article.updated_at.isoformat(),
        "stats": _stats(outcomes),
        "needs_review": outcomes.needs_review(
            settings.review_threshold, settings.review_min_offered
        ),
    }


def _full(article: ArticleSnapshot, outcomes: ArticleOutcomes, state: Any) -> dict[str, Any]:
    return _row(article, outcomes, state) | {
        "body": article.body,
        "body_html": render_markdown(article.body),
        "questions": article.questions,
        "created_at": article.created_at.isoformat(),
    }


@contextmanager
def kb_errors() -> Iterator[None]:
    """The knowledge base's refusals as HTTP answers, with their message as the detail."""
    try:
        yield
    except ArticleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    except (ArticleExistsError, StaleVersionError) as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error


def _live(retriever: Retriever, article: ArticleSnapshot) -> None:
    """Index a published article, or drop it from the index otherwise — at once."""
    retriever.upsert([article])


def _validated(article_id: str, fields: dict[str, Any], status_: str) -> ArticleIn:
    from pydantic import ValidationError

    try:
        return ArticleIn.model_validate({"id": article_id, **fields, "status": status_})
    except ValidationError as error:
        detail = [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in error.errors(include_url=False, include_context=False)
        ]
        raise HTTPException(422, detail) from error


@router.get("")
def list_articles(
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status_: Annotated[StatusName | None, Query(alias="status")] = None,
    category: Annotated[str | None, Query(max_length=60)] = None,
    language: Language | None = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    needs_review: bool = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    everything = ArticleStore(session).articles()
    outcomes = article_outcomes(session)
    needle = (q or "").strip().lower()
    rows = [
        _row(a, outcomes.of(a.id), state)
        for a in everything
        if (status_ is None or a.status == status_)
        and (category is None or a.category == category)
        and (language is None or a.language == language.value)
        and (tag is None or tag.lower() in a.tags)
        and (
            not needle
            or needle in a.id
            or needle in a.title.lower()
            or needle in a.body.lower()
            or any(needle in question.lower() for question in a.questions)
        )
    ]
    if needs_review:
        rows = [r for r in rows if r["needs_review"]]
    return {
        "data": rows[offset : offset + limit],
        "count": len(rows),
        "offset": offset,
        "limit": limit,
        "categories": sorted({a.category for a in everything}),
        "tags": sorted({t for a in everything for t in a.tags}),
    }


@router.post("", status_code=status.HTTP_201_CREATED)
def create_article(
    body: ArticleCreate,
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
    retriever: RetrieverDep,
) -> dict[str, Any]:
    data = _validated(body.id, body.model_dump(exclude={"id", "status"}), body.status)
    with kb_errors():
        article = ArticleStore(session).create(data, author=editor.name)
    session.commit()
    _live(retriever, article)
    return _full(article, ArticleOutcomes(), state)


@router.post("/preview")
def preview(body: Preview, editor: CurrentEditor) -> dict[str, str]:
    """The body as it will be shown: Markdown rendered, raw HTML never."""
    return {"html": render_markdown(body.body)}


@router.post("/try")
def try_question(
    body: TryQuestion, editor: CurrentEditor, retriever: RetrieverDep, session: SessionDep
) -> dict[str, Any]:
    """What the bot would do with a customer's question; nothing is recorded."""
    result = retriever.search(body.text, k=5, language=body.language)
    store = ArticleStore(session)
    hits = []
    for hit in result.hits:
        article = store.get(hit.article_id)
        hits.append(
            {
                "article_id": hit.article_id,
                "title": article.title if article else hit.title,
                "status": article.status if article else "deleted",
                "version": hit.version,
                "score": round(hit.score, 4),
                "matched": {"kind": hit.matched.kind, "text": hit.matched.text},
            }
        )
    return {"band": result.band.value, "language": result.language, "hits": hits}


@router.post("/import")
def import_articles(
    body: ImportRequest,
    editor: CurrentEditor,
    session: SessionDep,
    retriever: RetrieverDep,
) -> dict[str, Any]:
    """JSONL or Markdown files; every valid article is saved, each bad line is reported."""
    store = ArticleStore(session)
    with tempfile.TemporaryDirectory(prefix="kefu-import-") as folder:
        root = Path(folder)
        if body.format == "jsonl":
            source = root / "import.jsonl"
            source.write_text("\n".join(f.content.rstrip("\n") for f in body.files), "utf-8")
        else:
            source = root / "articles"
            source.mkdir()
            for index, file in enumerate(body.files):
                name = Path(file.name).name or f"article-{index}.md"
                (source / (name if name.endswith(".md") else f"{name}.md")).write_text(
                    file.content, "utf-8"
                )
        try:
            report = import_path(source, store, author=editor.name)
        except ImportSourceError as error:
            raise HTTPException(422, str(error)) from error
    session.commit()
    changed = [e.article_id for e in report.entries if e.outcome in ("created", "updated")]
    articles = [a for a in (store.get(i) for i in changed if i) if a is not None]
    retriever.upsert(articles)
    counts = report.counts()
    return {
        "created": counts.get("created", 0),
        "updated": counts.get("updated", 0),
        "unchanged": counts.get("unchanged", 0),
        "rejected": [
            {"location": e.location.replace(str(root) + "/", ""), "reason": e.reason}
            for e in report.rejected
        ],
    }


@router.get("/export")
def export_articles(editor: CurrentEditor, session: SessionDep) -> Response:
    articles = ArticleStore(session).articles()
    lines = "".join(json.dumps(a.content(), ensure_ascii=False) + "\n" for a in articles)
    stamp = datetime.now().strftime("%Y%m%d")
    return Response(
        lines,
        media_type="application/x-ndjson; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="kefu-articles-{stamp}.jsonl"'},
    )


@router.get("/{article_id}")
def read_article(
    article_id: str, editor: CurrentEditor, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    article = ArticleStore(session).get(article_id)
    if article is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"article {article_id!r} not found")
    return _full(article, article_outcomes(session).of(article_id), state)


@router.put("/{article_id}")
def update_article(
    article_id: str,
    body: ArticleUpdate,
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
    retriever: RetrieverDep,
) -> dict[str, Any]:
    store = ArticleStore(session)
    current = store.get(article_id)
    if current is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"article {article_id!r} not found")
    data = _validated(article_id, body.model_dump(exclude={"expected_version"}), current.status)
    with kb_errors():
        article = store.update(data, body.expected_version, author=editor.name)
    session.commit()
    _live(retriever, article)
    return _full(article, article_outcomes(session).of(article_id), state)


@router.post("/{article_id}/status")
def change_status(
    article_id: str,
    body: StatusChange,
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
    retriever: RetrieverDep,
) -> dict[str, Any]:
    """Publish (answerable at once), archive or back to draft (never answered again)."""
    with kb_errors():
        article = ArticleStore(session).change_status(
            article_id, ArticleStatus(body.status), body.expected_version, editor.name
        )
    session.commit()
    _live(retriever, article)
    return _full(article, article_outcomes(session).of(article_id), state)


@router.get("/{article_id}/versions")
def list_versions(article_id: str, editor: CurrentEditor, session: SessionDep) -> dict[str, Any]:
    with kb_errors():
        versions = ArticleStore(session).versions(article_id)
    return {
        "data": [
            {
                "version": v.version,
                "title": v.title,
                "status": v.status,
                "author": v.author,
                "created_at": v.updated_at.isoformat(),
            }
            for v in reversed(versions)
        ]
    }


@router.get("/{article_id}/diff")
def diff_versions(
    article_id: str,
    editor: CurrentEditor,
    session: SessionDep,
    from_: Annotated[int, Query(alias="from", ge=1)],
    to: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    """Line by line, per field; only the fields that changed."""
    store = ArticleStore(session)
    with kb_errors():
        old, new = store.version(article_id, from_), store.version(article_id, to)
    fields = []
    for name, before, after in (
        ("title", old.title, new.title),
        ("body", old.body, new.body),
        ("questions", "\n".join(old.questions), "\n".join(new.questions)),
        ("category", old.category, new.category),
        ("tags", ", ".join(old.tags), ", ".join(new.tags)),
        ("language", old.language, new.language),
        ("status", old.status, new.status),
    ):
        if before == after:
            continue
        lines = [
            {"op": line[0], "text": line[2:]}
            for line in difflib.ndiff(before.splitlines(), after.splitlines())
            if line[:1] in (" ", "+", "-")
        ]
        fields.append({"field": name, "lines": lines})
    return {"from": from_, "to": to, "fields": fields}


@router.post("/{article_id}/restore")
def restore_version(
    article_id: str,
    body: Restore,
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
    retriever: RetrieverDep,
) -> dict[str, Any]:
    """An old version's content, saved as a new version."""
    with kb_errors():
        article = ArticleStore(session).restore_checked(
            article_id, body.version, body.expected_version, editor.name
        )
    session.commit()
    _live(retriever, article)
    return _full(article, article_outcomes(session).of(article_id), state)
