"""Retrieval benchmark: encoding, search latency at 1k/10k/100k passages, builds, updates, memory.

Run with ``make bench``. Every number is measured in this process; ratios compare with
baselines measured in the same run (BM25-only search; the English MiniLM encoder).
Filler articles make up the size: their passages draw on a pool of distinct sentences
that is encoded once for real, so large indexes do not need hours of encoding.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from retrieval.bands import load_thresholds
from retrieval.encoders import DEFAULT_ENCODER, get_encoder
from retrieval.encoders.base import SentenceEncoder, Vectors
from retrieval.retriever import Retriever, SearchMode

_WORDS_EN = tuple(
    "order parcel refund invoice coupon warranty account password delivery courier return "
    "exchange payment card wallet member points address store pickup size colour voucher "
    "receipt tracking customs battery charger screen laptop phone jacket shoes kettle".split(" ")
)
_WORDS_ZH = list(
    "订单包裹退款发票优惠券保修账户密码配送快递退货换货支付会员积分地址门店尺码颜色物流"
)
QUERIES = [
    "how long does a refund take",
    "我想退货",
    "where is my parcel",
    "发票怎么开",
    "my card was declined",
    "忘记密码了怎么办",
    "can I change my delivery address",
    "优惠券用不了",
    "the item arrived broken",
    "会员有什么好处",
]


@dataclass(frozen=True, slots=True)
class FillerArticle:
    id: str
    version: int
    title: str
    body: str
    questions: list[str]
    language: str
    status: str = "published"


class PooledEncoder:
    """Wraps a real encoder; documents from the pool reuse their once-computed vectors."""

    def __init__(self, encoder: SentenceEncoder, pool: dict[str, np.ndarray]) -> None:
        self.name = encoder.name
        self.dimension = encoder.dimension
        self._encoder = encoder
        self._pool = pool

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encoder.encode_queries(texts)

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in texts if t not in self._pool]
        if missing:
            for text, vector in zip(missing, self._encoder.encode_documents(missing), strict=True):
                self._pool[text] = vector
        return np.vstack([self._pool[t] for t in texts]).astype(np.float32)


def _sentence(rng: random.Random, i: int) -> str:
    if i % 2:
        return "".join(rng.choices(_WORDS_ZH, k=rng.randint(8, 20))) + f"{i}号"
    return " ".join(rng.choices(_WORDS_EN, k=rng.randint(6, 14))) + f" case {i}."


def filler_articles(passages: int, pool: list[str], seed: int = 7) -> list[FillerArticle]:
    """Articles of 8 passages each (title + 4 questions + 3 body paragraphs)."""
    rng = random.Random(seed)
    articles = []
    for n in range(max(1, passages // 8)):
        picks = rng.sample(pool, 8)
        articles.append(
            FillerArticle(
                id=f"filler-{n}",
                version=1,
                title=picks[0],
                questions=picks[1:5],
                body="\n\n".join(picks[5:8]),
                language="zh" if n % 2 else "en",
            )
        )
    return articles


def _ms(samples: list[float]) -> tuple[float, float]:
    p = statistics.quantiles(samples, n=100, method="inclusive")
    return round(p[49], 2), round(p[98], 2)


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def encode_throughput(encoder: SentenceEncoder, texts: list[str]) -> float:
    encoder.encode_documents(texts[:64])  # warm-up
    started = time.perf_counter()
    encoder.encode_documents(texts)
    return round(len(texts) / (time.perf_counter() - started), 1)


def _measure_size(
    encoder: PooledEncoder, size: int, pool: list[str], repeat: int
) -> dict[str, object]:
    articles = filler_articles(size, pool)
    retriever = Retriever(encoder, load_thresholds(encoder.name))
    started = time.perf_counter()
    retriever.upsert(articles)
    build_s = time.perf_counter() - started
    queries = iter(QUERIES * repeat)
    hybrid = _timed(lambda: retriever.search(next(queries)), repeat)
    queries = iter(QUERIES * repeat)
    lexical = _timed(lambda: retriever.search(next(queries), mode=SearchMode.LEXICAL), repeat)
    edits = iter(range(2, 10_000))

    def edit_one() -> None:
        # A new title each time, so the timing includes encoding the changed passage.
        version = next(edits)
        retriever.upsert([replace(articles[0], version=version, title=f"edited {version}")])

    update = _timed(edit_one, max(5, repeat // 10))
    hp50, hp99 = _ms(hybrid)
    lp50, lp99 = _ms(lexical)
    return {
        "passages": retriever.passage_count,
        "build_s": round(build_s, 2),
        "search_p50_ms": hp50,
        "search_p99_ms": hp99,
        "bm25_p50_ms": lp50,
        "bm25_p99_ms": lp99,
        "ratio_p50_vs_bm25": round(hp50 / lp50, 2) if lp50 else None,
        "update_one_article_ms": _ms(update)[0],
        "rss_mib": _rss_mib(),
    }


def run(sizes: Sequence[int], pool_size: int, repeat: int) -> dict[str, object]:
    rng = random.Random(11)
    pool = [_sentence(rng, i) for i in range(pool_size)]
    encoder = get_encoder(DEFAULT_ENCODER)
    baseline_encoder = get_encoder("all-minilm-l6-v2")
    sample = pool[:1024]
    results: dict[str, object] = {
        "encoder": encoder.name,
        "encode_per_s": encode_throughput(encoder, sample),
        "baseline_encoder": baseline_encoder.name,
        "baseline_encode_per_s": encode_throughput(baseline_encoder, sample),
        "query_encode_ms": _ms(_timed(lambda: encoder.encode_queries(["我想退货"]), repeat)),
    }
    started = time.perf_counter()
    vectors = encoder.encode_documents(pool)
    results["pool_encode_s"] = round(time.perf_counter() - started, 2)
    pooled = PooledEncoder(encoder, dict(zip(pool, vectors, strict=True)))
    results["rss_models_loaded_mib"] = _rss_mib()
    results["sizes"] = [_measure_size(pooled, size, pool, repeat) for size in sizes]
    return results


def markdown(results: dict[str, object]) -> str:
    lines = [
        f"Encoder `{results['encoder']}`: {results['encode_per_s']} passages/s "
        f"(baseline `{results['baseline_encoder']}`: {results['baseline_encode_per_s']}/s, "
        f"ratio {float(results['encode_per_s']) / float(results['baseline_encode_per_s']):.2f}); "  # type: ignore[arg-type]
        f"one query encoded in p50/p99 {results['query_encode_ms']} ms. Process memory with "
        f"both models loaded, before any index: {results['rss_models_loaded_mib']} MiB. "
        "Build times exclude encoding (filler vectors are precomputed); add passages ÷ "
        "encode rate for a cold build.",
        "",
        "| passages | index build (s) | search p50 / p99 (ms) | BM25-only p50 / p99 (ms) | "
        "hybrid ÷ BM25 (p50) | update one article (ms) | process RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["sizes"]:  # type: ignore[attr-defined]
        lines.append(
            f"| {row['passages']:,} | {row['build_s']} | {row['search_p50_ms']} / "
            f"{row['search_p99_ms']} | {row['bm25_p50_ms']} / {row['bm25_p99_ms']} | "
            f"{row['ratio_p50_vs_bm25']} | {row['update_one_article_ms']} | {row['rss_mib']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--pool", type=int, default=4000, help="distinct filler sentences")
    parser.add_argument("--repeat", type=int, default=200, help="searches per size")
    parser.add_argument("--out", type=Path, default=Path("var/bench/retrieval.json"))
    args = parser.parse_args()
    results = run([int(s) for s in args.sizes.split(",")], args.pool, args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
