from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher

from actions.clients.kefu_service import KefuServiceClient
from actions.feedback import ActionFeedbackHelpful, ActionFeedbackNotHelpful
from tests.actions.conftest import TOKEN, FakeService, RunWithService, load_tracker

Slots = dict[str, Any]


def execute(action: Action, tracker_name: str) -> tuple[list[dict[str, Any]], Slots]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, load_tracker(tracker_name), {}))
    return dispatcher.messages, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def execute_feedback(
    with_service: RunWithService, helpful: bool, tracker_name: str, token: str = TOKEN
) -> tuple[list[dict[str, Any]], Slots]:
    dispatcher = CollectingDispatcher()

    async def body(base_url: str) -> list[dict[str, Any]]:
        client = KefuServiceClient(base_url, token, timeout_s=2)
        action = ActionFeedbackHelpful(client) if helpful else ActionFeedbackNotHelpful(client)
        return await action.run(dispatcher, load_tracker(tracker_name), {})

    events = with_service(body)
    return dispatcher.messages, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def test_helpful_is_recorded_against_the_article_version(
    with_service: RunWithService, service: FakeService
) -> None:
    [message], slots = execute_feedback(with_service, True, "helpful")
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
    assert service.feedback == [
        {
            "conversation_id": "helpful",
            "article_id": "returns-policy",
            "version": 1,
            "helpful": True,
        }
    ]


def test_feedback_is_answered_even_when_the_service_refuses_to_record_it(
    with_service: RunWithService, service: FakeService
) -> None:
    [message], slots = execute_feedback(with_service, True, "helpful", token="wrong")
    assert message["text"].startswith("Great, glad it helped")
    assert service.feedback == []
    assert slots["kb_offered"][0]["feedback"] == "helpful"


def test_not_helpful_offers_the_next_candidates(
    with_service: RunWithService, service: FakeService
) -> None:
    [message], slots = execute_feedback(with_service, False, "after_answer_not_helpful")
    assert message["text"] == "Sorry about that. Maybe one of these helps?"
    assert [b["payload"] for b in message["buttons"]] == [
        '/ask_question{"article_id": "exchange-size"}',
        '/ask_question{"article_id": "refund-timeline"}',
    ]
    assert slots["kb_candidates"] == []
    assert slots["kb_offered"][0]["feedback"] == "not_helpful"
    assert [(f["article_id"], f["helpful"]) for f in service.feedback] == [
        (slots["kb_offered"][0]["article_id"], False)
    ]


def test_not_helpful_without_candidates_offers_a_person_in_chinese(
    with_service: RunWithService,
) -> None:
    [message], _ = execute_feedback(with_service, False, "not_helpful_no_candidates_zh")
    assert message["text"] == "抱歉没能帮到您。需要为您转接人工客服吗？"
    assert message["buttons"] == [{"title": "转人工客服", "payload": "/request_human"}]
