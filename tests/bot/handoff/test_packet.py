from __future__ import annotations

from datetime import UTC, datetime

from bot.conversations.models import ArticleFeedback, KbLookup, Message
from bot.handoff.packet import articles_tried, summarise

AT = datetime(2026, 11, 25, tzinfo=UTC)


def message(id_: int, text: str, button: str | None = None) -> Message:
    payload = {"button_payload": button} if button else {}
    return Message(id=id_, sender="customer", text=text, payload=payload, created_at=AT)


def test_the_summary_is_the_customers_main_question() -> None:
    typed = [
        message(1, "hi"),
        message(2, "my refund from last week never arrived"),
        message(3, "??"),
    ]
    intents = [
        {"text": "hi", "intent": "greet"},
        {"text": "my refund from last week never arrived", "intent": "ask_question"},
        {"text": "??", "intent": "nlu_fallback"},
    ]
    assert summarise(typed, intents) == "my refund from last week never arrived"


def test_a_long_question_is_cut_to_two_lines() -> None:
    summary = summarise([message(1, "退款" * 200)], [])
    assert len(summary) == 200 and summary.endswith("…")


def test_articles_tried_carry_score_version_and_feedback() -> None:
    lookups = [
        KbLookup(
            id=1,
            question="q1",
            band="answer",
            hits=[
                {"article_id": "a", "version": 2, "score": 0.9},
                {"article_id": "b", "version": 1, "score": 0.5},
            ],
            created_at=AT,
        ),
        KbLookup(
            id=2,
            question="q2",
            band="clarify",
            hits=[
                {"article_id": "c", "version": 1, "score": 0.66},
                {"article_id": "d", "version": 3, "score": 0.62},
            ],
            created_at=AT,
        ),
        KbLookup(
            id=3,
            question="q3",
            band="none",
            hits=[{"article_id": "e", "score": 0.2}],
            created_at=AT,
        ),
    ]
    feedback = [ArticleFeedback(lookup_id=1, article_id="a", helpful=False)]
    tried = articles_tried(lookups, feedback, {"a": "Refunds"}.get)
    assert [(t["article_id"], t["title"], t["band"], t["feedback"]) for t in tried] == [
        ("a", "Refunds", "answer", "not_helpful"),
        ("c", "c", "clarify", None),
        ("d", "d", "clarify", None),
    ]
