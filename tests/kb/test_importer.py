import json
from pathlib import Path

import pytest

from db.engine import create_engine_for, session_factory
from kb.importer import ImportRefusedError, ImportSourceError, export_jsonl, import_path
from kb.store import ArticleStore
from tests.conftest import DEMO_KB
from tests.servers.databases import FreshDatabases

GOOD = {
    "id": "refund-timeline",
    "title": "How long refunds take",
    "body": "Refunds arrive in 3-10 business days.",
    "questions": ["When will I get my refund?"],
    "category": "returns",
    "tags": ["refund"],
    "language": "en",
    "status": "published",
}


def write_lines(path: Path, *lines: object) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_jsonl_import_creates_then_updates(tmp_path: Path, store: ArticleStore) -> None:
    source = write_lines(tmp_path / "kb.jsonl", GOOD, {**GOOD, "id": "b", "language": "zh"})
    assert import_path(source, store).counts() == {"created": 2}
    write_lines(source, {**GOOD, "title": "Refund times"}, {**GOOD, "id": "b", "language": "zh"})
    assert import_path(source, store).counts() == {"updated": 1, "unchanged": 1}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON: Expecting property name"),
        ({k: v for k, v in GOOD.items() if k != "title"}, "missing field 'title'"),
        ({**GOOD, "language": "fr"}, "unknown language 'fr' (expected zh or en)"),
        ({**GOOD, "status": "live"}, "unknown status 'live'"),
        ({**GOOD, "id": "Bad Id"}, "invalid id 'Bad Id'"),
        ({**GOOD, "title": "   "}, "'title' is empty"),
        ({**GOOD, "colour": "red"}, "unknown field 'colour'"),
        ("[1, 2]", "expected a JSON object"),
        ({**GOOD, "body": "x" * 20_001}, "'body' is too long"),
    ],
)
def test_bad_lines_are_rejected_with_their_line_and_the_rest_imported(
    tmp_path: Path, store: ArticleStore, line: object, reason: str
) -> None:
    source = write_lines(tmp_path / "kb.jsonl", {**GOOD, "id": "first"}, line, GOOD)
    report = import_path(source, store)
    assert [e.location for e in report.rejected] == ["line 2"]
    assert reason in report.rejected[0].reason
    assert {a.id for a in store.articles()} == {"first", "refund-timeline"}


def test_duplicate_id_in_one_file_is_rejected(tmp_path: Path, store: ArticleStore) -> None:
    source = write_lines(tmp_path / "kb.jsonl", GOOD, "", {**GOOD, "title": "Other"})
    report = import_path(source, store)
    assert report.rejected[0].location == "line 3"
    assert "duplicate id 'refund-timeline' (already at line 1" in report.rejected[0].reason
    stored = store.get("refund-timeline")
    assert stored is not None and stored.title == "How long refunds take"


def test_markdown_folder_import(tmp_path: Path, store: ArticleStore) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "warranty.md").write_text(
        "---\ntitle: Warranty\nquestions:\n  - Is it under warranty?\nlanguage: en\n---\n"
        "# Warranty\n\nOne year on everything.\n",
        encoding="utf-8",
    )
    (folder / "broken.md").write_text("no front matter here\n", encoding="utf-8")
    (folder / "unclosed.md").write_text("---\ntitle: x\n", encoding="utf-8")
    report = import_path(folder, store)
    assert report.counts() == {"created": 1, "rejected": 2}
    assert {e.location: e.reason for e in report.rejected} == {
        "broken.md": "missing front matter (a '---' line must open the file)",
        "unclosed.md": "front matter is not closed by a '---' line",
    }
    warranty = store.get("warranty")
    assert warranty is not None
    assert warranty.body == "# Warranty\n\nOne year on everything."
    assert warranty.status == "published"


