"""Answer quality on a knowledge base the bands were never hand-calibrated on, and on the
demo shop's variants: Traditional, code-mixed, misspelt, long and cross-language questions.

Run with ``make bench`` (or ``python -m bench.quality``). Every number is measured on the
test sets (tests/data/retrieval/*test*.jsonl), which nothing was tuned on. The bands are
self-calibrated on each knowledge base exactly as the service does it. The baseline, run in
the same process, is the retrieval before topics and self-calibration: every article its own
topic, no character n-grams, no spelling correction, no bonus for topics in the other
language, the shipped thresholds (Chinese scripts are folded in both). It prints one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.database import upgrade_database
from db.engine import create_engine_for, session_factory
from kb.importer import import_path
from kb.schemas import ArticleSnapshot
from kb.store import ArticleStore
from retrieval.bands import load_thresholds
from retrieval.calibration import calibrate
from retrieval.encoders import DEFAULT_ENCODER, get_encoder
from retrieval.retriever import RankingWeights, Retriever, SearchResult

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "retrieval"
DEMO_KB = ROOT / "kb" / "demo" / "articles.jsonl"
TELECOM_KB = ROOT / "kb" / "samples" / "telecom" / "articles.jsonl"


def published(kb_path: Path) -> list[ArticleSnapshot]:
    """The published articles of a knowledge base file, through the real importer."""
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as folder:
        url = f"sqlite:///{folder}/kb.db"
        upgrade_database(url)
        engine = create_engine_for(url)
        try:
            with session_factory(engine)() as session:
                import_path(kb_path, ArticleStore(session))
                return ArticleStore(session).published()
        finally:
            engine.dispose()


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def build(articles: Sequence[ArticleSnapshot], baseline: bool = False) -> Retriever:
    encoder = get_encoder(DEFAULT_ENCODER)
    if baseline:
        weights = RankingWeights(char_ngrams=0.0, cross_language=0.0, correct_spelling=False)
        retriever = Retriever(encoder, load_thresholds(encoder.name), weights)
        retriever.upsert([replace(a, topic_id=a.id) for a in articles])
        return retriever
    retriever = Retriever(encoder, load_thresholds(encoder.name))
    retriever.upsert(articles)
    retriever.thresholds = calibrate(retriever, load_thresholds(encoder.name)).bands
    return retriever


def top1(retriever: Retriever, rows: Sequence[dict[str, Any]], field: str = "text") -> float:
    answerable = [row for row in rows if row["article_id"] is not None]
    right = 0
    for row in answerable:
        result = retriever.search(row[field], k=3)
        right += result.top is not None and result.top.article_id == row["article_id"]
    return round(right / len(answerable), 3) if answerable else 0.0


def bands(retriever: Retriever, rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    results: list[tuple[dict[str, Any], SearchResult]] = [
        (row, retriever.search(row["text"], k=3)) for row in rows
    ]
    answered = [(row, r) for row, r in results if r.band.value == "answer"]
    right = sum(r.top is not None and r.top.article_id == row["article_id"] for row, r in answered)
    answerable = [row for row in rows if row["article_id"] is not None]
    no_article = [row for row in rows if row["article_id"] is None]
    kept_out = sum(r.band.value != "answer" for row, r in results if row["article_id"] is None)
    return {
        "precision_in_answer": round(right / len(answered), 3) if answered else 0.0,
        "answered_share": round(
            sum(row["article_id"] is not None for row, _ in answered) / len(answerable), 3
        ),
        "no_article_kept_out": round(kept_out / len(no_article), 3) if no_article else 1.0,
        "top1": top1(retriever, rows),
    }


def of_kind(rows: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [row for row in rows if row.get("kind") == kind]


def search_p50_ms(retriever: Retriever, rows: Sequence[dict[str, Any]], rounds: int = 3) -> float:
    latencies = []
    for _ in range(rounds):
        for row in rows:
            started = time.perf_counter()
            retriever.search(row["text"], k=5)
            latencies.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(latencies), 2)


def large_kb(articles: Sequence[ArticleSnapshot], size: int) -> list[ArticleSnapshot]:
    """``size`` articles made of copies of real ones (for timing only: copies are confusable)."""
    copies = []
    for n in range(size):
        article = articles[n % len(articles)]
        suffix = f"-copy{n // len(articles)}"
        copies.append(replace(article, id=article.id + suffix, topic_id=article.topic_id + suffix))
    return copies


def calibration_under_load(articles: Sequence[ArticleSnapshot], rows: Sequence[dict[str, Any]]):
    """Seconds to calibrate a large knowledge base in a background thread, and the search p50
    meanwhile against the p50 before."""
    retriever = Retriever(get_encoder(DEFAULT_ENCODER), load_thresholds(DEFAULT_ENCODER))
    retriever.upsert(articles)
    before = search_p50_ms(retriever, rows, rounds=1)
    done: dict[str, float] = {}

    def work() -> None:
        started = time.perf_counter()
        calibrate(retriever, load_thresholds(DEFAULT_ENCODER))
        done["seconds"] = time.perf_counter() - started

    thread = threading.Thread(target=work)
    thread.start()
    latencies = []
    while thread.is_alive():
        for row in rows[:20]:
            started = time.perf_counter()
            retriever.search(row["text"], k=5)
            latencies.append((time.perf_counter() - started) * 1000)
    thread.join()
    return {
        "articles": len(articles),
        "calibration_s": round(done["seconds"], 1),
        "search_p50_ms_before": before,
        "search_p50_ms_during": round(statistics.median(latencies), 2) if latencies else None,
        "searches_during": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", type=int, default=1000, help="articles for the timing run")
    args = parser.parse_args()
    demo, telecom = published(DEMO_KB), published(TELECOM_KB)
    demo_test, variants = read(DATA / "queries_test.jsonl"), read(DATA / "variants_test.jsonl")
    telecom_test = read(DATA / "telecom" / "queries_test.jsonl")
    print("building and calibrating…", file=sys.stderr)
    now, before = build(demo), build(demo, baseline=True)
    telecom_now, telecom_before = build(telecom), build(telecom, baseline=True)
    traditional, misspelt = of_kind(variants, "traditional"), of_kind(variants, "misspelt")
    cross = of_kind(variants, "cross_language") + of_kind(telecom_test, "cross_language")
    report: dict[str, Any] = {
        "telecom_test": bands(telecom_now, telecom_test)
        | {"baseline": bands(telecom_before, telecom_test), "queries": len(telecom_test)},
        "demo_test": {
            "top1": top1(now, demo_test),
            "baseline_top1": top1(before, demo_test),
            "queries": len(demo_test),
        },
        "demo_variants_test": bands(now, variants)
        | {
            "queries": len(variants),
            "by_kind": {
                kind: top1(now, of_kind(variants, kind))
                for kind in sorted({row["kind"] for row in variants if row["kind"] != "none"})
            },
            "traditional_top1": top1(now, traditional),
            "same_questions_in_simplified_top1": top1(now, traditional, "simplified"),
            "baseline_traditional_top1": top1(before, traditional),
            "misspelt_top1": top1(now, misspelt),
            "same_questions_spelt_right_top1": top1(now, misspelt, "correct"),
            "baseline_misspelt_top1": top1(before, misspelt),
        },
        "cross_language_test": {
            "queries": len(cross),
            "top1_demo": top1(now, of_kind(variants, "cross_language")),
            "top1_telecom": top1(telecom_now, of_kind(telecom_test, "cross_language")),
            "baseline_top1_demo": top1(before, of_kind(variants, "cross_language")),
            "baseline_top1_telecom": top1(telecom_before, of_kind(telecom_test, "cross_language")),
        },
        "search_p50_ms": search_p50_ms(now, demo_test),
        "baseline_search_p50_ms": search_p50_ms(before, demo_test),
    }
    print(f"calibrating {args.large} articles under search load…", file=sys.stderr)
    report["calibration_large_kb"] = calibration_under_load(
        large_kb([*demo, *telecom], args.large), demo_test
    )
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
