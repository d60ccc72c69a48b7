import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from retrieval import background_calibrator as calibration_module
from retrieval.background_calibrator import BackgroundCalibrator
from retrieval.bands import BandThresholds, ConfidenceBand
from retrieval.calibration import (
    CALIBRATION_FILE,
    Calibration,
    Example,
    calibrate,
    fingerprint,
    fit_model,
    leave_out_examples,
    load_calibration,
    save_calibration,
    score_thresholds,
)
from retrieval.retriever import Retriever
from tests.retrieval.conftest import Article, HashingEncoder

SHIPPED = BandThresholds(high=0.8, low=0.4, encoder="hashing-test", calibrated_on="shipped")


def _words(count: int, seed: int = 7) -> list[str]:
    """Distinct made-up words (no English suffix for the stemmer to strip)."""
    rng = random.Random(seed)
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choice("bdfgklmnprtvz") + rng.choice("aeiou") for _ in range(3))
        if word not in words:
            words.append(word)
    return words


def synthetic_kb(articles: int = 24, questions: int = 4) -> list[Article]:
    """Articles with their own words: each question shares a word with the title and one
    with the body, so that a question left out still finds its article (mostly: the hashing
    encoder's collisions make a few land elsewhere). The last article's questions are near
    copies of the one before's: those two are confusable."""
    pool = iter(_words(articles * 12))
    kb: list[Article] = []
    prior: list[str] = []
    for n in range(articles):
        vocabulary = [next(pool) for _ in range(12)]
        asked = [" ".join(vocabulary[j::4][:3]) for j in range(questions)]
        if n == articles - 1:
            asked = [" ".join([*q.split()[:2], vocabulary[8 + j]]) for j, q in enumerate(prior)]
        kb.append(
            Article(f"topic-{n:02d}", " ".join(vocabulary[:4]), " ".join(vocabulary[4:8]), asked)
        )
        prior = asked
    return kb


def retriever_over(kb: list[Article]) -> Retriever:
    retriever = Retriever(HashingEncoder(), SHIPPED)
    retriever.upsert(kb)
    return retriever


@pytest.fixture(scope="module")
def kb() -> list[Article]:
    return synthetic_kb()


@pytest.fixture(scope="module")
def calibrated(kb: list[Article]) -> tuple[Retriever, Calibration]:
    retriever = retriever_over(kb)
    return retriever, calibrate(retriever, SHIPPED)


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ----- examples and thresholds -----


def test_each_question_is_asked_with_itself_and_then_its_topic_left_out(
    calibrated: tuple[Retriever, Calibration],
) -> None:
    retriever, _ = calibrated
    examples = leave_out_examples(retriever)
    answerable = [e for e in examples if e.answerable]
    no_answer = [e for e in examples if not e.answerable]
    assert len(answerable) == len(no_answer) == 24 * 4
    # Left out, most questions still find their own article through its other passages.
    assert sum(e.correct for e in answerable) / len(answerable) >= 0.75
    # With the topic left out nothing can be right: the topic is never ranked first.
    assert not any(e.correct for e in no_answer)
    assert all(e.top_topic != e.topic_id for e in no_answer)


def _example(score: float, answerable: bool, correct: bool) -> Example:
    features = (score, score, score, 0.0, 0.0, 1.0, 0.5)
    rank = 1 if correct else (2 if answerable else None)
    return Example("q", "t", answerable, correct, rank, "t" if correct else "u", features)


def test_score_thresholds_answer_the_right_and_keep_most_unanswerable_questions_out() -> None:
    right = [0.7 + i / 100 for i in range(20)]
    unanswerable = [0.1 + i / 100 for i in range(20)]
    examples = [_example(score, True, True) for score in right]
    examples += [_example(score, False, False) for score in unanswerable]
    thresholds = score_thresholds(examples, "hashing-test", "synthetic")
    assert all(thresholds.band(score) is ConfidenceBand.ANSWER for score in right)
    answered = [s for s in unanswerable if thresholds.band(s) is ConfidenceBand.ANSWER]
    assert len(answered) <= 0.1 * len(unanswerable)  # MIN_KEPT_OUT
    assert thresholds.low <= thresholds.high
    assert thresholds.band(min(unanswerable)) is ConfidenceBand.NONE


def test_no_confidence_model_when_every_example_is_right() -> None:
    assert fit_model([_example(0.5 + i / 100, True, True) for i in range(10)]) is None


# ----- calibrate -----


