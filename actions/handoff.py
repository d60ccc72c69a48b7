"""Escalation to a person.

The agent queue and console arrive with the handoff issue; until then this action tells the
customer, in their language, how to reach a person, so a request for a human is never ignored.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

CONTACT = {
    "en": "I'm sorry I couldn't solve this. Our team is available every day 9:00–21:00 (UTC+8) "
    "on 400-800-1234 or at support@kefu-demo.shop, and will take it from here.",
    "zh": "抱歉没能帮您解决。人工客服每天9:00–21:00（北京时间）在线，"
    "电话400-800-1234，邮箱support@kefu-demo.shop，会继续为您处理。",
}


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = "zh" if tracker.get_slot("language") == "zh" else "en"
        dispatcher.utter_message(text=CONTACT[language])
        return []
