"""The bridge to the Rasa server: its REST channel, and its HTTP API for the trackers.

Rasa's HTTP API takes its ``--auth-token`` as the ``token`` query parameter (Rasa 3.6 reads no
header for it); the REST channel's webhook is a channel and takes none, so it is not sent there.

Several Rasa processes over one tracker store are interchangeable, and the client spreads the
conversations over them: a stable hash of the conversation id picks each conversation's Rasa,
and the next one takes over while that one refuses the connection (the request never reached
it), so a killed Rasa costs its customers nothing while the supervisor starts it again. A
Rasa that takes the connection but does not answer in time (wedged) or answers 5xx is passed
over for ``unhealthy_for_s`` (30 s): the next calls for its conversations go to the next Rasa
first. The call that failed is not sent on (Rasa may have taken the message): the gateway
apologises, and its redelivery, which reads the shared tracker before sending again
(``replies_given``), then reaches the next Rasa. A conversation moves only then. With one
service process, whose gateway answers a
conversation's messages one at a time, that alone keeps two Rasa processes off one
conversation (Rasa's in-memory lock store suffices); with several service workers, Rasa's
Redis lock store does it (docs/scaling.md).
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx

from tracing import request_id

# The service's message id, in the metadata of the message sent to Rasa (and so in the tracker).
MESSAGE_ID_KEY = "kefu_message_id"
ACTIONS_PROBE_S = 2.0
# How long a Rasa that timed out or answered 5xx is tried after the others (with several).
UNHEALTHY_FOR_S = 30.0

log = logging.getLogger(__name__)

# The request was never sent: another Rasa process may take it. (A timeout or a dropped
# connection after sending may mean Rasa took the message; the gateway asks its tracker.)
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


class RasaUnavailableError(Exception):
    """Rasa did not answer in time or answered with an error (``kind`` "unavailable"), or took
    the message without a word ("action_failed", "action_server_down": the gateway tells)."""

    def __init__(self, detail: str, kind: str = "unavailable") -> None:
        super().__init__(detail)
        self.kind = kind


class RasaDroppedError(RasaUnavailableError):
    """Rasa closed the connection before answering: the process died (a busy one times out)."""


DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


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
    """One pooled HTTP client per process: a new connection per message costs a round trip.

    ``base_urls``: one Rasa, or several over the same tracker store (each conversation has its
    own first choice among them, and tries the others in turn)."""

    def __init__(
        self,
        base_urls: str | Sequence[str],
        timeout_s: float = 10.0,
        token: str | None = None,
        actions_url: str | None = None,
        unhealthy_for_s: float = UNHEALTHY_FOR_S,
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        self.base_urls = [url.rstrip("/") for url in urls]
        if not self.base_urls:
            raise ValueError("RasaClient needs the address of at least one Rasa")
        self.unhealthy_for_s = unhealthy_for_s
        # Until when (time.monotonic()) each Rasa is tried only after the others.
        self._unhealthy_until = [0.0] * len(self.base_urls)
        self._current = 0  # the one that answered last (the health check tells it)
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self._auth = {"token": token} if token else {}
        self.actions_url = actions_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        conversation_id: str,
        text: str,
        language: str | None = None,
        message_id: int | None = None,
        channel: str | None = None,
    ) -> list[BotReply]:
        """Send one customer message; Rasa answers with the bot's replies to it. ``language``
        goes into a button's payload as an entity (Rasa's NLU never sees a payload), and with
        every message as metadata, which the actions can read from the tracker; so do the
        service's ``message_id``, by which replies_given finds the turn again, and the request
        id (tracing/request_id.py), which the actions log and send back."""
        message: dict[str, Any] = {"sender": conversation_id, "message": text}
        metadata: dict[str, Any] = {}
        if language is not None:
            message["message"] = with_language(text, language)
            metadata["language"] = language
        if message_id is not None:
            metadata[MESSAGE_ID_KEY] = message_id
        if channel is not None and channel != "widget":  # the actions offer no buttons by mail
            metadata["channel"] = channel
        current_request = request_id.request_id.get()
        if current_request is not None:  # the actions send it back to the service, and log it
            metadata[request_id.METADATA_KEY] = current_request
        if metadata:
            message["metadata"] = metadata
        return parse_replies(
            await self._call(
                "POST", "/webhooks/rest/webhook", conversation_id, json=message, api=False
            )
        )

    async def replies_given(self, conversation_id: str, message_id: int) -> list[BotReply] | None:
        """What Rasa answered to the service's message ``message_id`` (sent with send), from
        the conversation's tracker: None if Rasa never took it (or the turn was undone), an
        empty list if it took it and said nothing (an action failed)."""
        tracker = await self._call(
            "GET", f"/conversations/{quote(conversation_id, safe='')}/tracker", conversation_id
        )
        events = tracker.get("events") if isinstance(tracker, dict) else None
        return replies_in_turn(events or [], message_id)

    async def actions_up(self) -> bool:
        """Whether Rasa's action server answers its health check (True when its address is not
        known): when Rasa takes a message and says nothing, this tells a dead action server,
        which says nothing about the message, from an action that fails on it."""
        if self.actions_url is None:
            return True
        try:
            answer = await self._http.get(f"{self.actions_url}/health", timeout=ACTIONS_PROBE_S)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    @property
    def base_url(self) -> str:
        """The Rasa that answered last."""
        return self.base_urls[self._current]

    def first_choice(self, conversation_id: str) -> int:
        """The index of the Rasa a conversation goes to while it is up."""
        return first_rasa(conversation_id, len(self.base_urls))

    async def _call(
        self, method: str, path: str, conversation_id: str, json: Any = None, api: bool = True
    ) -> Any:
        answer = await self._request(
            method, path, json, self._auth if api else None, self.first_choice(conversation_id)
        )
        if answer.status_code != 200:
            raise RasaUnavailableError(f"HTTP {answer.status_code}")
        try:
            return answer.json()
        except ValueError as error:  # a proxy's error page, a half-written body
            raise RasaUnavailableError("Rasa's answer is not JSON") from error

    async def _request(
        self, method: str, path: str, json: Any, params: dict[str, str] | None, first: int
    ) -> httpx.Response:
        """The answer of the Rasa at index ``first`` (after the others while it is marked
        unhealthy), or of the next one while each refuses the connection."""
        order = self._order(first)
        for attempt, index in enumerate(order):
            try:
                answer = await self._http.request(
                    method, self.base_urls[index] + path, json=json, params=params
                )
            except NOT_SENT as error:
                if isinstance(error, httpx.ConnectTimeout):
                    self._mark_unhealthy(index, "took no connection in time")
                if attempt + 1 < len(order):
                    log.warning(
                        "Rasa at %s refused (%r); trying %s",
                        self.base_urls[index],
                        error,
                        self.base_urls[order[attempt + 1]],
                    )
                    continue
                raise RasaUnavailableError(repr(error)) from error
            except DROPPED as error:
                raise RasaDroppedError(repr(error)) from error
            except httpx.TimeoutException as error:  # sent: it may have taken the message
                self._mark_unhealthy(index, "did not answer in time")
                raise RasaUnavailableError(repr(error)) from error
            except httpx.HTTPError as error:
                raise RasaUnavailableError(repr(error)) from error
            if answer.status_code >= 500:
                self._mark_unhealthy(index, f"answered HTTP {answer.status_code}")
            self._current = index
            return answer
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _order(self, first: int) -> list[int]:
        """The Rasa processes to try, from ``first`` round the ring; the healthy ones first."""
        count = len(self.base_urls)
        now = time.monotonic()
        ring = [(first + step) % count for step in range(count)]
        return sorted(ring, key=lambda index: self._unhealthy_until[index] > now)  # stable

    def _mark_unhealthy(self, index: int, why: str) -> None:
        if len(self.base_urls) < 2:
            return  # nowhere else to go: nothing changes
        self._unhealthy_until[index] = time.monotonic() + self.unhealthy_for_s
        log.warning(
            "Rasa at %s %s: its conversations go to the next first for %.0f s",
            self.base_urls[index],
            why,
            self.unhealthy_for_s,
        )


def first_rasa(conversation_id: str, count: int) -> int:
    """Which of ``count`` Rasa processes a conversation goes to while it is up: CRC-32 of its
    id, the same in every service process and after every restart (Python's hash() is not)."""
    return zlib.crc32(conversation_id.encode("utf-8")) % count


def replies_in_turn(events: list[Any], message_id: int) -> list[BotReply] | None:
    """The bot's messages after the last user event carrying ``message_id`` up to the next user
    event, as the REST channel would have sent them; None if no such event, or a ``rewind``
    undid that turn."""
    start = None
    for index, event in enumerate(events):
        if (
            isinstance(event, dict)
            and event.get("event") == "user"
            and (event.get("metadata") or {}).get(MESSAGE_ID_KEY) == message_id
        ):
            start = index
    if start is None:
        return None
    items: list[dict[str, Any]] = []
    for event in events[start + 1 :]:
        if not isinstance(event, dict):
            continue
        if event.get("event") in ("user", "rewind"):
            if event.get("event") == "rewind":
                return None
            break
        if event.get("event") == "bot":
            data = event.get("data") or {}
            items.append({"text": event.get("text"), **data})
    return parse_replies(items)


def parse_replies(items: Any) -> list[BotReply]:
    """Rasa's REST channel answer (a list of messages) as the bot's replies."""
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