def test_calibration_on_enough_questions_is_not_a_fallback(
    calibrated: tuple[Retriever, Calibration],
) -> None:
    retriever, result = calibrated
    assert not result.fallback
    assert result.articles == 24 and result.questions == 96
    assert 0 < result.answered_share <= 1
    assert 0 <= result.expected_precision <= 1
    assert 0 <= result.kept_out <= 1
    assert result.bands.thresholds.low <= result.bands.thresholds.high
    assert result.fingerprint == fingerprint(retriever)
    topics = set(retriever.article_topics.values())
    assert {"topics": ["topic-22", "topic-23"], "questions": 8} in result.confusable
    for pair in result.confusable:
        a, b = pair["topics"]
        assert a != b and {a, b} <= topics
        assert pair["questions"] >= 2


def test_calibrated_bands_answer_a_known_question_and_not_an_unrelated_one(
    calibrated: tuple[Retriever, Calibration], kb: list[Article]
) -> None:
    _, result = calibrated
    retriever = retriever_over(kb)
    retriever.thresholds = result.bands
    assert retriever.search(kb[3].questions[0]).band is ConfidenceBand.ANSWER
    assert retriever.search("weather forecast tomorrow").band is ConfidenceBand.NONE


@pytest.mark.parametrize(
    ("articles", "questions"),
    [(5, 4), (24, 1)],
    ids=["few-articles", "few-questions"],
)
def test_too_little_data_keeps_the_shipped_thresholds(articles: int, questions: int) -> None:
    retriever = retriever_over(synthetic_kb(articles, questions))
    result = calibrate(retriever, SHIPPED)
    assert result.fallback
    assert "too little data" in result.reason
    assert result.bands.thresholds == SHIPPED
    assert result.bands.model is None
    assert result.examples == 0


# ----- storage -----


def test_a_calibration_round_trips_through_its_dict_with_the_same_decisions(
    calibrated: tuple[Retriever, Calibration], kb: list[Article]
) -> None:
    retriever, result = calibrated
    restored = Calibration.from_dict(json.loads(json.dumps(result.to_dict())))
    assert restored.to_dict() == result.to_dict()
    queries = [kb[0].questions[1], kb[5].title, kb[9].questions[3], "completely unrelated words"]
    queries += [" ".join(kb[1].questions[0].split()[:1]), f"{kb[2].title} {kb[7].title}"]
    decisions = []
    for query in queries:
        hits = retriever.rank(query, retriever.encoder.encode_queries([query]), "en")
        decision = result.bands.band_of(hits, "en")
        assert restored.bands.band_of(hits, "en") is decision
        decisions.append(decision)
    assert len(set(decisions)) > 1  # the hit lists test more than one band


def test_save_and_load_round_trip(
    calibrated: tuple[Retriever, Calibration], tmp_path: Path
) -> None:
    _, result = calibrated
    save_calibration(result, tmp_path / "index")
    loaded = load_calibration(tmp_path / "index")
    assert loaded is not None
    assert loaded.to_dict() == result.to_dict()
    assert loaded.bands == result.bands


def test_nothing_stored_loads_as_none(tmp_path: Path) -> None:
    assert load_calibration(tmp_path) is None


@pytest.mark.parametrize("content", ["{not json", "", "[]", "{}", '{"bands": {}}', "null"])
def test_a_corrupt_calibration_file_loads_as_none(tmp_path: Path, content: str) -> None:
    (tmp_path / CALIBRATION_FILE).write_text(content, encoding="utf-8")
    assert load_calibration(tmp_path) is None


# ----- in the background -----


