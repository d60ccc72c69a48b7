"""The editors' API: articles with search, filters and paging; create, edit (optimistic
locking), publish, archive; translations (``translation_of``); versions, diffs and restore;
Markdown preview; import and export; "try a question". Every change reaches the search index at
once (no restart, no retraining).

A translation link that cannot be made (to itself, to an unknown id, a second article of one
language in a topic, an article leaving its translations behind) is 422 with a sentence, as
the same link is refused in an import; 409 keeps meaning "exists already" or "changed since you
loaded it", which a client answers by reloading."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response
from sqlalchemy.orm import Session

from bot.analytics.outcomes import article_outcomes
from bot.api.deps import CurrentEditor, RetrieverDep, SessionDep, StateDep
from bot.api.schemas.articles import (
    ArticleCreate,
    ArticleFilters,
    ArticlePublic,
    ArticleRowPublic,
    ArticlesPublic,
    ArticleUpdate,
    DiffPublic,
    ImportReportPublic,
    ImportRequest,
    Preview,
    PreviewPublic,
    Restore,
    StatusChange,
    TryQuestion,
    TryResultPublic,
    VersionPublic,
    VersionsPublic,
)
from bot.api.schemas.errors import refusals
from bot.api.state import ServiceState
from bot.settings import Settings
from db.base import MAX_ROW_ID
from kb.errors import (
    ArticleExistsError,
    ArticleNotFoundError,
    StaleVersionError,
    TranslationError,
)
from kb.importer import ImportSourceError, export_lines, import_path
from kb.markdown import render_markdown
from kb.schemas import ArticleSnapshot, ArticleStatus
from kb.store import ArticleStore

router = APIRouter(prefix="/articles", tags=["articles"], responses=refusals(401, 403))


@contextmanager
def kb_errors() -> Iterator[None]:
    """The knowledge base's refusals as HTTP answers, with their message as the detail."""
    try:
        yield
    except ArticleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    except (ArticleExistsError, StaleVersionError) as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    except TranslationError as error:  # TranslationConflictError too: see the module's docstring
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error


def _live(state: ServiceState, article: ArticleSnapshot) -> None:
    """Index a published article, or drop it from the index otherwise — at once (and tell the
    other workers, which do the same)."""
    state.retriever.upsert([article])
    state.articles_changed()


def _public(session: Session, settings: Settings, article: ArticleSnapshot) -> ArticlePublic:
    translations = ArticleStore(session).translations(article.id)
    return ArticlePublic.of(article, translations, article_outcomes(session), settings)


@router.get("", response_model=ArticlesPublic)
def list_articles(
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
    filters: Annotated[ArticleFilters, Query()],
) -> ArticlesPublic:
    everything = ArticleStore(session).articles()
    outcomes = article_outcomes(session)
    topics: dict[str, list[ArticleSnapshot]] = {}
    for article in sorted(everything, key=lambda a: (a.language, a.id)):
        topics.setdefault(article.topic_id, []).append(article)
    rows = [
        ArticleRowPublic.of(
            a,
            [t for t in topics[a.topic_id] if t.id != a.id],
            outcomes,
            state.settings,
        )
        for a in everything
        if filters.matches(a)
    ]
    if filters.needs_review:
        rows = [r for r in rows if r.needs_review]
    return ArticlesPublic(
        data=rows[filters.offset : filters.offset + filters.limit],
        count=len(rows),
        offset=filters.offset,
        limit=filters.limit,
        categories=sorted({a.category for a in everything}),
        tags=sorted({t for a in everything for t in a.tags}),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ArticlePublic,
    responses=refusals(409, 422),
)
def create_article(
    body: ArticleCreate,
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
) -> ArticlePublic:
    store = ArticleStore(session)
    with kb_errors():
        article = store.create(body.article(), author=editor.name)
    session.commit()
    _live(state, article)
    return _public(session, state.settings, article)


@router.post("/preview", response_model=PreviewPublic)
def preview(body: Preview, editor: CurrentEditor) -> PreviewPublic:
    """The body as it will be shown: Markdown rendered, raw HTML never."""
    return PreviewPublic(html=render_markdown(body.body))


@router.post("/try", response_model=TryResultPublic)
def try_question(
    body: TryQuestion, editor: CurrentEditor, retriever: RetrieverDep, session: SessionDep
) -> TryResultPublic:
    """What the bot would do with a customer's question; nothing is recorded."""
    result = retriever.search(body.text, k=5, language=body.language)
    return TryResultPublic.from_result(result, ArticleStore(session))


