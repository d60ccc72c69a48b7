from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.clients.kefu_service import KefuServiceClient
from actions.faq import ActionAnswerFromKb
from tests.actions.conftest import HIT, TOKEN, FakeService, RunWithService, load_tracker


def execute(with_service: RunWithService, tracker_name: str, token: str = TOKEN):
    dispatcher = CollectingDispatcher()

    async def body(base_url: str) -> list[dict[str, Any]]:
        action = ActionAnswerFromKb(KefuServiceClient(base_url, token, timeout_s=2))
        return await action.run(dispatcher, load_tracker(tracker_name), {})

    events = with_service(body)
    return dispatcher.messages, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def test_band_answer_shows_answer_link_and_feedback_buttons(with_service: RunWithService) -> None:
    messages, slots = execute(with_service, "question_en")
    [message] = messages
    assert message["text"].startswith("Refunds arrive in 3-10 business days.")
    assert message["text"].endswith("Did this help?")
    assert [b["payload"] for b in message["buttons"]] == [
        '/feedback_helpful{"article_id": "refund-timeline"}',
        '/feedback_not_helpful{"article_id": "refund-timeline"}',
    ]
    assert message["custom"]["articles"][0]["url"] == "/articles/refund-timeline"
    assert slots["kb_offered"] == [
        {
            "article_id": "refund-timeline",
            "version": 2,
            "title": "How long refunds take",
            "score": 0.93,
            "band": "answer",
            "lookup_id": 7,
        }
    ]
    assert slots["kb_outcome"] == "answer"


def test_question_and_language_are_sent_to_the_service(
    with_service: RunWithService, service: FakeService
) -> None:
    execute(with_service, "question_zh")
    assert service.requests == [
        {
            "text": "我想退货",
            "k": 5,
            "language": "zh",
            "conversation_id": "question_zh",
            "intent": "ask_question",  # kept on the lookup: the supervisor's trail shows it
            "intent_confidence": 0.9,
        }
    ]


def run_with_latest_message(with_service: RunWithService, latest_message: dict[str, Any]) -> None:
    tracker = load_tracker("question_en")
    tracker.latest_message = latest_message

    async def body(base_url: str) -> None:
        action = ActionAnswerFromKb(KefuServiceClient(base_url, TOKEN, timeout_s=2))
        await action.run(CollectingDispatcher(), tracker, {})

    with_service(body)


def test_a_button_payload_is_sent_with_a_certain_intent(
    with_service: RunWithService, service: FakeService
) -> None:
    # A button's payload skips NLU: Rasa may give no confidence, the intent is still certain.
    message = {"text": "/ask_question", "intent": {"name": "ask_question"}, "entities": []}
    run_with_latest_message(with_service, message)
    [request] = service.requests
    assert (request["intent"], request["intent_confidence"]) == ("ask_question", 1.0)


def test_a_message_without_an_intent_is_searched_without_one(
    with_service: RunWithService, service: FakeService
) -> None:
    run_with_latest_message(with_service, {"text": "refund", "intent": {}, "entities": []})
    [request] = service.requests
    assert "intent" not in request
    assert "intent_confidence" not in request


def test_an_over_long_intent_is_cut_to_what_the_service_keeps(
    with_service: RunWithService, service: FakeService
) -> None:
    message = {"text": "refund", "intent": {"name": "x" * 80, "confidence": 0.5}, "entities": []}
    run_with_latest_message(with_service, message)
    [request] = service.requests
    assert request["intent"] == "x" * 64  # the service refuses longer (422)
    assert request["intent_confidence"] == 0.5


def test_chinese_customer_gets_chinese_buttons(with_service: RunWithService) -> None:
    [message], _ = execute(with_service, "question_zh")
    assert message["text"].endswith("这个回答有帮助吗？")
    assert [b["title"] for b in message["buttons"]] == ["有帮助", "没帮助"]


def test_band_clarify_offers_up_to_three_titles(
    with_service: RunWithService, service: FakeService
) -> None:
    hits = [dict(HIT, article_id=f"a{i}", title=f"Title {i}") for i in range(5)]
    service.search_result = {"band": "clarify", "language": "en", "hits": hits}
    [message], slots = execute(with_service, "question_en")
    assert message["text"] == "Which of these is closest to your question?"
    assert [b["title"] for b in message["buttons"]] == ["Title 0", "Title 1", "Title 2"]
    assert message["buttons"][0]["payload"] == '/ask_question{"article_id": "a0"}'
    assert [o["band"] for o in slots["kb_offered"]] == ["clarify"] * 3


def test_band_none_offers_rephrase_or_a_person(
    with_service: RunWithService, service: FakeService
) -> None:
    service.search_result = {"band": "none", "language": "en", "hits": [HIT]}
    [message], slots = execute(with_service, "question_en")
    assert "rephrase" in message["text"]
    assert message["buttons"] == [{"title": "Talk to a person", "payload": "/request_human"}]
    assert slots["kb_outcome"] == "none"


def test_picked_article_from_clarify_is_answered(with_service: RunWithService) -> None:
    [message], slots = execute(with_service, "picked_article")
    assert message["text"].startswith("Refunds arrive")
    assert slots["article_id"] is None
    assert slots["kb_offered"][-1]["band"] == "picked"


def test_service_error_gives_a_clear_apology(
    with_service: RunWithService, service: FakeService
) -> None:
    service.status = 500
    [message], _ = execute(with_service, "question_en")
    assert "technical problem" in message["text"]


def test_wrong_token_is_treated_as_the_service_being_unavailable(
    with_service: RunWithService,
) -> None:
    [message], _ = execute(with_service, "question_zh", token="wrong")
    assert message["text"].startswith("抱歉，系统暂时出了点问题")


def test_service_down_gives_a_clear_apology_never_silence() -> None:
    dispatcher = CollectingDispatcher()
    # Port 9 on loopback: nothing listens, so the connection is refused at once.
    action = ActionAnswerFromKb(KefuServiceClient("http://127.0.0.1:9", TOKEN, timeout_s=1))
    asyncio.run(action.run(dispatcher, load_tracker("question_en"), {}))
    [message] = dispatcher.messages
    assert "technical problem" in message["text"]
    assert message["buttons"][0]["payload"] == "/request_human"


def test_by_mail_the_answer_has_its_link_and_no_button(with_service: RunWithService) -> None:
    dispatcher = CollectingDispatcher()
    tracker = load_tracker("question_en")
    tracker.latest_message["metadata"] = {"channel": "email"}

    async def body(base_url: str) -> list[dict[str, Any]]:
        action = ActionAnswerFromKb(KefuServiceClient(base_url, TOKEN, timeout_s=2))
        return await action.run(dispatcher, tracker, {})

    with_service(body)
    [message] = dispatcher.messages
    assert message["text"] == "Refunds arrive in 3-10 business days."
    assert message["buttons"] == []
    assert message["custom"]["articles"][0]["url"] == "/articles/refund-timeline"
