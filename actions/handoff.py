"""Escalation to a person: open a handoff in the service with what the bot saw, then tell the
customer what happens next — an agent joins, or, with nobody online, leave an email address
and the handoff waits in the queue as a ticket."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients.kefu_service import (
    EmailRefusedError,
    KefuServiceClient,
    ServiceUnavailableError,
)
from contact.email import InvalidEmailError, customer_email
from texts import language_or_fallback, say

# Why the bot hands over, from the intent that led here (other actions may set the slot).
REASON_BY_INTENT = {"complain": "frustration", "request_human": "requested"}
# An invalid address is asked for again at most this often; then the form lets go.
MAX_EMAIL_REASKS = 2
# Something else said while a form waits (a question, thanks) is answered and the form asked
# again this often; the next time the form lets go (the request stays in the queue).
MAX_FORM_DETOURS = 1


def intents_seen(tracker: Tracker) -> list[dict[str, Any]]:
    """Every customer message with the intent Rasa read in it and its confidence."""
    seen = []
    for event in tracker.events:
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent") or {}
        seen.append(
            {
                "text": str(event.get("text") or "")[:2000],
                "intent": str(intent.get("name") or ""),
                "confidence": float(intent.get("confidence") or 0.0),
            }
        )
    return seen


def by_mail(tracker: Tracker) -> bool:
    """The message came by mail (the service says so in its metadata): the customer cannot
    press a button or fill a form, and the service already has their address."""
    metadata = tracker.latest_message.get("metadata") or {}
    return isinstance(metadata, dict) and metadata.get("channel") == "email"


def handoff_reason(tracker: Tracker) -> str:
    reason = tracker.get_slot("handoff_reason")
    if reason:
        return str(reason)
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    return REASON_BY_INTENT.get(str(intent), "requested")


class ActionHandoff(Action):
    def __init__(self, client: KefuServiceClient | None = None) -> None:
        self.client = client or KefuServiceClient.from_env()

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_or_fallback(tracker.get_slot("language"))
        try:
            opened = await self.client.open_handoff(
                tracker.sender_id, handoff_reason(tracker), language, intents_seen(tracker)
            )
        except ServiceUnavailableError:
            opened = None
        if opened is None:
            # Never leave a request for a person unanswered: give the contact channels.
            dispatcher.utter_message(text=say("contact_channels", language))
            return [SlotSet("handoff_reason", None)]
        if opened["agents_online"] > 0:
            dispatcher.utter_message(text=say("connecting", language))
            return [SlotSet("handoff_reason", None), SlotSet("kb_failures", 0.0)]
        # The service decides what to promise: nobody online now, or when the team is back.
        dispatcher.utter_message(text=opened.get("notice") or say("nobody_online", language))
        if by_mail(tracker):
            # The sender's address is the contact: no form (the service mails the confirmation).
            return [SlotSet("handoff_reason", None), SlotSet("kb_failures", 0.0)]
        return [
            SlotSet("handoff_reason", None),
            SlotSet("kb_failures", 0.0),
            SlotSet("email_attempts", 0.0),
            SlotSet("form_detours", 0.0),
            FollowupAction("contact_form"),
        ]


class ValidateContactForm(FormValidationAction):
    def name(self) -> str:
        return "validate_contact_form"

    async def extract_customer_email(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Only a message with an @ is an attempt at an address; anything else (a question,
        "never mind") rejects the form, and the rules answer it (data/rules/contact_form.yml)."""
        if tracker.get_slot("requested_slot") != "customer_email":
            return {}
        text = str(tracker.latest_message.get("text") or "")
        if text.startswith("/") or "@" not in text:
            return {}
        return {"customer_email": text}

    def validate_customer_email(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        language = tracker.get_slot("language")
        text = str(slot_value or "").strip()
        # The address may come inside a sentence ("it's a@b.com"): take the word with an @.
        candidate = next((w.strip(".,;:!?，。；：！？<>") for w in text.split() if "@" in w), text)
        try:
            # The service's own rule, so an address taken here is not refused there.
            return {"customer_email": customer_email(candidate)}
        except InvalidEmailError:
            pass
        attempts = float(tracker.get_slot("email_attempts") or 0) + 1
        if attempts > MAX_EMAIL_REASKS:
            dispatcher.utter_message(text=say("email_given_up", language))
            return {"customer_email": None, "email_attempts": attempts, "requested_slot": None}
        dispatcher.utter_message(text=say("email_invalid", language))
        return {"customer_email": None, "email_attempts": attempts}


class ActionResumeForm(Action):
    """After a detour while a form waits (a question answered, thanks, a greeting): ask the
    form's question again once; the next time let go politely. Works for any form: it asks
    ``utter_ask_<requested slot>`` and says ``utter_leave_<form>``."""

    def name(self) -> str:
        return "action_resume_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        form = (tracker.active_loop or {}).get("name")
        if not form:
            return []
        detours = float(tracker.get_slot("form_detours") or 0) + 1
        if detours > MAX_FORM_DETOURS:
            dispatcher.utter_message(response=f"utter_leave_{form}")
            return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("form_detours", 0.0)]
        dispatcher.utter_message(response=f"utter_ask_{tracker.get_slot('requested_slot')}")
        return [SlotSet("form_detours", detours)]


class ActionSaveContact(Action):
    """The email goes on the waiting handoff (the ticket) for the agent who takes it."""

    def __init__(self, client: KefuServiceClient | None = None) -> None:
        self.client = client or KefuServiceClient.from_env()

    def name(self) -> str:
        return "action_save_contact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = language_or_fallback(tracker.get_slot("language"))
        email = tracker.get_slot("customer_email")
        if not email:  # the form let go (validate_customer_email said so): nothing to add
            return []
        try:
            saved = await self.client.open_handoff(
                tracker.sender_id, "requested", language, intents_seen(tracker), email
            )
        except EmailRefusedError:
            # Never thank the customer for an address that was not kept: say so.
            dispatcher.utter_message(text=say("email_refused", language, email=email))
            return [SlotSet("customer_email", None)]
        except ServiceUnavailableError:
            saved = None
        key = "email_saved" if saved is not None else "contact_channels"
        dispatcher.utter_message(text=say(key, language, email=email))
        return []
