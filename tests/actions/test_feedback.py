from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher

from actions.feedback import ActionFeedbackHelpful, ActionFeedbackNotHelpful
from actions.handoff import ActionHandoff
from tests.actions.conftest import load_tracker


def execute(action: Action, tracker_name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, load_tracker(tracker_name), {}))
    return dispatcher.messages, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def test_helpful_is_recorded_against_the_article_version() -> None:
    [message], slots = execute(ActionFeedbackHelpful(), "helpful")
    assert message["text"].startswith("Great, glad it helped")
    assert slots["kb_offered"] == [
        {
            "article_id": "returns-policy",
            "version": 1,
            "title": "Returns policy",
            "score": 0.9,
            "band": "answer",
            "feedback": "helpful",
        }
    ]


def test_not_helpful_offers_the_next_candidates() -> None:
    [message], slots = execute(ActionFeedbackNotHelpful(), "after_answer_not_helpful")
    assert message["text"] == "Sorry about that. Maybe one of these helps?"
    assert [b["payload"] for b in message["buttons"]] == [
        '/ask_question{"article_id": "exchange-size"}',
        '/ask_question{"article_id": "refund-timeline"}',
    ]
    assert slots["kb_candidates"] == []
    assert slots["kb_offered"][0]["feedback"] == "not_helpful"


def test_not_helpful_without_candidates_offers_a_person_in_chinese() -> None:
    [message], _ = execute(ActionFeedbackNotHelpful(), "not_helpful_no_candidates_zh")
    assert message["text"] == "抱歉没能帮到您。需要为您转接人工客服吗？"
    assert message["buttons"] == [{"title": "转人工客服", "payload": "/request_human"}]


def test_handoff_tells_the_customer_how_to_reach_a_person() -> None:
    [message], _ = execute(ActionHandoff(), "question_zh")
    assert "400-800-1234" in message["text"]
    assert message["text"].startswith("抱歉")