def test_unreadable_sources_give_a_clear_error(tmp_path: Path, store: ArticleStore) -> None:
    with pytest.raises(ImportSourceError, match="no such file"):
        import_path(tmp_path / "missing.jsonl", store)
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes('{"title": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(ImportSourceError, match="not UTF-8"):
        import_path(latin1, store)
    with pytest.raises(ImportSourceError, match=r"expected a \.jsonl file"):
        import_path(write_lines(tmp_path / "kb.csv", "a,b"), store)


def test_export_then_import_round_trips(tmp_path: Path, store: ArticleStore) -> None:
    chinese = {**GOOD, "id": "refund-timeline-zh", "title": "退款多久到账", "language": "zh"}
    import_path(write_lines(tmp_path / "kb.jsonl", GOOD, chinese), store)
    exported = tmp_path / "out" / "export.jsonl"
    assert export_jsonl(exported, store) == 2
    assert "退款多久到账" in exported.read_text(encoding="utf-8")  # not \u-escaped
    assert json.loads(exported.read_text(encoding="utf-8").splitlines()[0]) == GOOD
    assert import_path(exported, store).counts() == {"unchanged": 2}


# ----- translation links

ZH = {**GOOD, "id": "refund-timeline-zh", "title": "退款多久到账", "language": "zh"}


def topics(store: ArticleStore) -> dict[str, str]:
    return {a.id: a.topic_id for a in store.articles()}


def test_a_link_may_point_forward_in_the_file(tmp_path: Path, store: ArticleStore) -> None:
    source = write_lines(tmp_path / "kb.jsonl", {**ZH, "translation_of": "refund-timeline"}, GOOD)
    assert import_path(source, store).counts() == {"created": 2}
    assert topics(store) == {
        "refund-timeline": "refund-timeline",
        "refund-timeline-zh": "refund-timeline",
    }
    stored = store.get("refund-timeline-zh")
    assert stored is not None and stored.version == 1  # linked as it is created, one version


def test_a_link_may_name_an_article_already_stored(tmp_path: Path, store: ArticleStore) -> None:
    import_path(write_lines(tmp_path / "en.jsonl", GOOD), store)
    source = write_lines(tmp_path / "zh.jsonl", {**ZH, "translation_of": "refund-timeline"})
    assert import_path(source, store).counts() == {"created": 1}
    assert topics(store)["refund-timeline-zh"] == "refund-timeline"


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            [GOOD, {**ZH, "translation_of": "nope"}],
            "kb.jsonl:2: translation_of 'nope': no article in this import or the knowledge "
            "base has that id",
        ),
        (
            [{**GOOD, "title": ""}, {**ZH, "translation_of": "refund-timeline"}],
            "kb.jsonl:2: translation_of 'refund-timeline': no article in this import or the "
            "knowledge base has that id (its own line was rejected)",
        ),
        (
            [GOOD, {**ZH, "language": "en", "translation_of": "refund-timeline"}],
            "kb.jsonl:2: article 'refund-timeline-zh' cannot be in one topic with "
            "'refund-timeline': both are en",
        ),
        (
            [GOOD, {**ZH, "translation_of": "refund-timeline-zh"}],
            "kb.jsonl:2: article 'refund-timeline-zh' cannot be a translation of itself",
        ),
        (
            [
                {**GOOD, "translation_of": "refund-timeline-zh"},
                {**ZH, "translation_of": "refund-timeline"},
            ],
            "kb.jsonl:1: translation links go round in a circle ('refund-timeline' → "
            "'refund-timeline-zh' → 'refund-timeline')",
        ),
    ],
)
def test_an_import_whose_links_do_not_hold_is_refused_whole(
    tmp_path: Path, store: ArticleStore, lines: list[object], problem: str
) -> None:
    other = {**GOOD, "id": "unrelated", "title": "Unrelated"}
    source = write_lines(tmp_path / "kb.jsonl", *lines, other)
    with pytest.raises(ImportRefusedError) as refused:
        import_path(source, store)
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith(problem)
    assert str(refused.value).endswith("(nothing was imported)")
    assert store.articles() == []  # not even the lines without a problem


def test_a_second_article_of_a_language_already_in_the_topic_is_refused(
    tmp_path: Path, store: ArticleStore
) -> None:
    import_path(
        write_lines(tmp_path / "a.jsonl", GOOD, {**ZH, "translation_of": GOOD["id"]}), store
    )
    second = {**ZH, "id": "refund-times-zh", "translation_of": "refund-timeline"}
    source = write_lines(tmp_path / "b.jsonl", {**GOOD, "title": "Refund times"}, second)
    with pytest.raises(
        ImportRefusedError, match=r"b\.jsonl:2: .* 'refund-timeline-zh': both are zh"
    ):
        import_path(source, store)
    stored = store.get("refund-timeline")
    assert stored is not None and stored.version == 1  # line 1 was not written either


def test_every_problem_is_told_with_its_line(tmp_path: Path, store: ArticleStore) -> None:
    source = write_lines(
        tmp_path / "kb.jsonl",
        {**GOOD, "translation_of": "missing-a"},
        "",
        {**ZH, "translation_of": "missing-b"},
    )
    with pytest.raises(ImportRefusedError) as refused:
        import_path(source, store)
    assert [p.split(": ")[0] for p in refused.value.problems] == ["kb.jsonl:1", "kb.jsonl:3"]


