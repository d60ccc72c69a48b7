"""Compare the encoder backends on the bilingual evaluation sets (README, "Choosing the encoder").

For each encoder: ranking quality overall, per query language and across languages (a query
whose expected article is in the other language), how well the top score separates answerable
from unanswerable queries (ROC AUC), and query latency. Dense-only and hybrid rankings are both
reported, so the encoder's own contribution is visible.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bot.database import upgrade_database
from db.engine import create_engine_for, session_factory
from kb.importer import import_path
from kb.schemas import ArticleSnapshot
from kb.store import ArticleStore
from retrieval.bands import load_thresholds
from retrieval.encoders import ENCODER_NAMES, get_encoder
from retrieval.evaluation import QueryOutcome, ranking_metrics, read_queries, run_queries
from retrieval.retriever import Retriever, SearchMode

REPO = Path(__file__).resolve().parent.parent


def load_articles(path: Path) -> list[ArticleSnapshot]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/kb.db"
        upgrade_database(url)
        engine = create_engine_for(url)
        with session_factory(engine)() as session:
            store = ArticleStore(session)
            import_path(path, store)
            articles = store.published()
        engine.dispose()
    return articles


def separation_auc(outcomes: list[QueryOutcome]) -> float:
    """P(top score of a correctly answered query > that of an unanswerable one)."""
    good = [o.top_score or 0.0 for o in outcomes if o.expected is not None and o.rank == 1]
    bad = [o.top_score or 0.0 for o in outcomes if o.expected is None]
    if not good or not bad:
        return 0.0
    wins = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return round(wins / (len(good) * len(bad)), 3)


def compare(kb_path: Path, query_paths: list[Path]) -> list[dict[str, object]]:
    articles = load_articles(kb_path)
    language_of = {a.id: a.language for a in articles}
    queries = [q for path in query_paths for q in read_queries(path)]
    rows = []
    for name in ENCODER_NAMES:
        encoder = get_encoder(name)
        retriever = Retriever(encoder, load_thresholds(name))
        retriever.upsert(articles)
        dense, _ = run_queries(retriever, queries, SearchMode.DENSE)
        hybrid, latencies = run_queries(retriever, queries)
        cross = [o for o in hybrid if o.expected and language_of.get(o.expected) != o.language]
        latencies.sort()
        rows.append(
            {
                "encoder": name,
                "dimension": encoder.dimension,
                "dense_top1": ranking_metrics(dense).top1,
                "hybrid_top1": ranking_metrics(hybrid).top1,
                "hybrid_mrr": ranking_metrics(hybrid).mrr,
                "zh_top1": ranking_metrics([o for o in hybrid if o.language == "zh"]).top1,
                "en_top1": ranking_metrics([o for o in hybrid if o.language == "en"]).top1,
                "cross_lingual_top1": ranking_metrics(cross).top1,
                "cross_lingual_queries": len(cross),
                "dense_separation_auc": separation_auc(dense),
                "search_p50_ms": round(latencies[len(latencies) // 2], 2),
            }
        )
    return rows


def markdown(rows: list[dict[str, object]], queries: int) -> str:
    lines = [
        f"{queries} queries (dev + test sets). top-1 unless said; AUC: how well the dense top "
        "score separates correctly answered from unanswerable queries.",
        "",
        "| encoder | dim | dense top-1 | hybrid top-1 | hybrid MRR | zh top-1 | en top-1 | "
        "cross-lingual top-1 | dense AUC | search p50 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['encoder']}` | {r['dimension']} | {r['dense_top1']} | {r['hybrid_top1']} | "
            f"{r['hybrid_mrr']} | {r['zh_top1']} | {r['en_top1']} | {r['cross_lingual_top1']} "
            f"(n={r['cross_lingual_queries']}) | {r['dense_separation_auc']} | "
            f"{r['search_p50_ms']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb", type=Path, default=REPO / "kb/demo/articles.jsonl")
    data = REPO / "tests/data/retrieval"
    parser.add_argument(
        "--queries",
        type=Path,
        nargs="+",
        default=[data / "queries_dev.jsonl", data / "queries_test.jsonl"],
    )
    parser.add_argument("--out", type=Path, default=Path("var/bench/encoders.json"))
    args = parser.parse_args()
    rows = compare(args.kb, args.queries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    count = sum(len(read_queries(p)) for p in args.queries)
    print(markdown(rows, count))


if __name__ == "__main__":
    main()
