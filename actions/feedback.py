"""Record "did this help?" and, when it did not, offer the next candidates, then a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import article_buttons
from actions.messages import say


def _with_feedback(tracker: Tracker, verdict: str) -> list[dict[str, Any]]:
    """The offered articles, the one the feedback is about marked with the verdict."""
    article_id = tracker.get_slot("article_id")
    history = [dict(item) for item in tracker.get_slot("kb_offered") or []]
    for item in reversed(history):
        if article_id is None or item.get("article_id") == article_id:
            item["feedback"] = verdict
            break
    return history


class ActionFeedbackHelpful(Action):
    def name(self) -> str:
        return "action_feedback_helpful"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=say("glad", tracker.get_slot("language")))
        return [
            SlotSet("kb_offered", _with_feedback(tracker, "helpful")),
            SlotSet("article_id", None),
        ]


class ActionFeedbackNotHelpful(Action):
    def name(self) -> str:
        return "action_feedback_not_helpful"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = tracker.get_slot("language")
        candidates = tracker.get_slot("kb_candidates") or []
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
            SlotSet("kb_offered", _with_feedback(tracker, "not_helpful")),
            SlotSet("kb_candidates", []),
            SlotSet("article_id", None),
        ]
