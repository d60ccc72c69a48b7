import pytest
from pydantic import ValidationError
from sqlalchemy import inspect

from db.engine import create_engine_for
from kb.errors import (
    ArticleNotFoundError,
    StaleVersionError,
    TranslationConflictError,
    TranslationError,
)
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


def test_get_many_reads_the_existing_articles_by_id(store: ArticleStore) -> None:
    linked_pair(store)
    found = store.get_many(["returns-policy", "no-such-article", CHINESE["id"], "returns-policy"])
    assert sorted(found) == sorted(["returns-policy", CHINESE["id"]])
    assert found["returns-policy"] == store.get("returns-policy")
    assert store.get_many([]) == {}


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
    assert list(store.published_among(["returns-policy", "refunds", "nope"])) == ["refunds"]


def test_the_revision_moves_with_every_change_and_only_then(store: ArticleStore) -> None:
    revisions = [store.revision()]
    store.upsert(article())
    revisions.append(store.revision())
    store.upsert(article())  # unchanged
    revisions.append(store.revision())
    store.set_status("returns-policy", ArticleStatus.ARCHIVED)
    revisions.append(store.revision())
    store.restore("returns-policy", 1)
    revisions.append(store.revision())
    assert revisions == [0, 1, 1, 2, 3]


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


# ----- translations: an article and its translations are one topic

CHINESE = {"id": "returns-policy-zh", "title": "退货政策", "language": "zh"}


def linked_pair(store: ArticleStore) -> None:
    store.upsert(article())
    store.upsert(article(**CHINESE, translation_of="returns-policy"))


def test_an_article_is_its_own_topic_until_linked_as_a_translation(store: ArticleStore) -> None:
    assert store.upsert(article()).article.topic_id == "returns-policy"
    linked = store.upsert(article(**CHINESE, translation_of="returns-policy")).article
    assert (linked.topic_id, linked.translation_of) == ("returns-policy", "returns-policy")
    english = store.get("returns-policy")
    assert english is not None and english.translation_of is None
    assert [t.id for t in store.translations("returns-policy")] == ["returns-policy-zh"]
    assert [t.id for t in store.translations("returns-policy-zh")] == ["returns-policy"]
    assert [a.id for a in store.articles(topic="returns-policy")] == [
        "returns-policy",
        "returns-policy-zh",
    ]
    assert store.topic_ids()["returns-policy-zh"] == "returns-policy"


def test_linking_an_existing_article_is_a_new_version_that_records_its_topic(
    store: ArticleStore,
) -> None:
    store.upsert(article())
    store.upsert(article(**CHINESE))
    outcome = store.upsert(article(**CHINESE, translation_of="returns-policy"))
    assert (outcome.result, outcome.article.version) == (UpsertResult.UPDATED, 2)
    assert [v.topic_id for v in store.versions("returns-policy-zh")] == [
        "returns-policy-zh",
        "returns-policy",
    ]
    again = store.upsert(article(**CHINESE, translation_of="returns-policy"))
    assert again.result is UpsertResult.UNCHANGED


def test_a_second_article_of_one_language_is_refused_and_nothing_changes(
    store: ArticleStore,
) -> None:
    linked_pair(store)
    store.upsert(article(id="returns-short-zh", title="退货", language="zh"))
    with pytest.raises(
        TranslationConflictError,
        match="'returns-short-zh' cannot be in one topic with 'returns-policy-zh': both are zh",
    ):
        store.upsert(article(id="returns-short-zh", language="zh", translation_of="returns-policy"))
    with pytest.raises(TranslationConflictError, match="both are zh"):  # the other way in
        store.upsert(article(id="new-zh", language="zh", translation_of="returns-policy-zh"))
    assert store.get("new-zh") is None
    unchanged = store.get("returns-short-zh")
    assert unchanged is not None
    assert (unchanged.topic_id, unchanged.version) == ("returns-short-zh", 1)


def test_changing_the_language_to_one_the_topic_has_is_refused(store: ArticleStore) -> None:
    linked_pair(store)
    with pytest.raises(TranslationConflictError, match="both are en"):
        store.update(article(**{**CHINESE, "language": "en"}), expected_version=1)
    stored = store.get("returns-policy-zh")
    assert stored is not None and (stored.language, stored.version) == ("zh", 1)


def test_links_to_unknown_ids_or_to_itself_are_refused(store: ArticleStore) -> None:
    store.upsert(article())
    with pytest.raises(TranslationError, match="translation of 'nope': no article has that id"):
        store.upsert(article(**CHINESE, translation_of="nope"))
    assert store.get("returns-policy-zh") is None
    with pytest.raises(TranslationError, match="cannot be a translation of itself"):
        store.upsert(article(translation_of="returns-policy"))
    assert store.versions("returns-policy")[-1].version == 1


def test_unlinking_gives_the_article_its_own_topic_back(store: ArticleStore) -> None:
    linked_pair(store)
    unlinked = store.update(article(**CHINESE, translation_of=None), expected_version=1)
    assert (unlinked.topic_id, unlinked.version) == ("returns-policy-zh", 2)
    assert store.translations("returns-policy") == []
    assert [v.topic_id for v in store.versions("returns-policy-zh")] == [
        "returns-policy",
        "returns-policy-zh",
    ]


def test_leaving_out_translation_of_keeps_the_link(store: ArticleStore) -> None:
    linked_pair(store)
    edited = store.upsert(article(**CHINESE, body="30天内可以退货。")).article
    assert (edited.topic_id, edited.version) == ("returns-policy", 2)
    # the article a topic is named after "unlinks" to the topic it already has
    english = store.upsert(article(translation_of=None))
    assert english.result is UpsertResult.UNCHANGED
    assert [t.id for t in store.translations("returns-policy")] == ["returns-policy-zh"]


def test_an_article_cannot_leave_its_translations_behind(store: ArticleStore) -> None:
    linked_pair(store)
    store.upsert(article(id="refunds-zh", title="退款", language="zh"))
    with pytest.raises(TranslationConflictError, match=r"has translations of its own \('returns"):
        store.upsert(article(translation_of="refunds-zh"))
    stored = store.get("returns-policy")
    assert stored is not None and stored.topic_id == "returns-policy"


def test_restore_keeps_the_topic_the_article_is_in_now(store: ArticleStore) -> None:
    store.upsert(article())
    store.upsert(article(**CHINESE))
    store.upsert(article(**{**CHINESE, "title": "退货须知"}, translation_of="returns-policy"))
    restored = store.restore("returns-policy-zh", 1)
    assert (restored.version, restored.title, restored.topic_id) == (
        3,
        "退货政策",
        "returns-policy",
    )


def test_a_stale_edit_is_refused_before_its_link_is_checked(store: ArticleStore) -> None:
    linked_pair(store)
    store.upsert(article(**{**CHINESE, "title": "退货须知"}))
    with pytest.raises(StaleVersionError):
        store.update(article(**CHINESE, translation_of="nope"), expected_version=1)
