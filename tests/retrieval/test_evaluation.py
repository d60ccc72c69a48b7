from pathlib import Path

import pytest

from retrieval.bands import BandThresholds, ConfidenceBand, load_thresholds, save_thresholds
from retrieval.evaluation import QueryFileError, QueryOutcome, calibrate, evaluate, read_queries
from retrieval.retriever import Retriever


def _outcome(score: float, expected: str | None, top: str) -> QueryOutcome:
    return QueryOutcome("q", expected, [top, "other"], score, "answer", "en")


def test_calibration_puts_the_answer_threshold_above_the_wrong_answers() -> None:
    outcomes = [
        _outcome(0.95, "a", "a"),
        _outcome(0.9, "b", "b"),
        _outcome(0.85, "c", "c"),
        _outcome(0.8, None, "x"),
        _outcome(0.7, "d", "d"),
        _outcome(0.6, None, "y"),
        _outcome(0.3, None, "z"),
        _outcome(0.25, None, "w"),
    ]
    thresholds = calibrate(outcomes, "enc", "dev", answer_precision=0.9)
    assert thresholds.high == 0.85
    assert thresholds.low == 0.7
    assert thresholds.band(0.9) is ConfidenceBand.ANSWER
    assert thresholds.band(0.75) is ConfidenceBand.CLARIFY
    assert thresholds.band(0.3) is ConfidenceBand.NONE


def test_thresholds_are_stored_per_encoder(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    save_thresholds(BandThresholds(0.7, 0.4, "enc-a", "dev"), path)
    save_thresholds(BandThresholds(0.6, 0.3, "enc-b", "dev"), path)
    assert load_thresholds("enc-a", path).high == 0.7
    assert load_thresholds("unknown", path).calibrated_on == "not calibrated"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "hi", "article_id": null}\n{bad json\n', ":2: invalid JSON"),
        ('{"article_id": "a"}\n', ":1: needs a string field 'text'"),
        ('{"text": "hi"}\n', ":1: needs 'article_id'"),
        ('{"text": "  ", "article_id": null}\n', ":1: 'text' is empty"),
        ('{"text": "hi", "article_id": 3}\n', ":1: 'article_id' must be a string or null"),
        ("\n\n", "no queries"),
    ],
)
def test_bad_query_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(QueryFileError, match=message):
        read_queries(path)


def test_evaluation_counts_hits_misses_and_unanswerable(
    tmp_path: Path, retriever: Retriever
) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"text": "When will I get my refund?", "article_id": "refund-timeline"}\n'
        '{"text": "I forgot my password", "article_id": "returns-policy"}\n'
        '{"text": "weather forecast", "article_id": null}\n',
        encoding="utf-8",
    )
    report = evaluate(retriever, read_queries(path))
    assert (report.queries, report.answerable, report.unanswerable) == (3, 2, 1)
    assert report.hybrid.top1 == 0.5
    assert report.unanswerable_kept_out == 1.0
    assert [f["expected"] for f in report.failures] == ["returns-policy"]
    assert report.latency_p50_ms > 0
