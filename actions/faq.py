"""Answer from the knowledge base according to the confidence band."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.clients.kefu_service import KefuServiceClient, ServiceUnavailableError
from actions.handoff import by_mail
from texts import say

MAX_CLARIFY_OPTIONS = 3
# Two "don't know" or "not helpful" outcomes in a row bring a person in.
MAX_FAILURES_IN_A_ROW = 2
# A message this negative (sentiment from -1 to 1, computed by the service) gets an apology first.
# On the held-out sentiment set it takes 21 of 42 angry messages and 1 of 104 others (-0.6 would
# take 28 and still 1); plain problem reports ("My parcel never arrived": -0.42) keep their answer.
FRUSTRATION_SENTIMENT = -0.8


# A message Rasa reads as a complaint goes to a person only when its sentiment agrees; a
# question asked crossly ("why is my refund taking forever?") is answered first.
COMPLAINT_SENTIMENT = -0.3


def is_upset(result: dict[str, Any], intent: str) -> bool:
    """A complaint or a very negative message: it gets an apology before anything else."""
    sentiment = result.get("sentiment")
    return intent == "complain" or (sentiment is not None and sentiment <= FRUSTRATION_SENTIMENT)


def escalation_reason(result: dict[str, Any], intent: str, leaning: str = "") -> str | None:
    """Escalate instead of answering: an always-human topic, or a real complaint (the intent
    is a complaint and the sentiment agrees). A message Rasa was unsure of (``nlu_fallback``)
    but ``leaning`` to a complaint is searched first: with nothing found and a very negative
    sentiment it is a complaint after all."""
    if result.get("handoff_topic"):
        return "topic"
    sentiment = result.get("sentiment")
    if sentiment is None:
        return None
    if intent == "complain" and sentiment <= COMPLAINT_SENTIMENT:
        return "frustration"
    if (
        intent == "nlu_fallback"
        and leaning == "complain"
        and result.get("band") == "none"
        and sentiment <= FRUSTRATION_SENTIMENT
    ):
        return "frustration"
    return None


def leaning_intent(latest_message: dict[str, Any]) -> str:
    """The intent Rasa ranked first other than ``nlu_fallback`` ("" if none)."""
    ranking = latest_message.get("intent_ranking") or []
    names = [str(item.get("name") or "") for item in ranking if isinstance(item, dict)]
    return next((name for name in names if name and name != "nlu_fallback"), "")


def detected_intent(latest_message: dict[str, Any]) -> tuple[str | None, float | None]:
    """The intent Rasa detected in the message and its confidence; a button's payload
    (``/intent{...}``) skips NLU, so its intent is certain (confidence 1)."""
    intent = latest_message.get("intent") or {}
    name = str(intent.get("name") or "") or None
    if name is None:
        return None, None
    if str(latest_message.get("text") or "").startswith("/"):
        return name, 1.0
    confidence = intent.get("confidence")
    return name, None if confidence is None else float(confidence)


def _payload(intent: str, article_id: str) -> str:
    return f"/{intent}{json.dumps({'article_id': article_id})}"


def feedback_buttons(article_id: str, language: str | None) -> list[dict[str, str]]:
    return [
        {"title": say("helpful", language), "payload": _payload("feedback_helpful", article_id)},
        {
            "title": say("not_helpful", language),
            "payload": _payload("feedback_not_helpful", article_id),
        },
    ]


def article_buttons(articles: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"title": a["title"], "payload": _payload("ask_question", a["article_id"])}
        for a in articles[:MAX_CLARIFY_OPTIONS]
    ]


def offered(
    article: dict[str, Any], band: str, lookup_id: int | None = None, script: str | None = None
) -> dict[str, Any]:
    """What the conversation remembers of an article it offered (and the lookup that found it,
    and the script the customer wrote in)."""
    remembered = {key: article.get(key) for key in ("article_id", "version", "title", "score")}
    return (
        remembered | {"band": band, "lookup_id": lookup_id} | ({"script": script} if script else {})
    )


def answer_with_article(
    dispatcher: CollectingDispatcher,
    article: dict[str, Any],
    language: str | None,
    by_mail: bool = False,
) -> None:
    """The article's answer with its link; in a chat, "Did this help?" and its buttons (a mail
    has no button to press: the customer answers the mail)."""
    # A note first when the topic has no version in the customer's language.
    note = f"{article['note']}\n\n" if article.get("note") else ""
    question = "" if by_mail else f"\n\n{say('did_this_help', language)}"
    dispatcher.utter_message(
        text=f"{note}{article['answer']}{question}",
        buttons=[] if by_mail else feedback_buttons(article["article_id"], language),
        json_message={
            "articles": [
                {
                    "id": article["article_id"],
                    "title": article["title"],
                    "url": article["url"],
                    "version": article["version"],
                    "label": say("read_more", language),
                }
            ]
        },
    )


class ActionAnswerFromKb(Action):
    """Band answer: the answer, a link and feedback buttons; clarify: up to three titles;
    none: say so and offer to rephrase or talk to a person."""

    def __init__(self, client: KefuServiceClient | None = None) -> None:
        self.client = client or KefuServiceClient.from_env()

    def name(self) -> str:
        return "action_answer_from_kb"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = tracker.get_slot("language")
        picked = tracker.get_slot("article_id")
        history = list(tracker.get_slot("kb_offered") or [])
        try:
            if picked:
                return await self._show_picked(dispatcher, picked, language, history)
            text = tracker.latest_message.get("text") or ""
            detected, confidence = detected_intent(tracker.latest_message)
            result = await self.client.search(
                text,
                language,
                conversation_id=tracker.sender_id,
                intent=detected,
                intent_confidence=confidence,
            )
        except ServiceUnavailableError:
            dispatcher.utter_message(
                text=say("service_down", language),
                buttons=[{"title": say("talk_to_person", language), "payload": "/request_human"}],
            )
            return [SlotSet("article_id", None)]
        intent = str((tracker.latest_message.get("intent") or {}).get("name") or "")
        waiting = bool((tracker.active_loop or {}).get("name"))  # a person is already asked
        if is_upset(result, intent):
            dispatcher.utter_message(text=say("apology", language))
        leaning = leaning_intent(tracker.latest_message)
        escalation = None if waiting else escalation_reason(result, intent, leaning)
        if escalation is not None:
            return [SlotSet("handoff_reason", escalation), FollowupAction("action_handoff")]
        band, hits, lookup_id = result["band"], result["hits"], result.get("lookup_id")
        script = result.get("script")
        if band == "answer" and hits:
            answer_with_article(dispatcher, hits[0], language, by_mail(tracker))
            history.append(offered(hits[0], band, lookup_id, script))
            candidates = hits[1 : 1 + MAX_CLARIFY_OPTIONS]
        elif band == "clarify" and hits:
            options = hits[:MAX_CLARIFY_OPTIONS]
            dispatcher.utter_message(
                text=say("clarify", language), buttons=article_buttons(options)
            )
            history += [offered(hit, band, lookup_id, script) for hit in options]
            candidates = []
        elif waiting:
            # The customer already waits for a person, who will see this question too.
            dispatcher.utter_message(text=say("dont_know_queued", language))
            return [SlotSet("kb_outcome", "none")]
        elif intent == "out_of_scope":
            # Not a question for this knowledge base after all: say what the bot can do.
            dispatcher.utter_message(response="utter_out_of_scope")
            return [SlotSet("kb_outcome", "none")]
        else:
            failures = float(tracker.get_slot("kb_failures") or 0) + 1
            if failures >= MAX_FAILURES_IN_A_ROW:
                dispatcher.utter_message(text=say("dont_know_again", language))
                return [
                    SlotSet("kb_failures", failures),
                    SlotSet("kb_outcome", "none"),
                    SlotSet("handoff_reason", "repeated_failure"),
                    FollowupAction("action_handoff"),
                ]
            dispatcher.utter_message(
                text=say("dont_know", language),
                buttons=[{"title": say("talk_to_person", language), "payload": "/request_human"}],
            )
            return [SlotSet("kb_failures", failures), SlotSet("kb_outcome", "none")]
        return [
            SlotSet("kb_offered", history),
            SlotSet(
                "kb_candidates", [offered(c, "candidate", lookup_id, script) for c in candidates]
            ),
            SlotSet("kb_outcome", band),
        ]

    async def _show_picked(
        self,
        dispatcher: CollectingDispatcher,
        article_id: str,
        language: str | None,
        history: list[dict[str, Any]],
    ) -> list[EventType]:
        earlier = [item for item in history if item.get("article_id") == article_id]
        lookup_id = earlier[-1].get("lookup_id") if earlier else None
        script = earlier[-1].get("script") if earlier else None
        article = await self.client.article(article_id, language, script)
        if article is None:
            dispatcher.utter_message(text=say("article_gone", language))
            return [SlotSet("article_id", None)]
        answer_with_article(dispatcher, article, language)
        history.append(offered(article, "picked", lookup_id, script))
        return [
            SlotSet("article_id", None),
            SlotSet("kb_offered", history),
            SlotSet("kb_outcome", "answer"),
        ]
