"""The editors' article API: every route's success, 401/403, 404, 409 and 422, the live
index (a published article is found at once, an archived one never again), and the bands'
calibration on the knowledge base the editors keep."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.auth.store import UserStore
from bot.conversations.store import ConversationStore
from bot.conversations.trail import BotTrail
from bot.settings import Settings
from db.engine import create_engine_for, session_factory
from retrieval.background_calibrator import BackgroundCalibrator
from retrieval.bands import BandThresholds
from retrieval.calibration import (
    MIN_ARTICLES,
    MIN_QUESTIONS,
    CalibratedBands,
    Calibration,
)
from tests.bot.api.conftest import DatabaseCopy
from tests.servers.databases import FreshDatabases

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse-battery"
NEW = {
    "id": "gift-wrapping",
    "title": "Gift wrapping",
    "body": "We wrap any order in recycled gift paper for 5 yuan. Tick **Gift wrap** at checkout.",
    "questions": ["Do you offer gift wrapping?", "Can you wrap my order as a present?"],
    "category": "orders",
    "tags": ["gift"],
    "language": "en",
}


@pytest.fixture(scope="module")
def database(
    demo_template: str, fresh_databases: FreshDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseCopy]:
    """A copy of the demo database these tests may change, with an editor and an agent."""
    folder = tmp_path_factory.mktemp("articles")
    with fresh_databases.copy_of(demo_template, folder) as url:
        engine = create_engine_for(url)
        with session_factory(engine)() as session:
            UserStore(session).create("erin@articles.test", "Erin", "editor", PASSWORD)
            UserStore(session).create("alice@articles.test", "Alice", "agent", PASSWORD)
            UserStore(session).create("sue@articles.test", "Sue", "supervisor", PASSWORD)
        engine.dispose()
        yield DatabaseCopy(url, folder)


@pytest.fixture(scope="module")
def app_client(database: DatabaseCopy) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database.url,
        index_dir=database.folder / "index",
        environment="test",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def login(client: TestClient, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    token = response.cookies["kefu_session"]
    client.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def editor(app_client: TestClient) -> dict[str, str]:
    return login(app_client, "erin@articles.test")


def create(client: TestClient, editor: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/articles", json=NEW | changes, headers=editor)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def top_hit(client: TestClient, editor: dict[str, str], text: str) -> str | None:
    hits = client.post("/api/v1/articles/try", json={"text": text}, headers=editor).json()["hits"]
    return hits[0]["article_id"] if hits else None


ROUTES = [
    ("GET", "/api/v1/articles", None),
    ("POST", "/api/v1/articles", NEW),
    ("GET", "/api/v1/articles/returns-policy", None),
    ("PUT", "/api/v1/articles/returns-policy", {**NEW, "expected_version": 1}),
    ("POST", "/api/v1/articles/returns-policy/status", {"status": "draft", "expected_version": 1}),
    ("GET", "/api/v1/articles/returns-policy/versions", None),
    ("GET", "/api/v1/articles/returns-policy/diff?from=1&to=1", None),
    ("POST", "/api/v1/articles/returns-policy/restore", {"version": 1, "expected_version": 1}),
    ("POST", "/api/v1/articles/preview", {"body": "x"}),
    ("POST", "/api/v1/articles/try", {"text": "refund"}),
    (
        "POST",
        "/api/v1/articles/import",
        {"format": "jsonl", "files": [{"name": "a", "content": ""}]},
    ),
    ("GET", "/api/v1/articles/export", None),
    ("GET", "/api/v1/gaps", None),
    ("GET", "/api/v1/retrieval/calibration", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_article_route_needs_an_editor(
    app_client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    anonymous = app_client.request(method, path, json=body)
    assert (anonymous.status_code, anonymous.json()["detail"]) == (401, "log in first")
    # An agent; a supervisor edits nothing.
    for email in ("alice@articles.test", "sue@articles.test"):
        refused = app_client.request(method, path, json=body, headers=login(app_client, email))
        assert (refused.status_code, refused.json()["detail"]) == (
            403,
            "this needs the editor role",
        )


def test_the_demo_knowledge_base_is_calibrated_and_names_confusable_articles(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    response = app_client.get("/api/v1/retrieval/calibration", headers=editor)
    assert response.status_code == 200
    calibration = response.json()
    assert calibration["status"] == "calibrated"
    assert calibration["articles"] >= MIN_ARTICLES and calibration["questions"] >= MIN_QUESTIONS
    assert 0 < calibration["answered_share"] <= 1
    assert 0 < calibration["expected_precision"] <= 1
    assert calibration["method"] in ("model", "score")
    assert calibration["thresholds"]["low"] <= calibration["thresholds"]["high"]
    assert calibration["confusable"], "the demo shop has topics whose questions overlap"
    for pair in calibration["confusable"]:
        assert pair["questions"] >= 2
        assert len({topic["topic_id"] for topic in pair["topics"]}) == 2
        for topic in pair["topics"]:
            assert topic["articles"], f"topic {topic['topic_id']} resolved to no article"
            for named in topic["articles"]:
                url = f"/api/v1/articles/{named['id']}"
                article = app_client.get(url, headers=editor).json()
                assert (article["topic_id"], article["title"], article["language"]) == (
                    topic["topic_id"],
                    named["title"],
                    named["language"],
                )


def calibrator(client: TestClient) -> BackgroundCalibrator:
    """The service's calibrator, whose calibration in force a test may replace."""
    found: BackgroundCalibrator = client.app.state.kefu.calibrator  # type: ignore[attr-defined]
    return found