@router.post("/import", response_model=ImportReportPublic, responses=refusals(422))
def import_articles(
    body: ImportRequest,
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
) -> ImportReportPublic:
    """JSONL or Markdown files; every valid article is saved, each bad line is reported. An
    import whose translation links do not hold is refused whole (422), nothing saved."""
    store = ArticleStore(session)
    with tempfile.TemporaryDirectory(prefix="kefu-import-") as folder:
        try:
            report = import_path(body.write_source(Path(folder)), store, author=editor.name)
        except ImportSourceError as error:
            raise HTTPException(422, str(error)) from error
    session.commit()
    changed = [e.article_id for e in report.entries if e.outcome in ("created", "updated")]
    state.retriever.upsert([a for a in (store.get(i) for i in changed if i) if a is not None])
    state.articles_changed()
    return ImportReportPublic.of(report, Path(folder))


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "Every article, one JSON object a line (the import format)",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
def export_articles(editor: CurrentEditor, session: SessionDep) -> Response:
    lines = "".join(export_lines(ArticleStore(session).articles()))
    stamp = datetime.now().strftime("%Y%m%d")
    return Response(
        lines,
        media_type="application/x-ndjson; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="kefu-articles-{stamp}.jsonl"'},
    )


@router.get("/{article_id}", response_model=ArticlePublic, responses=refusals(404))
def read_article(
    article_id: str, editor: CurrentEditor, session: SessionDep, state: StateDep
) -> ArticlePublic:
    article = ArticleStore(session).get(article_id)
    if article is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"article {article_id!r} not found")
    return _public(session, state.settings, article)


@router.put("/{article_id}", response_model=ArticlePublic, responses=refusals(404, 409, 422))
def update_article(
    article_id: str,
    body: ArticleUpdate,
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
) -> ArticlePublic:
    """Content and translation link; ``translation_of: null`` unlinks, left out it stays."""
    store = ArticleStore(session)
    current = store.get(article_id)
    if current is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"article {article_id!r} not found")
    with kb_errors():
        article = store.update(
            body.article(article_id, current.status), body.expected_version, author=editor.name
        )
    session.commit()
    _live(state, article)
    return _public(session, state.settings, article)


@router.post("/{article_id}/status", response_model=ArticlePublic, responses=refusals(404, 409))
def change_status(
    article_id: str,
    body: StatusChange,
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
) -> ArticlePublic:
    """Publish (answerable at once), archive or back to draft (never answered again)."""
    with kb_errors():
        article = ArticleStore(session).change_status(
            article_id, ArticleStatus(body.status), body.expected_version, editor.name
        )
    session.commit()
    _live(state, article)
    return _public(session, state.settings, article)


@router.get("/{article_id}/versions", response_model=VersionsPublic, responses=refusals(404))
def list_versions(article_id: str, editor: CurrentEditor, session: SessionDep) -> VersionsPublic:
    with kb_errors():
        versions = ArticleStore(session).versions(article_id)
    return VersionsPublic(data=[VersionPublic.of(v) for v in reversed(versions)])


@router.get("/{article_id}/diff", response_model=DiffPublic, responses=refusals(404))
def diff_versions(
    article_id: str,
    editor: CurrentEditor,
    session: SessionDep,
    from_: Annotated[int, Query(alias="from", ge=1, le=MAX_ROW_ID)],
    to: Annotated[int, Query(ge=1, le=MAX_ROW_ID)],
) -> DiffPublic:
    """Line by line, per field; only the fields that changed."""
    store = ArticleStore(session)
    with kb_errors():
        old, new = store.version(article_id, from_), store.version(article_id, to)
    return DiffPublic.between(old, new)


@router.post(
    "/{article_id}/restore", response_model=ArticlePublic, responses=refusals(404, 409, 422)
)
def restore_version(
    article_id: str,
    body: Restore,
    editor: CurrentEditor,
    session: SessionDep,
    state: StateDep,
) -> ArticlePublic:
    """An old version's content, saved as a new version."""
    with kb_errors():
        article = ArticleStore(session).restore_checked(
            article_id, body.version, body.expected_version, editor.name
        )
    session.commit()
    _live(state, article)
    return _public(session, state.settings, article)
