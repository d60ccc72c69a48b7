import json
from pathlib import Path

import pytest

from kb.importer import ImportSourceError, export_jsonl, import_path
from kb.store import ArticleStore

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
