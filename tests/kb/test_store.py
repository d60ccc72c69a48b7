import pytest
from pydantic import ValidationError
from sqlalchemy import inspect

from db.engine import create_engine_for
from kb.errors import ArticleNotFoundError
from kb.schemas import ArticleStatus, Language
from kb.store import ArticleStore, UpsertResult
from tests.kb.conftest import article


def test_migration_creates_the_tables(database_url: str) -> None:
    engine = create_engine_for(database_url)
    assert {"articles", "article_versions", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_editing_writes_a_new_version_and_keeps_the_old(store: ArticleStore) -> None:
    assert store.upsert(article(), "ana").result is UpsertResult.CREATED
    outcome = store.upsert(article(body="Return items within 60 days."), "ben")
    assert outcome.result is UpsertResult.UPDATED
    assert outcome.article.version == 2
    versions = store.versions("returns-policy")
    assert [(v.version, v.author) for v in versions] == [(1, "ana"), (2, "ben")]
    assert versions[0].body == "Return items within 30 days."


def test_an_unchanged_upsert_writes_no_version(store: ArticleStore) -> None:
    store.upsert(article())
    assert store.upsert(article()).result is UpsertResult.UNCHANGED
    assert len(store.versions("returns-policy")) == 1


def test_restore_copies_an_old_version_forward(store: ArticleStore) -> None:
    store.upsert(article())
    store.upsert(article(title="Returns (edited)"))
    restored = store.restore("returns-policy", 1, "editor")
    assert (restored.version, restored.title) == (3, "Returns policy")
    assert len(store.versions("returns-policy")) == 3


def test_archiving_removes_the_article_from_published(store: ArticleStore) -> None:
    store.upsert(article())
    store.upsert(article(id="refunds", title="Refunds", language="zh"))
    archived = store.set_status("returns-policy", ArticleStatus.ARCHIVED, "ana")
    assert (archived.status, archived.version) == ("archived", 2)
    assert [a.id for a in store.published()] == ["refunds"]
    assert [a.id for a in store.articles(language=Language.ZH)] == ["refunds"]


def test_unknown_ids_raise_a_clear_error(store: ArticleStore) -> None:
    assert store.get("nope") is None
    with pytest.raises(ArticleNotFoundError, match="article 'nope' not found"):
        store.versions("nope")
    store.upsert(article())
    with pytest.raises(ArticleNotFoundError, match="version 9 not found"):
        store.restore("returns-policy", 9)


def test_validation_cleans_questions_and_tags() -> None:
    cleaned = article(questions=[" a? ", "", "a?", "b?"], tags=["Refund", "refund "])
    assert cleaned.questions == ["a?", "b?"]
    assert cleaned.tags == ["refund"]


def test_html_tags_in_a_body_are_removed_on_save_and_nul_bytes_dropped(
    store: ArticleStore,
) -> None:
    store.upsert(
        article(body='<script>alert(1)</script>\x00 Returns <b onclick="x">now</b>, 1 < 2')
    )
    stored = store.get("returns-policy")
    assert stored is not None
    assert stored.body == "alert(1) Returns now, 1 < 2"


def test_a_body_of_html_only_is_rejected() -> None:
    with pytest.raises(ValidationError, match="empty once HTML tags are removed"):
        article(body="<img src=x onerror=alert(1)>")


def test_timestamps_come_back_timezone_aware(store: ArticleStore) -> None:
    store.upsert(article())
    store.session.commit()
    store.session.expire_all()  # force a reload from the database file
    stored = store.get("returns-policy")
    assert stored is not None
    assert stored.created_at.utcoffset() is not None
    assert stored.created_at == store.versions("returns-policy")[0].created_at
