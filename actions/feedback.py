"""Record "did this help?" and, when it did not, offer the next candidates, then a person."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.clients.kefu_service import KefuServiceClient, ServiceUnavailableError
from actions.faq import MAX_FAILURES_IN_A_ROW, article_buttons
from texts import say

log = logging.getLogger(__name__)


def _with_feedback(
    tracker: Tracker, verdict: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The offered articles with the one the feedback is about marked, and that one."""
    article_id = tracker.get_slot("article_id")
    history = [dict(item) for item in tracker.get_slot("kb_offered") or []]
    for item in reversed(history):
        if article_id is None or item.get("article_id") == article_id:
            item["feedback"] = verdict
            return history, item
    return history, None


async def _record(
    client: KefuServiceClient, tracker: Tracker, item: dict[str, Any] | None, helpful: bool
) -> None:
    """Service-side record for the gap report and the agent; the customer is answered anyway."""
    if item is None or not item.get("article_id"):
        return
    try:
        await client.record_feedback(
            tracker.sender_id,
            item["article_id"],
            item.get("version"),
            helpful,
            item.get("lookup_id"),
        )
    except ServiceUnavailableError as error:
        log.warning("feedback not recorded: %s", error)


class ActionFeedbackHelpful(Action):
    def __init__(self, client: KefuServiceClient | None = None) -> None:
        self.client = client or KefuServiceClient.from_env()

    def name(self) -> str:
        return "action_feedback_helpful"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        history, item = _with_feedback(tracker, "helpful")
        await _record(self.client, tracker, item, helpful=True)
        dispatcher.utter_message(text=say("glad", tracker.get_slot("language")))
        return [
            SlotSet("kb_offered", history),
            SlotSet("article_id", None),
            SlotSet("kb_failures", 0.0),
        ]


class ActionFeedbackNotHelpful(Action):
    def __init__(self, client: KefuServiceClient | None = None) -> None:
        self.client = client or KefuServiceClient.from_env()

    def name(self) -> str:
        return "action_feedback_not_helpful"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = tracker.get_slot("language")
        history, item = _with_feedback(tracker, "not_helpful")
        await _record(self.client, tracker, item, helpful=False)
        candidates = tracker.get_slot("kb_candidates") or []
        failures = float(tracker.get_slot("kb_failures") or 0) + 1
        if failures >= MAX_FAILURES_IN_A_ROW:
            return [
                SlotSet("kb_offered", history),
                SlotSet("kb_candidates", []),
                SlotSet("article_id", None),
                SlotSet("kb_failures", failures),
                SlotSet("handoff_reason", "repeated_failure"),
                FollowupAction("action_handoff"),
            ]
        if candidates:
            dispatcher.utter_message(
                text=say("next_candidates", language), buttons=article_buttons(candidates)
            )
        else:
            dispatcher.utter_message(
                text=say("offer_person", language),
                buttons=[{"title": say("talk_to_person", language), "payload": "/request_human"}],
            )
        return [
            SlotSet("kb_offered", history),
            SlotSet("kb_candidates", []),
            SlotSet("article_id", None),
            SlotSet("kb_failures", failures),
        ]
