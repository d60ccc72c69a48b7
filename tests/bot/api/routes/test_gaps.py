"""The gap report groups unanswered questions by meaning, across Chinese and English."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.analytics.gaps import UnansweredQuestion, cluster_questions
from retrieval.encoders import DEFAULT_ENCODER, get_encoder
from tests.conftest import REPO as ROOT
from tests.servers.databases import FreshDatabases

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


def test_a_cluster_names_the_topics_the_bot_offered_once_per_topic() -> None:
    from bot.analytics.gaps import GapCluster

    asked = datetime(2026, 11, 25, tzinfo=UTC)
    cluster = GapCluster(
        [
            UnansweredQuestion("退货太慢", "not_helpful", asked, ("returns-policy",)),
            UnansweredQuestion("return is slow", "not_helpful", asked, ("returns-policy",)),
            UnansweredQuestion("refund late", "none", asked, ("refund-timeline",)),
        ]
    )
    assert cluster.public(1)["topics_offered"] == {"returns-policy": 2, "refund-timeline": 1}


def test_translations_offered_for_one_question_count_as_their_topic_once(
    tmp_path: Path, fresh_databases: FreshDatabases
) -> None:
    from bot.analytics.gaps import unanswered_questions
    from bot.conversations.trail import BotTrail
    from db.engine import create_engine_for, session_factory

    with fresh_databases.fresh(tmp_path) as url:
        engine = create_engine_for(url)
        with session_factory(engine)() as session:
            hits = [
                {"article_id": "returns-policy", "version": 1, "score": 0.5},
                {"article_id": "returns-policy-zh", "version": 1, "score": 0.49},
            ]
            BotTrail(session).record_lookup(None, "怎么退", "zh", "none", hits)
            topic_of = {"returns-policy": "returns-policy", "returns-policy-zh": "returns-policy"}
            [question] = unanswered_questions(session, None, topic_of)
        engine.dispose()
    assert question.topics == ("returns-policy",)