def test_an_invalid_translation_id_rejects_its_line(tmp_path: Path, store: ArticleStore) -> None:
    report = import_path(
        write_lines(tmp_path / "kb.jsonl", {**GOOD, "translation_of": "A B"}), store
    )
    assert [e.reason for e in report.rejected] == [
        "invalid translation_of 'A B' (the id of another article)"
    ]


def test_a_file_without_translation_of_keeps_the_links_and_null_unlinks(
    tmp_path: Path, store: ArticleStore
) -> None:
    import_path(
        write_lines(tmp_path / "a.jsonl", GOOD, {**ZH, "translation_of": GOOD["id"]}), store
    )
    assert import_path(write_lines(tmp_path / "b.jsonl", GOOD, ZH), store).counts() == {
        "unchanged": 2
    }
    unlinked = write_lines(tmp_path / "c.jsonl", {**ZH, "translation_of": None})
    assert import_path(unlinked, store).counts() == {"updated": 1}
    assert topics(store)["refund-timeline-zh"] == "refund-timeline-zh"


def test_markdown_front_matter_links_and_refusals_name_the_file(
    tmp_path: Path, store: ArticleStore
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "warranty.md").write_text(
        "---\ntitle: Warranty\nlanguage: en\n---\nOne year.\n", encoding="utf-8"
    )
    (folder / "warranty-zh.md").write_text(
        "---\ntitle: 保修\nlanguage: zh\ntranslation_of: warranty\n---\n一年。\n", encoding="utf-8"
    )
    assert import_path(folder, store).counts() == {"created": 2}
    assert topics(store)["warranty-zh"] == "warranty"
    (folder / "repairs-zh.md").write_text(
        "---\ntitle: 维修\nlanguage: zh\ntranslation_of: warranty\n---\n维修。\n", encoding="utf-8"
    )
    with pytest.raises(ImportRefusedError, match=r"^repairs-zh\.md: .*both are zh"):
        import_path(folder, store)
    assert store.get("repairs-zh") is None


def test_export_then_import_into_an_empty_database_keeps_the_topics(
    tmp_path: Path, store: ArticleStore, fresh_databases: FreshDatabases
) -> None:
    lonely = {**GOOD, "id": "gift-card", "title": "Gift cards"}
    import_path(
        write_lines(tmp_path / "kb.jsonl", {**ZH, "translation_of": GOOD["id"]}, GOOD, lonely),
        store,
    )
    exported = tmp_path / "export.jsonl"
    export_jsonl(exported, store)
    records = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert [r.get("translation_of") for r in records] == [None, None, "refund-timeline"]
    assert "translation_of" not in records[0]  # only the other articles of a topic carry it
    with fresh_databases.fresh(tmp_path, name="fresh") as fresh_url:
        engine = create_engine_for(fresh_url)
        with session_factory(engine)() as session:
            fresh = ArticleStore(session)
            assert import_path(exported, fresh).counts() == {"created": 3}
            assert topics(fresh) == topics(store)
        engine.dispose()
    assert import_path(exported, store).counts() == {"unchanged": 3}


def test_the_demo_knowledge_base_links_its_pairs(store: ArticleStore) -> None:
    import_path(DEMO_KB, store)
    linked = {a.id: a.topic_id for a in store.articles() if a.translation_of}
    assert len(linked) == 24
    assert all(article_id == f"{topic}-zh" for article_id, topic in linked.items())
    unpaired = store.get("installment-payment-zh")  # Chinese only: its own topic
    assert unpaired is not None and unpaired.topic_id == "installment-payment-zh"


def test_a_byte_order_mark_is_not_part_of_the_first_line(
    tmp_path: Path, store: ArticleStore
) -> None:
    source = tmp_path / "kb.jsonl"
    source.write_text("\ufeff" + json.dumps(GOOD) + "\n", encoding="utf-8")
    assert import_path(source, store).counts() == {"created": 1}
    folder = tmp_path / "md"
    folder.mkdir()
    (folder / "a.md").write_text("\ufeff---\ntitle: T\nlanguage: en\n---\nBody.", "utf-8")
    assert import_path(folder, store).counts() == {"created": 1}


def test_jsonl_files_of_one_folder_name_their_file_in_each_location(
    tmp_path: Path, store: ArticleStore
) -> None:
    write_lines(tmp_path / "a.jsonl", {**GOOD, "id": "one"}, "{not json")
    write_lines(tmp_path / "b.jsonl", "{not json", {**GOOD, "id": "two"})
    report = import_path(tmp_path, store)
    assert [e.location for e in report.rejected] == ["a.jsonl line 2", "b.jsonl line 1"]
    assert {a.id for a in store.articles()} == {"one", "two"}
