"""Escalation: the handoff action, the contact form, and the triggers in the other actions."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.clients.kefu_service import KefuServiceClient
from actions.faq import ActionAnswerFromKb
from actions.feedback import ActionFeedbackNotHelpful
from actions.handoff import (
    ActionHandoff,
    ActionResumeForm,
    ActionSaveContact,
    ValidateContactForm,
)
from tests.actions.conftest import HIT, TOKEN, FakeService, RunWithService, load_tracker

Run = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def run_action(
    with_service: RunWithService, make: type[Action], tracker: Tracker | str, token: str = TOKEN
) -> Run:
    dispatcher = CollectingDispatcher()
    tracker = load_tracker(tracker) if isinstance(tracker, str) else tracker

    async def body(base_url: str) -> list[dict[str, Any]]:
        action = make(KefuServiceClient(base_url, token, timeout_s=2))  # type: ignore[call-arg]
        return await action.run(dispatcher, tracker, {})

    return dispatcher.messages, with_service(body)


def followups(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events if e["event"] == "followup"]


def slot(events: list[dict[str, Any]], name: str) -> Any:
    return next(e["value"] for e in events if e["event"] == "slot" and e["name"] == name)


def test_a_request_for_a_person_opens_a_handoff_with_the_intents_seen(
    with_service: RunWithService, service: FakeService
) -> None:
    [message], events = run_action(with_service, ActionHandoff, "handoff_request_zh")
    assert message["text"].startswith("正在为您转接人工客服")
    [sent] = service.handoffs
    assert (sent["conversation_id"], sent["reason"], sent["language"]) == (
        "handoff_request_zh",
        "requested",
        "zh",
    )
    assert sent["intents"] == [
        {"text": "我的退款还没到", "intent": "ask_question", "confidence": 0.88},
        {"text": "转人工", "intent": "request_human", "confidence": 0.97},
    ]
    assert followups(events) == []


def test_with_nobody_online_the_customer_is_asked_for_an_email(
    with_service: RunWithService, service: FakeService
) -> None:
    service.agents_online = 0
    [message], events = run_action(with_service, ActionHandoff, "handoff_request_zh")
    assert "没有人工客服在线" in message["text"]
    assert followups(events) == ["contact_form"]


def test_outside_business_hours_the_customer_hears_when_the_team_is_back(
    with_service: RunWithService, service: FakeService
) -> None:
    # The service decides the promise (bot/handoff/hours.py); the action says it as is.
    service.agents_online = 0
    service.notice = "抱歉，现在不在人工客服的服务时间。我们将于周一 9:00 回来，请留下您的邮箱。"
    [message], events = run_action(with_service, ActionHandoff, "handoff_request_zh")
    assert message["text"] == service.notice
    assert followups(events) == ["contact_form"]


def test_an_unknown_conversation_or_a_service_failure_gives_contact_channels(
    with_service: RunWithService,
) -> None:
    tracker = load_tracker("handoff_request_zh")
    tracker.sender_id = "unknown"
    [message], _ = run_action(with_service, ActionHandoff, tracker)
    assert "400-800-1234" in message["text"]
    [message], _ = run_action(with_service, ActionHandoff, "handoff_request_zh", token="wrong")
    assert "400-800-1234" in message["text"]


def test_the_email_is_taken_from_a_sentence_and_checked() -> None:
    validate = ValidateContactForm().validate_customer_email
    dispatcher = CollectingDispatcher()
    tracker = load_tracker("contact_form_email")
    assert validate("sure, it's Ann@Example.com", dispatcher, tracker, {}) == {
        "customer_email": "ann@example.com"
    }
    assert validate("ann@example", dispatcher, tracker, {}) == {
        "customer_email": None,
        "email_attempts": 1.0,
    }
    assert (
        dispatcher.messages[-1]["text"]
        == "That doesn't look like an email address. Could you check it?"
    )


def test_the_form_takes_only_what_the_service_keeps(
    with_service: RunWithService, service: FakeService
) -> None:
    """An address at the length limit until lower case (İ → i̇): email-validator alone took it
    and the service then refused it; the form asks again instead."""
    validate = ValidateContactForm().validate_customer_email
    dispatcher = CollectingDispatcher()
    tracker = load_tracker("contact_form_email")
    address = "x" * 63 + "İ@" + "d" * 62 + "." + ".".join(["d" * 60] * 2) + ".com"
    assert validate(address, dispatcher, tracker, {}) == {
        "customer_email": None,
        "email_attempts": 1.0,
    }
    assert dispatcher.messages[-1]["text"].startswith("That doesn't look like an email")
    # Special-use domains cannot receive mail, on both sides.
    assert validate("ann@shop.test", dispatcher, tracker, {})["customer_email"] is None
    taken = validate("Wang@München.DE", dispatcher, tracker, {})["customer_email"]
    assert taken == "wang@münchen.de"
    tracker.slots["customer_email"] = taken
    [message], _ = run_action(with_service, ActionSaveContact, tracker)
    assert service.handoffs[0]["customer_email"] == taken
    assert taken in message["text"]


def test_an_address_the_service_still_refuses_is_told_to_the_customer(
    with_service: RunWithService, service: FakeService
) -> None:
    service.refused_emails = {"ann@example.com"}
    tracker = load_tracker("contact_form_email")
    tracker.slots["customer_email"] = "ann@example.com"
    [message], events = run_action(with_service, ActionSaveContact, tracker)
    assert message["text"].startswith("Sorry, I couldn't keep ann@example.com as your address.")
    assert "400-800-1234" in message["text"]
    assert events == [SlotSet("customer_email", None)]
    assert service.handoffs == []


def test_after_two_invalid_addresses_the_form_lets_go() -> None:
    validate = ValidateContactForm().validate_customer_email
    dispatcher = CollectingDispatcher()
    tracker = load_tracker("contact_form_email")
    tracker.slots["email_attempts"] = 2.0
    assert validate("ann@@example.com", dispatcher, tracker, {}) == {
        "customer_email": None,
        "email_attempts": 3.0,
        "requested_slot": None,
    }
    assert "let's leave it" in dispatcher.messages[-1]["text"]


def test_only_a_message_with_an_at_sign_is_an_attempt_at_an_address() -> None:
    extract = ValidateContactForm().extract_customer_email
    tracker = load_tracker("contact_form_email")
    dispatcher = CollectingDispatcher()
    tracker.latest_message = {"text": "do you offer installment plans"}
    assert asyncio.run(extract(dispatcher, tracker, {})) == {}
    tracker.latest_message = {"text": "it's ann@example.com"}
    assert asyncio.run(extract(dispatcher, tracker, {})) == {
        "customer_email": "it's ann@example.com"
    }


def test_a_detour_asks_the_form_again_once_then_lets_go() -> None:
    tracker = load_tracker("contact_form_email")
    tracker.active_loop = {"name": "contact_form"}
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionResumeForm().run(dispatcher, tracker, {}))
    assert dispatcher.messages[-1]["response"] == "utter_ask_customer_email"
    assert events == [SlotSet("form_detours", 1.0)]
    tracker.slots["form_detours"] = 1.0
    events = asyncio.run(ActionResumeForm().run(dispatcher, tracker, {}))
    assert dispatcher.messages[-1]["response"] == "utter_leave_contact_form"
    assert ActiveLoop(None) in events


def test_without_an_address_nothing_is_saved(
    with_service: RunWithService, service: FakeService
) -> None:
    tracker = load_tracker("contact_form_email")
    messages, events = run_action(with_service, ActionSaveContact, tracker)
    assert (messages, events, service.handoffs) == ([], [], [])


def test_the_email_goes_on_the_ticket(with_service: RunWithService, service: FakeService) -> None:
    tracker = load_tracker("contact_form_email")
    tracker.slots["customer_email"] = "ann@example.com"
    [message], _ = run_action(with_service, ActionSaveContact, tracker)
    assert "ann@example.com" in message["text"]
    assert service.handoffs[0]["customer_email"] == "ann@example.com"


def test_a_second_dont_know_in_a_row_hands_over(
    with_service: RunWithService, service: FakeService
) -> None:
    service.search_result = {"band": "none", "language": "en", "hits": [HIT]}
    [message], events = run_action(with_service, ActionAnswerFromKb, "second_dont_know_en")
    assert message["text"] == "Sorry, I couldn't find an answer to that one."
    assert followups(events) == ["action_handoff"]
    assert slot(events, "handoff_reason") == "repeated_failure"


def test_a_first_dont_know_counts_but_does_not_hand_over(
    with_service: RunWithService, service: FakeService
) -> None:
    service.search_result = {"band": "none", "language": "en", "hits": []}
    _, events = run_action(with_service, ActionAnswerFromKb, "question_en")
    assert followups(events) == []
    assert slot(events, "kb_failures") == 1.0


def test_a_second_not_helpful_in_a_row_hands_over(with_service: RunWithService) -> None:
    messages, events = run_action(with_service, ActionFeedbackNotHelpful, "second_not_helpful_zh")
    assert messages == []  # action_handoff speaks next
    assert followups(events) == ["action_handoff"]


def test_an_always_human_topic_or_a_real_complaint_hands_over(
    with_service: RunWithService, service: FakeService
) -> None:
    service.search_result = dict(service.search_result, handoff_topic="chargeback")
    messages, events = run_action(with_service, ActionAnswerFromKb, "question_en")
    assert (messages, followups(events), slot(events, "handoff_reason")) == (
        [],
        ["action_handoff"],
        "topic",
    )
    complaint = load_tracker("question_en")
    complaint.latest_message["intent"] = {"name": "complain", "confidence": 0.9}
    service.search_result = dict(service.search_result, handoff_topic=None, sentiment=-0.7)
    [apology], events = run_action(with_service, ActionAnswerFromKb, complaint)
    assert apology["text"].startswith("I'm sorry about this")  # empathy before anything else
    assert slot(events, "handoff_reason") == "frustration"


def test_a_question_asked_crossly_is_answered_not_handed_over(
    with_service: RunWithService, service: FakeService
) -> None:
    service.search_result = dict(service.search_result, handoff_topic=None, sentiment=-0.9)
    [apology, answer], events = run_action(with_service, ActionAnswerFromKb, "question_en")
    assert apology["text"].startswith("I'm sorry about this")
    assert followups(events) == [] and answer["text"].startswith("Refunds arrive")
    # A message read as a complaint whose sentiment does not agree is answered too.
    complaint = load_tracker("question_en")
    complaint.latest_message["intent"] = {"name": "complain", "confidence": 0.6}
    service.search_result = dict(service.search_result, sentiment=0.1)
    [_, answer], events = run_action(with_service, ActionAnswerFromKb, complaint)
    assert followups(events) == [] and answer["text"].startswith("Refunds arrive")


def unsure_leaning_to_a_complaint() -> Tracker:
    tracker = load_tracker("question_en")
    tracker.latest_message["intent"] = {"name": "nlu_fallback", "confidence": 0.5}
    tracker.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.5},
        {"name": "complain", "confidence": 0.55},
        {"name": "ask_question", "confidence": 0.45},
    ]
    return tracker


def test_an_unsure_complaint_is_searched_first_and_answered_when_found(
    with_service: RunWithService, service: FakeService
) -> None:
    service.search_result = dict(service.search_result, handoff_topic=None, sentiment=-0.95)
    [apology, answer], events = run_action(
        with_service, ActionAnswerFromKb, unsure_leaning_to_a_complaint()
    )
    assert apology["text"].startswith("I'm sorry about this")
    assert followups(events) == [] and answer["text"].startswith("Refunds arrive")


def test_an_unsure_complaint_with_nothing_found_and_real_anger_hands_over(
    with_service: RunWithService, service: FakeService
) -> None:
    nothing = dict(service.search_result, band="none", hits=[], handoff_topic=None)
    service.search_result = dict(nothing, sentiment=-0.95)
    _, events = run_action(with_service, ActionAnswerFromKb, unsure_leaning_to_a_complaint())
    assert slot(events, "handoff_reason") == "frustration"
    # Only mildly cross: "I don't know" and the offer of a person, not a handoff.
    service.search_result = dict(nothing, sentiment=-0.5)
    _, events = run_action(with_service, ActionAnswerFromKb, unsure_leaning_to_a_complaint())
    assert followups(events) == []


def test_by_mail_with_nobody_online_no_form_asks_for_the_address(
    with_service: RunWithService, service: FakeService
) -> None:
    # The sender's address is the contact already; the service mails the confirmation.
    service.agents_online = 0
    tracker = load_tracker("handoff_request_zh")
    tracker.latest_message["metadata"] = {"channel": "email"}
    [message], events = run_action(with_service, ActionHandoff, tracker)
    assert "没有人工客服在线" in message["text"]
    assert followups(events) == []
    assert len(service.handoffs) == 1
