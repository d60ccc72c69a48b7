"""The bridge to the Rasa server's REST channel."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import httpx


class RasaUnavailableError(Exception):
    """Rasa did not answer in time or answered with an error."""


@dataclass(frozen=True)
class BotReply:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    articles: list[dict[str, Any]] = field(default_factory=list)
    end_of_chat: bool = False  # the bot said goodbye (a response with custom end_of_chat)

    def payload(self) -> dict[str, Any]:
        return {"buttons": self.buttons, "articles": self.articles}


def with_language(text: str, language: str) -> str:
    """A button's ``/intent{...}`` payload skips Rasa's NLU, so the language detector never sees
    it: the language goes in as an entity of the payload (it fills the ``language`` slot)."""
    if not text.startswith("/"):
        return text
    intent, brace, rest = text.partition("{")
    try:
        entities = json.loads(brace + rest) if brace else {}
    except ValueError:
        return text  # not a payload Rasa reads either; leave it as it is
    if not isinstance(entities, dict):
        return text
    return intent + json.dumps({**entities, "language": language}, ensure_ascii=False)


class RasaClient:
    """One pooled HTTP client per process: a new connection per message costs a round trip."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self, conversation_id: str, text: str, language: str | None = None
    ) -> list[BotReply]:
        """Send one customer message; Rasa answers with the bot's replies to it. ``language``
        goes into a button's payload as an entity (Rasa's NLU never sees a payload), and with
        every message as metadata, which the actions can read from the tracker."""
        message: dict[str, Any] = {"sender": conversation_id, "message": text}
        if language is not None:
            message["message"] = with_language(text, language)
            message["metadata"] = {"language": language}
        try:
            answer = await self._http.post("/webhooks/rest/webhook", json=message)
        except httpx.HTTPError as error:
            raise RasaUnavailableError(repr(error)) from error
        if answer.status_code != 200:
            raise RasaUnavailableError(f"HTTP {answer.status_code}")
        try:
            items = answer.json()
        except ValueError as error:  # a proxy's error page, a half-written body
            raise RasaUnavailableError("Rasa's answer is not JSON") from error
        if not isinstance(items, list):
            raise RasaUnavailableError("Rasa's answer is not a list of messages")
        replies: list[BotReply] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            custom = item.get("custom") or {}
            articles = list(custom.get("articles") or [])
            text = str(item.get("text") or "")
            buttons = [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in item.get("buttons") or []
            ]
            end_of_chat = bool(custom.get("end_of_chat"))
            # Rasa's REST channel sends an action's json_message (or a response's custom
            # part) as a message of its own; it belongs to the reply just before it.
            if not text and not buttons and replies:
                replies[-1].articles.extend(articles)
                if end_of_chat:
                    replies[-1] = replace(replies[-1], end_of_chat=True)
                continue
            replies.append(
                BotReply(text=text, buttons=buttons, articles=articles, end_of_chat=end_of_chat)
            )
        return replies
