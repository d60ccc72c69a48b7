"""The ``kefu`` CLI end to end: a real database (SQLite, or PostgreSQL with
KEFU_TEST_DATABASE=postgres), real model, real FAISS index on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import get_settings
from db.engine import create_engine_for, sqlite_file
from retrieval.index_store import MANIFEST_FILE
from tests.conftest import DEMO_KB
from tests.servers.databases import FreshDatabases

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_databases: FreshDatabases
) -> Iterator[Path]:
    """A folder for the index and the files, and DATABASE_URL an empty database (kefu.db
    there, on SQLite, once a command makes it) that the commands migrate themselves."""
    with fresh_databases.fresh(tmp_path, migrated=False) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("KEFU_INDEX_DIR", str(tmp_path / "index"))
        get_settings.cache_clear()
        yield tmp_path
        get_settings.cache_clear()


def nothing_in(url: str) -> bool:
    """Whether the database at ``url`` has no table (or, on SQLite, does not exist)."""
    path = sqlite_file(url)
    if path is not None:
        return not path.exists()
    engine = create_engine_for(url)
    try:
        return inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def kefu(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_import_then_search_both_languages(workspace: Path) -> None:
    code, out, _ = kefu("kb", "import", str(DEMO_KB))
    assert code == 0
    assert "created" in out
    assert (workspace / "index" / MANIFEST_FILE).exists()

    code, out, _ = kefu("kb", "search", "我想退货", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["band"] == "answer"
    assert result["hits"][0]["article_id"] == "returns-policy-zh"
    assert result["hits"][0]["version"] == 1

    code, out, _ = kefu("kb", "search", "how long does a refund take", "--k", "3")
    assert code == 0
    assert "band: answer" in out
    assert out.index("refund-timeline") < out.index("2. ")


def test_reimport_changes_nothing_and_export_round_trips(workspace: Path) -> None:
    assert kefu("kb", "import", str(DEMO_KB))[0] == 0
    exported = workspace / "export.jsonl"
    code, out, _ = kefu("kb", "export", str(exported))
    assert code == 0
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(DEMO_KB.read_text(encoding="utf-8").splitlines())
    code, out, err = kefu("kb", "import", str(exported))
    assert code == 0
    assert "created" not in out and "updated" not in out
    assert "unchanged" in out
    assert "index" not in err  # nothing changed, so nothing was re-indexed


def test_edit_is_searchable_after_reimport(workspace: Path) -> None:
    assert kefu("kb", "import", str(DEMO_KB))[0] == 0
    edited = workspace / "edit.jsonl"
    article = json.loads(DEMO_KB.read_text(encoding="utf-8").splitlines()[0])
    article["questions"].append("Is there a loyalty discount for left-handed customers?")
    edited.write_text(json.dumps(article, ensure_ascii=False) + "\n", encoding="utf-8")
    code, out, err = kefu("kb", "import", str(edited))
    assert (code, "1 updated" in out, "1 updated" in err) == (0, True, True)
    code, out, _ = kefu("kb", "search", "loyalty discount for left-handed customers", "--json")
    top = json.loads(out)["hits"][0]
    assert (top["article_id"], top["version"]) == (article["id"], 2)


def test_bad_lines_are_reported_and_good_ones_imported(workspace: Path) -> None:
    source = workspace / "mixed.jsonl"
    good = {
        "id": "gift-wrap",
        "title": "Gift wrapping",
        "body": "We wrap gifts for free.",
        "questions": ["Do you wrap gifts?"],
        "category": "orders",
        "tags": [],
        "language": "en",
        "status": "published",
    }
    source.write_text(
        json.dumps(good)
        + "\n{broken json\n"
        + json.dumps({**good, "id": "no-title", "title": ""})
        + "\n",
        encoding="utf-8",
    )
    code, out, err = kefu("kb", "import", str(source))
    assert code == 1
    assert "line 2" in err and "line 3" in err
    assert "1 created" in out
    code, out, _ = kefu("kb", "search", "do you wrap gifts", "--json")
    assert json.loads(out)["hits"][0]["article_id"] == "gift-wrap"


def test_eval_uses_a_throwaway_database(workspace: Path) -> None:
    queries = workspace / "q.jsonl"
    queries.write_text(
        '{"text": "我想退货", "article_id": "returns-policy-zh"}\n'
        '{"text": "what is the weather in Paris", "article_id": null}\n',
        encoding="utf-8",
    )
    code, out, _ = kefu(
        "eval", "retrieval", "--kb", str(DEMO_KB), "--queries", str(queries), "--json"
    )
    assert code == 0
    report = json.loads(out)
    assert report["queries"] == 2
    assert report["hybrid"]["top1"] == 1.0
    assert {
        "bm25_baseline",
        "latency_p50_ms",
        "latency_p99_ms",
        "unanswerable_kept_out",
        "answer_band_share",
        "answer_band_accuracy",
    } <= set(report)
    assert nothing_in(os.environ["DATABASE_URL"])  # the service's database is untouched


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("kb", "import", "does-not-exist.jsonl"), "no such file"),
        (("kb", "search", "   "), "the question is empty"),
    ],
)
def test_clear_errors(workspace: Path, args: tuple[str, ...], message: str) -> None:
    code, _, err = kefu(*args)
    assert code == 2
    assert message in err


def test_malformed_query_file_names_the_line(workspace: Path) -> None:
    queries = workspace / "q.jsonl"
    queries.write_text('{"text": "hi", "article_id": null}\nnot json\n', encoding="utf-8")
    code, _, err = kefu("eval", "retrieval", "--kb", str(DEMO_KB), "--queries", str(queries))
    assert code == 2
    assert ":2: invalid JSON" in err


def test_an_import_with_a_bad_translation_link_is_refused_and_writes_nothing(
    workspace: Path,
) -> None:
    source = workspace / "linked.jsonl"
    english = {"id": "gift-wrap", "title": "Gift wrapping", "body": "Free.", "language": "en"}
    chinese = {**english, "id": "gift-wrap-zh", "language": "zh", "translation_of": "gift-wrpa"}
    source.write_text(json.dumps(english) + "\n" + json.dumps(chinese) + "\n", encoding="utf-8")
    code, _, err = kefu("kb", "import", str(source))
    assert code == 2
    assert "error: linked.jsonl:2: translation_of 'gift-wrpa': no article" in err
    assert "nothing was imported" in err
    exported = workspace / "export.jsonl"
    assert kefu("kb", "export", str(exported))[0] == 0
    assert exported.read_text(encoding="utf-8") == ""


@pytest.mark.parametrize("command", ["retrieval", "calibrate"])
def test_eval_on_a_knowledge_base_that_cannot_be_imported_is_a_clear_error(
    workspace: Path, command: str
) -> None:
    queries = workspace / "q.jsonl"
    queries.write_text('{"text": "我想退货", "article_id": "returns-policy-zh"}\n', "utf-8")
    linked = workspace / "linked.jsonl"
    english = {"id": "gift-wrap", "title": "Gift wrapping", "body": "Free.", "language": "en"}
    chinese = {**english, "id": "gift-wrap-zh", "language": "zh", "translation_of": "gift-wrpa"}
    linked.write_text(json.dumps(english) + "\n" + json.dumps(chinese) + "\n", encoding="utf-8")
    wrong_kind = workspace / "articles.csv"
    wrong_kind.write_text("id,title\n", encoding="utf-8")
    for kb, message in [
        (linked, "error: linked.jsonl:2: translation_of 'gift-wrpa': no article"),
        (wrong_kind, "error: " + f"{wrong_kind}: expected a .jsonl file or a folder of .md files"),
    ]:
        code, out, err = kefu("eval", command, "--kb", str(kb), "--queries", str(queries))
        assert (code, out) == (2, "")
        assert message in err
        assert "Traceback" not in err


def test_report_prints_the_kpis_and_json_alone_on_stdout(workspace: Path) -> None:
    from bot.database import upgrade_database
    from db.engine import create_engine_for, session_factory
    from tests.bot.analytics.shop_week import seed_shop_week

    url = os.environ["DATABASE_URL"]
    upgrade_database(url)
    engine = create_engine_for(url)
    with session_factory(engine)() as session:
        seed_shop_week(session)
    engine.dispose()
    week = ("--since", "2026-11-10", "--until", "2026-11-16", "--tz", "UTC")
    code, out, _ = kefu("report", *week)
    assert code == 0
    assert "2026-11-10 – 2026-11-16 (UTC), against 2026-11-03 – 2026-11-09" in out
    line = next(row for row in out.splitlines() if row.startswith("containment_rate"))
    assert line.split() == ["containment_rate", "33.33", "100.0", "percent"]
    channels = [row.split() for row in out.splitlines() if row.startswith(("widget", "email"))]
    assert channels == [
        ["widget", "11", "3", "3", "3.667", "(3)"],
        ["email", "1", "1", "0", "-", "(0)"],
    ]
    code, out, _ = kefu("report", *week, "--language", "zh", "--json")
    assert code == 0
    body = json.loads(out)  # stdout is exactly one JSON object
    assert body["kpis"]["conversations"] == {
        "value": 1,
        "previous": 0,
        "unit": "count",
        "outcome": None,
    }
    assert set(body) == {"range", "previous", "kpis", "series", "tables"}


def test_report_refuses_a_bad_period(workspace: Path) -> None:
    code, out, err = kefu("report", "--since", "2026-11-10", "--until", "2026-11-01")
    assert (code, out) == (2, "")
    assert "until (2026-11-01) is before since (2026-11-10)" in err
    code, _, err = kefu("report", "--since", "10/11/2026")
    assert code == 2 and "--since: '10/11/2026' is not a date" in err
    code, _, err = kefu("report", "--channel", "fax")
    assert code == 2 and "channel must be one of widget, email" in err