def test_the_calibration_is_pending_until_the_first_one_finishes(
    app_client: TestClient, editor: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calibrator(app_client), "current", None)
    pending = app_client.get("/api/v1/retrieval/calibration", headers=editor).json()
    assert (pending["status"], pending["method"], pending["confusable"]) == ("pending", "score", [])
    assert pending["answered_share"] is None and pending["computed_at"] is None


def test_a_knowledge_base_too_small_to_calibrate_says_so_without_numbers(
    app_client: TestClient, editor: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = "too little data to calibrate (3 articles, 9 questions; needs 20 and 60)"
    small = Calibration(
        encoder="use-multilingual-v3",
        fingerprint="x",
        bands=CalibratedBands(BandThresholds(0.72, 0.6)),
        fallback=True,
        reason=reason,
        articles=3,
        questions=9,
        examples=0,
        expected_precision=0.0,
        answered_share=0.0,
        kept_out=0.0,
        self_top1=0.0,
        confusable=[],
        seconds=0.01,
        computed_at="2026-12-01T09:00:00+00:00",
    )
    monkeypatch.setattr(calibrator(app_client), "current", small)
    shown = app_client.get("/api/v1/retrieval/calibration", headers=editor).json()
    assert (shown["status"], shown["reason"], shown["articles"]) == ("fallback", reason, 3)
    assert shown["thresholds"] == {"high": 0.72, "low": 0.6}
    assert shown["expected_precision"] is None and shown["answered_share"] is None


def test_list_with_search_filters_and_paging(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    everything = app_client.get("/api/v1/articles?limit=100", headers=editor).json()
    assert everything["count"] >= 54
    chinese = app_client.get("/api/v1/articles?language=zh&limit=100", headers=editor).json()
    assert chinese["data"] and all(a["language"] == "zh" for a in chinese["data"])
    found = app_client.get("/api/v1/articles?q=退货", headers=editor).json()
    assert "returns-policy-zh" in [a["id"] for a in found["data"]]
    page = app_client.get("/api/v1/articles?offset=10&limit=5", headers=editor).json()
    assert [a["id"] for a in page["data"]] == [a["id"] for a in everything["data"][10:15]]
    assert "returns" in everything["categories"]
    bad = app_client.get("/api/v1/articles?status=deleted", headers=editor)
    assert bad.status_code == 422


def test_read_one_with_its_rendered_body(app_client: TestClient, editor: dict[str, str]) -> None:
    article = app_client.get("/api/v1/articles/returns-policy", headers=editor).json()
    assert article["body_html"].startswith("<p>")
    assert article["questions"]
    missing = app_client.get("/api/v1/articles/nope", headers=editor)
    assert (missing.status_code, missing.json()["detail"]) == (404, "article 'nope' not found")


def test_a_published_article_is_answerable_at_once_and_gone_when_archived(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    question = "can you wrap my order as a birthday present"
    assert top_hit(app_client, editor, question) != "gift-wrapping"
    draft = create(app_client, editor)
    assert (draft["status"], draft["version"]) == ("draft", 1)
    assert top_hit(app_client, editor, question) != "gift-wrapping"  # drafts are never answered
    published = app_client.post(
        "/api/v1/articles/gift-wrapping/status",
        json={"status": "published", "expected_version": 1},
        headers=editor,
    ).json()
    assert published["version"] == 2
    assert top_hit(app_client, editor, question) == "gift-wrapping"
    archived = app_client.post(
        "/api/v1/articles/gift-wrapping/status",
        json={"status": "archived", "expected_version": 2},
        headers=editor,
    )
    assert archived.json()["status"] == "archived"
    assert top_hit(app_client, editor, question) != "gift-wrapping"


def test_creating_an_existing_id_is_409(app_client: TestClient, editor: dict[str, str]) -> None:
    response = app_client.post(
        "/api/v1/articles", json=NEW | {"id": "returns-policy"}, headers=editor
    )
    assert (response.status_code, response.json()["detail"]) == (
        409,
        "article 'returns-policy' exists already",
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "Not A Slug"}, "id"),
        ({"title": ""}, "title"),
        ({"body": "<img src=x onerror=alert(1)>"}, "body"),
        ({"language": "fr"}, "language"),
        ({"questions": ["q"] * 21}, "questions"),
    ],
)
def test_bad_articles_are_422(
    app_client: TestClient, editor: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    response = app_client.post(
        "/api/v1/articles", json=NEW | {"id": "bad-one"} | changes, headers=editor
    )
    assert response.status_code == 422
    assert field in response.json()["detail"][0]["loc"]


def test_saving_over_a_newer_version_is_refused(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    create(app_client, editor, id="locking", title="Locking")
    first = app_client.put(
        "/api/v1/articles/locking",
        json=NEW | {"title": "First edit", "expected_version": 1},
        headers=editor,
    )
    assert first.json()["version"] == 2
    stale = app_client.put(
        "/api/v1/articles/locking",
        json=NEW | {"title": "Second edit, from an old copy", "expected_version": 1},
        headers=editor,
    )
    assert stale.status_code == 409
    assert stale.json()["detail"].startswith(
        "article 'locking' changed since you loaded it: version 2 by Erin at"
    )
    current = app_client.get("/api/v1/articles/locking", headers=editor).json()
    assert current["title"] == "First edit"  # nothing was overwritten
    missing = app_client.put(
        "/api/v1/articles/nope", json=NEW | {"expected_version": 1}, headers=editor
    )
    assert missing.status_code == 404


def test_versions_diff_and_restore(app_client: TestClient, editor: dict[str, str]) -> None:
    create(app_client, editor, id="history", title="Original title")
    app_client.put(
        "/api/v1/articles/history",
        json=NEW | {"title": "Changed title", "expected_version": 1},
        headers=editor,
    )
    versions = app_client.get("/api/v1/articles/history/versions", headers=editor).json()["data"]
    assert [(v["version"], v["title"], v["author"]) for v in versions] == [
        (2, "Changed title", "Erin"),
        (1, "Original title", "Erin"),
    ]
    diff = app_client.get("/api/v1/articles/history/diff?from=1&to=2", headers=editor).json()
    assert diff["fields"] == [
        {
            "field": "title",
            "lines": [{"op": "-", "text": "Original title"}, {"op": "+", "text": "Changed title"}],
        }
    ]
    restored = app_client.post(
        "/api/v1/articles/history/restore",
        json={"version": 1, "expected_version": 2},
        headers=editor,
    ).json()
    assert (restored["version"], restored["title"]) == (3, "Original title")
    stale = app_client.post(
        "/api/v1/articles/history/restore",
        json={"version": 1, "expected_version": 2},
        headers=editor,
    )
    assert stale.status_code == 409
    unknown = app_client.get("/api/v1/articles/history/diff?from=1&to=9", headers=editor)
    assert (unknown.status_code, unknown.json()["detail"]) == (
        404,
        "article 'history' version 9 not found",
    )


def test_the_preview_renders_markdown_without_html_or_script_links(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    html = app_client.post(
        "/api/v1/articles/preview",
        json={"body": "**bold** <img src=x onerror=alert(1)> [x](javascript:alert(1))"},
        headers=editor,
    ).json()["html"]
    assert "<strong>bold</strong>" in html
    assert "<img" not in html and 'href="javascript' not in html


def test_try_a_question_shows_band_scores_and_matched_passages(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    result = app_client.post(
        "/api/v1/articles/try", json={"text": "我想退货"}, headers=editor
    ).json()
    assert result["band"] == "answer"
    assert len(result["hits"]) == 5
    assert result["hits"][0]["article_id"] == "returns-policy-zh"
    assert result["hits"][0]["matched"]["text"]
    empty = app_client.post("/api/v1/articles/try", json={"text": "  "}, headers=editor)
    assert empty.status_code == 422


def test_import_reports_each_rejected_line_and_export_gives_everything(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    good = '{"id": "imported-one", "title": "Imported", "body": "Body.", "language": "en"}'
    content = "\n".join(
        [good, "{not json", '{"id": "x", "title": "", "body": "b", "language": "en"}']
    )
    report = app_client.post(
        "/api/v1/articles/import",
        json={"format": "jsonl", "files": [{"name": "batch.jsonl", "content": content}]},
        headers=editor,
    ).json()
    assert (report["created"], len(report["rejected"])) == (1, 2)
    assert report["rejected"][0]["location"].endswith("line 2")
    markdown = "---\ntitle: From Markdown\nlanguage: zh\n---\n正文内容。"
    report = app_client.post(
        "/api/v1/articles/import",
        json={"format": "markdown", "files": [{"name": "from-md.md", "content": markdown}]},
        headers=editor,
    ).json()
    assert report["created"] == 1
    assert top_hit(app_client, editor, "From Markdown") == "from-md"
    exported = app_client.get("/api/v1/articles/export", headers=editor)
    assert exported.headers["content-disposition"].startswith("attachment")
    assert '"id": "imported-one"' in exported.text
    bad = app_client.post(
        "/api/v1/articles/import", json={"format": "csv", "files": []}, headers=editor
    )
    assert bad.status_code == 422


def test_an_import_of_two_files_of_one_name_is_refused_not_half_lost(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    markdown = "---\ntitle: Same name\nlanguage: en\n---\nBody."
    files = [{"name": "faq.md", "content": markdown}, {"name": "sub/faq.md", "content": markdown}]
    refused = app_client.post(
        "/api/v1/articles/import", json={"format": "markdown", "files": files}, headers=editor
    )
    assert refused.status_code == 422
    assert "faq.md" in refused.text


def test_an_import_of_several_jsonl_files_names_the_file_of_each_rejected_line(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    good = '{"id": "from-%s", "title": "T", "body": "Body.", "language": "en"}'
    files = [
        {"name": "a.jsonl", "content": good % "a" + "\n{not json"},
        {"name": "b.jsonl", "content": "{not json\n" + good % "b"},
    ]
    report = app_client.post(
        "/api/v1/articles/import", json={"format": "jsonl", "files": files}, headers=editor
    ).json()
    assert report["created"] == 2
    assert [r["location"] for r in report["rejected"]] == ["a.jsonl line 2", "b.jsonl line 1"]


def test_an_article_too_often_unhelpful_is_flagged_for_review(
    app_client: TestClient, editor: dict[str, str], database: DatabaseCopy
) -> None:
    engine = create_engine_for(database.url)
    with session_factory(engine)() as session:
        trail = BotTrail(session)
        for _ in range(5):
            conversation = ConversationStore(session).open("en")
            hits = [{"article_id": "warranty", "version": 1, "score": 0.8}]
            trail.record_lookup(conversation.id, "is it under warranty", "en", "answer", hits)
            trail.record_feedback(conversation.id, "warranty", 1, helpful=False)
    engine.dispose()
    flagged = app_client.get("/api/v1/articles?needs_review=true", headers=editor).json()
    row = next(a for a in flagged["data"] if a["id"] == "warranty")
    assert row["stats"] | {"needs_review": row["needs_review"]} == {
        "offered": 5,
        "answered": 5,
        "helpful": 0,
        "not_helpful": 5,
        "handoff_after": 0,
        "needs_review": True,
    }
    assert all(a["needs_review"] for a in flagged["data"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/articles/nope", None),
        ("PUT", "/api/v1/articles/nope", {**NEW, "expected_version": 1}),
        ("POST", "/api/v1/articles/nope/status", {"status": "published", "expected_version": 1}),
        ("GET", "/api/v1/articles/nope/versions", None),
        ("GET", "/api/v1/articles/nope/diff?from=1&to=2", None),
        ("POST", "/api/v1/articles/nope/restore", {"version": 1, "expected_version": 1}),
    ],
)
def test_unknown_articles_are_404_on_every_route(
    app_client: TestClient,
    editor: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    response = app_client.request(method, path, json=body, headers=editor)
    assert response.status_code == 404
    assert response.json()["detail"].startswith("article 'nope'")


def test_a_stale_status_change_is_409(app_client: TestClient, editor: dict[str, str]) -> None:
    create(app_client, editor, id="stale-status")
    response = app_client.post(
        "/api/v1/articles/stale-status/status",
        json={"status": "published", "expected_version": 7},
        headers=editor,
    )
    assert response.status_code == 409


# ----- translations

WRAP_ZH = {
    "id": "wrap-zh",
    "title": "礼品包装",
    "body": "我们可以用环保礼品纸包装任何订单，费用5元。",
    "questions": ["可以礼品包装吗？"],
    "language": "zh",
}


def test_an_article_shows_its_translations_and_the_list_filters_by_topic(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    english = app_client.get("/api/v1/articles/returns-policy", headers=editor).json()
    assert (english["topic_id"], english["translation_of"]) == ("returns-policy", None)
    assert english["translations"] == [
        {"id": "returns-policy-zh", "language": "zh", "title": "退货政策", "status": "published"}
    ]
    chinese = app_client.get("/api/v1/articles/returns-policy-zh", headers=editor).json()
    assert chinese["translation_of"] == "returns-policy"
    assert [t["id"] for t in chinese["translations"]] == ["returns-policy"]
    topic = app_client.get("/api/v1/articles?topic=returns-policy", headers=editor).json()
    assert [(a["id"], [t["id"] for t in a["translations"]]) for a in topic["data"]] == [
        ("returns-policy", ["returns-policy-zh"]),
        ("returns-policy-zh", ["returns-policy"]),
    ]
    too_long = app_client.get(f"/api/v1/articles?topic={'x' * 81}", headers=editor)
    assert too_long.status_code == 422


def test_adding_a_translation_links_both_ways(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    create(app_client, editor, id="wrap-en")
    chinese = create(app_client, editor, **WRAP_ZH, translation_of="wrap-en")
    assert (chinese["topic_id"], chinese["translation_of"]) == ("wrap-en", "wrap-en")
    assert chinese["translations"] == [
        {"id": "wrap-en", "language": "en", "title": "Gift wrapping", "status": "draft"}
    ]
    english = app_client.get("/api/v1/articles/wrap-en", headers=editor).json()
    assert [t["id"] for t in english["translations"]] == ["wrap-zh"]


@pytest.mark.parametrize(
    ("changes", "status", "detail"),
    [
        (
            {"id": "wrap-zh-2", "translation_of": "returns-policy"},
            422,
            "article 'wrap-zh-2' cannot be in one topic with 'returns-policy-zh': both are zh "
            "(a topic has one article per language)",
        ),
        (
            {"id": "wrap-zh-3", "translation_of": "nope"},
            422,
            "article 'wrap-zh-3' cannot be a translation of 'nope': no article has that id",
        ),
        (
            {"id": "wrap-zh-4", "translation_of": "wrap-zh-4"},
            422,
            "article 'wrap-zh-4' cannot be a translation of itself",
        ),
    ],
)
def test_a_translation_that_cannot_be_linked_is_refused_and_not_created(
    app_client: TestClient,
    editor: dict[str, str],
    changes: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    response = app_client.post("/api/v1/articles", json=NEW | WRAP_ZH | changes, headers=editor)
    assert (response.status_code, response.json()["detail"]) == (status, detail)
    missing = app_client.get(f"/api/v1/articles/{changes['id']}", headers=editor)
    assert missing.status_code == 404


def test_a_malformed_translation_id_is_422(app_client: TestClient, editor: dict[str, str]) -> None:
    response = app_client.post(
        "/api/v1/articles",
        json=NEW | WRAP_ZH | {"id": "wrap-zh-5", "translation_of": "Not A Slug"},
        headers=editor,
    )
    assert response.status_code == 422
    assert "translation_of" in response.json()["detail"][0]["loc"]


def test_editing_keeps_changes_or_clears_the_link(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    create(app_client, editor, id="link-en", title="Linked")
    create(app_client, editor, **WRAP_ZH | {"id": "link-zh"}, translation_of="link-en")
    edit = NEW | WRAP_ZH | {"title": "礼品包装服务", "expected_version": 1}
    kept = app_client.put("/api/v1/articles/link-zh", json=edit, headers=editor).json()
    assert (kept["version"], kept["translation_of"]) == (2, "link-en")  # left out: it stays
    unlinked = app_client.put(
        "/api/v1/articles/link-zh",
        json=edit | {"expected_version": 2, "translation_of": None},
        headers=editor,
    ).json()
    assert (unlinked["version"], unlinked["topic_id"], unlinked["translations"]) == (
        3,
        "link-zh",
        [],
    )
    clash = app_client.put(
        "/api/v1/articles/link-zh",
        json=edit | {"expected_version": 3, "translation_of": "returns-policy"},
        headers=editor,
    )
    assert clash.status_code == 422  # not 409: reloading would not help
    assert clash.json()["detail"].endswith("both are zh (a topic has one article per language)")
    unknown = app_client.put(
        "/api/v1/articles/link-zh",
        json=edit | {"expected_version": 3, "translation_of": "nope"},
        headers=editor,
    )
    assert unknown.status_code == 422
    relinked = app_client.put(
        "/api/v1/articles/link-zh",
        json=edit | {"expected_version": 3, "translation_of": "link-en"},
        headers=editor,
    ).json()
    assert relinked["topic_id"] == "link-en"
    versions = app_client.get("/api/v1/articles/link-zh/versions", headers=editor).json()["data"]
    assert [v["topic_id"] for v in versions] == ["link-en", "link-zh", "link-en", "link-en"]
    diff = app_client.get("/api/v1/articles/link-zh/diff?from=3&to=4", headers=editor).json()
    assert [f["field"] for f in diff["fields"]] == ["topic"]


def test_restoring_a_version_in_a_language_the_topic_has_is_422(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    create(app_client, editor, id="solo-en", title="Solo")
    create(app_client, editor, id="switch", title="Switch")
    edit = NEW | WRAP_ZH | {"expected_version": 1, "translation_of": "solo-en"}
    assert app_client.put("/api/v1/articles/switch", json=edit, headers=editor).status_code == 200
    refused = app_client.post(
        "/api/v1/articles/switch/restore",
        json={"version": 1, "expected_version": 2},
        headers=editor,
    )
    assert (refused.status_code, refused.json()["detail"]) == (
        422,
        "article 'switch' cannot be in one topic with 'solo-en': both are en "
        "(a topic has one article per language)",
    )


def test_an_import_with_a_bad_link_is_refused_whole_and_export_keeps_the_links(
    app_client: TestClient, editor: dict[str, str]
) -> None:
    good = '{"id": "import-link-en", "title": "Imported", "body": "Body.", "language": "en"}'
    bad = (
        '{"id": "import-link-zh", "title": "导入", "body": "正文。", "language": "zh",'
        ' "translation_of": "not-here"}'
    )
    refused = app_client.post(
        "/api/v1/articles/import",
        json={"format": "jsonl", "files": [{"name": "batch.jsonl", "content": f"{good}\n{bad}"}]},
        headers=editor,
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "batch.jsonl:2: translation_of 'not-here': no article in this import or the knowledge "
        "base has that id (nothing was imported)"
    )
    assert app_client.get("/api/v1/articles/import-link-en", headers=editor).status_code == 404
    exported = app_client.get("/api/v1/articles/export", headers=editor).text
    twin = next(line for line in exported.splitlines() if '"id": "returns-policy-zh"' in line)
    assert twin.endswith('"translation_of": "returns-policy"}')


def test_outcomes_roll_up_per_topic_counting_each_lookup_once(
    app_client: TestClient, editor: dict[str, str], database: DatabaseCopy
) -> None:
    engine = create_engine_for(database.url)
    with session_factory(engine)() as session:
        trail = BotTrail(session)
        conversation = ConversationStore(session).open("zh")
        both = [
            {"article_id": "track-order-zh", "version": 1, "score": 0.6},
            {"article_id": "track-order", "version": 1, "score": 0.5},
        ]
        trail.record_lookup(conversation.id, "我的包裹在哪", "zh", "clarify", both)
        trail.record_lookup(conversation.id, "包裹到哪了", "zh", "answer", both[:1])
        trail.record_feedback(conversation.id, "track-order-zh", 1, helpful=True)
    engine.dispose()
    article = app_client.get("/api/v1/articles/track-order", headers=editor).json()
    assert (article["stats"]["offered"], article["stats"]["answered"]) == (1, 0)
    assert article["topic_stats"] == {
        "offered": 2,
        "answered": 1,
        "helpful": 1,
        "not_helpful": 0,
        "handoff_after": 0,
    }
