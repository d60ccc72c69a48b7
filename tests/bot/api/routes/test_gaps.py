"""The gap report groups unanswered questions by meaning, across Chinese and English."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.analytics.gaps import UnansweredQuestion, cluster_questions
from retrieval.encoders import DEFAULT_ENCODER, get_encoder
from tests.conftest import REPO as ROOT

pytestmark = pytest.mark.slow


def test_phrasings_of_three_topics_in_two_languages_form_three_clusters() -> None:
    rows = [
        json.loads(line)
        for line in (ROOT / "tests/data/gaps/unanswered.jsonl").read_text("utf-8").splitlines()
    ]
    asked = datetime(2026, 11, 25, tzinfo=UTC)
    questions = [UnansweredQuestion(r["question"], "none", asked) for r in rows]
    clusters = cluster_questions(questions, get_encoder(DEFAULT_ENCODER))
    topic = {r["question"]: r["topic"] for r in rows}
    grouped = [sorted(topic[q.question] for q in c.questions) for c in clusters]
    assert grouped == [["gift-wrap"] * 7, ["pets"] * 6, ["students"] * 4]
    report = clusters[0].public(1)
    assert report["languages"] == {"en": 4, "zh": 3}
    assert report["size"] == 7