class CountingCalibrate:
    """Stands in for ``calibrate``: counts its calls, then calibrates or raises."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls = 0
        self.error = error
        self._real = calibrate

    def __call__(self, retriever: Retriever, fallback: BandThresholds) -> Calibration:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self._real(retriever, fallback)


def test_start_with_nothing_stored_calibrates_and_saves(kb: list[Article], tmp_path: Path) -> None:
    retriever = retriever_over(kb)
    calibrator = BackgroundCalibrator(retriever, tmp_path, SHIPPED, debounce_s=60)
    calibrator.start()
    try:
        assert calibrator.current is not None and not calibrator.current.fallback
        assert retriever.thresholds == calibrator.current.bands
        stored = load_calibration(tmp_path)
        assert stored is not None
        assert stored.fingerprint == fingerprint(retriever)
        assert (tmp_path / CALIBRATION_FILE).exists()
    finally:
        calibrator.stop()


def test_start_applies_a_stored_calibration_of_the_same_kb_without_recalibrating(
    calibrated: tuple[Retriever, Calibration],
    kb: list[Article],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, stored = calibrated
    save_calibration(stored, tmp_path)
    retriever = retriever_over(kb)
    counting = CountingCalibrate()
    monkeypatch.setattr(calibration_module, "calibrate", counting)
    calibrator = BackgroundCalibrator(retriever, tmp_path, SHIPPED, debounce_s=0.05)
    calibrator.start()
    try:
        assert retriever.thresholds == stored.bands
        assert calibrator.current is not None
        assert calibrator.current.computed_at == stored.computed_at
        time.sleep(0.3)  # a recalibration would have been scheduled at once
        assert counting.calls == 0
    finally:
        calibrator.stop()


def test_start_applies_a_stale_calibration_at_once_and_recalibrates_in_the_background(
    calibrated: tuple[Retriever, Calibration],
    kb: list[Article],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, stored = calibrated
    save_calibration(stored, tmp_path)
    edited = [replace(kb[0], version=2), *kb[1:]]
    retriever = retriever_over(edited)
    assert fingerprint(retriever) != stored.fingerprint
    counting = CountingCalibrate()
    monkeypatch.setattr(calibration_module, "calibrate", counting)
    calibrator = BackgroundCalibrator(retriever, tmp_path, SHIPPED, debounce_s=60)
    calibrator.start()
    try:
        assert retriever.thresholds == stored.bands  # the stale one is in force meanwhile
        assert wait_for(
            lambda: (load_calibration(tmp_path) or stored).fingerprint != stored.fingerprint
        )
        assert counting.calls == 1
        assert calibrator.current is not None
        assert calibrator.current.fingerprint == fingerprint(retriever)
    finally:
        calibrator.stop()


def test_a_calibration_that_fails_leaves_the_previous_bands_in_force(
    kb: list[Article], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    retriever = retriever_over(kb)
    calibrator = BackgroundCalibrator(retriever, tmp_path, SHIPPED, debounce_s=0.05)
    calibrator.start()
    try:
        previous = retriever.thresholds
        assert calibrator.current is not None and not calibrator.current.fallback
        failing = CountingCalibrate(RuntimeError("encoder crashed"))
        monkeypatch.setattr(calibration_module, "calibrate", failing)
        retriever.upsert([Article("gift-card", "Gift cards", questions=["gift card balance"])])
        assert wait_for(lambda: failing.calls >= 1)
        assert retriever.thresholds is previous
        assert calibrator.current is not None
        stored = load_calibration(tmp_path)
        assert stored is not None and stored.fingerprint == calibrator.current.fingerprint
        # Searches still work with the previous bands.
        assert retriever.search(kb[3].questions[0]).band is ConfidenceBand.ANSWER
    finally:
        calibrator.stop()


def test_a_failing_first_calibration_leaves_the_shipped_thresholds(
    kb: list[Article], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    retriever = retriever_over(kb)
    monkeypatch.setattr(calibration_module, "calibrate", CountingCalibrate(ValueError("bad")))
    calibrator = BackgroundCalibrator(retriever, tmp_path, SHIPPED, debounce_s=60)
    calibrator.start()  # does not raise
    calibrator.stop()
    assert retriever.thresholds is SHIPPED
    assert load_calibration(tmp_path) is None


def test_changes_in_quick_succession_recalibrate_once(
    kb: list[Article], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    retriever = retriever_over(kb)
    counting = CountingCalibrate()
    monkeypatch.setattr(calibration_module, "calibrate", counting)
    debounce = 0.2
    calibrator = BackgroundCalibrator(retriever, None, SHIPPED, debounce_s=debounce)
    try:
        for _ in range(5):
            calibrator.schedule()
        assert wait_for(lambda: calibrator.current is not None)
        time.sleep(debounce * 3)  # a second run would have started by now
        assert counting.calls == 1
        assert calibrator.current is not None
        assert retriever.thresholds == calibrator.current.bands
    finally:
        calibrator.stop()


def test_stop_cancels_a_scheduled_recalibration_and_stops_listening(
    kb: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    retriever = retriever_over(kb)
    counting = CountingCalibrate()
    monkeypatch.setattr(calibration_module, "calibrate", counting)
    calibrator = BackgroundCalibrator(retriever, None, SHIPPED, debounce_s=0.05)
    retriever.on_change = calibrator.schedule
    calibrator.schedule()
    calibrator.stop()
    retriever.upsert([Article("gift-card", "Gift cards")])
    time.sleep(0.3)
    assert counting.calls == 0
    assert retriever.thresholds is SHIPPED
