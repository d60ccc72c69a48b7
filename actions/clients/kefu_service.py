"""Async client of the service's internal API, with explicit timeouts and the service token.

One ``httpx.AsyncClient`` lives as long as the client and its event loop: its connection pool
keeps the TCP connection to the service open between actions. Building a client per call (as
this did) cost the action server a connection, a pool and an SSL context for every lookup,
about a tenth of a knowledge-base answer (docs/benchmarks.md#chat). An httpx client belongs to
the loop that first used it, so a call from another loop (a test's, or a restarted server's)
gets a new one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import httpx

from tracing import request_id

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 3.0
# The service refuses a longer intent (its kb_lookups.intent column): a search must not fail
# over a name it only records.
MAX_INTENT_CHARS = 64


class ServiceUnavailableError(Exception):
    """The service did not answer in time or answered with an error."""


class EmailRefusedError(Exception):
    """The service refused the customer's email address (422 on ``customer_email``)."""


@dataclass
class KefuServiceClient:
    base_url: str
    token: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    _http: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_env(cls) -> KefuServiceClient:
        """The process's one client: every action shares its connection pool."""
        return _client_from_env(
            os.environ.get("KEFU_SERVICE_URL", "http://127.0.0.1:8000"),
            os.environ.get("KEFU_SERVICE_TOKEN", "dev-service-token"),
            float(os.environ.get("KEFU_SERVICE_TIMEOUT_S", DEFAULT_TIMEOUT_S)),
        )

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop or self._http.is_closed:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout_s,
                headers={"Authorization": f"Bearer {self.token}"},
            )
            self._loop = loop
        return self._http

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {}
        current = request_id.request_id.get()  # the message's, from Rasa (actions/request_id.py)
        if current is not None:
            headers[request_id.HEADER] = current
        try:
            return await self._client().request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            # The service never saw this call: the action server's log is where it shows.
            log.warning("%s %s did not reach the service: %r", method, path, error)
            raise ServiceUnavailableError(f"{method} {path}: {error!r}") from error

    async def search(
        self,
        text: str,
        language: str | None,
        conversation_id: str | None = None,
        k: int = 5,
        intent: str | None = None,
        intent_confidence: float | None = None,
    ) -> dict[str, Any]:
        """Band and ranked articles (with answer text and link) for a customer message; with a
        conversation id, the service records the lookup on that conversation, with the intent
        Rasa detected in the message when it is given."""
        payload: dict[str, Any] = {"text": text[:1000], "k": k}
        if conversation_id is not None:
            payload["conversation_id"] = conversation_id
        if intent:
            payload["intent"] = intent[:MAX_INTENT_CHARS]
            if intent_confidence is not None:
                payload["intent_confidence"] = min(max(float(intent_confidence), 0.0), 1.0)
        if language in ("zh", "en"):
            payload["language"] = language
        response = await self._request("POST", "/api/v1/internal/kb/search", json=payload)
        if response.status_code != 200:
            raise ServiceUnavailableError(f"search answered {response.status_code}")
        result: dict[str, Any] = response.json()
        return result

    async def article(
        self, article_id: str, language: str | None = None, script: str | None = None
    ) -> dict[str, Any] | None:
        """A published article in the customer's language and script (as the search that
        offered it found them), or None when it does not exist (any more)."""
        params = {
            key: value
            for key, value in (("language", language), ("script", script))
            if value in ("zh", "en", "hans", "hant")
        }
        response = await self._request(
            "GET", f"/api/v1/internal/kb/articles/{article_id}", params=params
        )
        if response.status_code in (404, 422):
            return None
        if response.status_code != 200:
            raise ServiceUnavailableError(f"article answered {response.status_code}")
        result: dict[str, Any] = response.json()
        return result

    async def record_feedback(
        self,
        conversation_id: str,
        article_id: str,
        version: int | None,
        helpful: bool,
        lookup_id: int | None = None,
    ) -> None:
        """ "Did this help?" against the article version shown (lookup: the search it came from)."""
        body = {"article_id": article_id, "version": version, "helpful": helpful}
        if lookup_id is not None:
            body["lookup_id"] = lookup_id
        response = await self._request(
            "POST", f"/api/v1/internal/conversations/{conversation_id}/feedback", json=body
        )
        if response.status_code != 201:
            raise ServiceUnavailableError(f"feedback answered {response.status_code}")

    async def open_handoff(
        self,
        conversation_id: str,
        reason: str,
        language: str,
        intents: list[dict[str, Any]],
        customer_email: str | None = None,
    ) -> dict[str, Any] | None:
        """Open (or update) the conversation's handoff; None when the service does not know
        the conversation (a chat the gateway did not open, e.g. `rasa shell`)."""
        body: dict[str, Any] = {
            "conversation_id": conversation_id,
            "reason": reason,
            "language": language,
            "intents": intents[-50:],
        }
        if customer_email:
            body["customer_email"] = customer_email
        response = await self._request("POST", "/api/v1/internal/handoffs", json=body)
        if response.status_code == 404:
            return None
        if response.status_code == 422 and customer_email and _refuses_email(response):
            raise EmailRefusedError(response.text[:500])
        if response.status_code != 201:
            raise ServiceUnavailableError(f"handoff answered {response.status_code}")
        result: dict[str, Any] = response.json()
        return result


# The action server is its own process; these environment variables are its only settings.
@functools.cache
def _client_from_env(base_url: str, token: str, timeout_s: float) -> KefuServiceClient:
    return KefuServiceClient(base_url=base_url, token=token, timeout_s=timeout_s)


def _refuses_email(response: httpx.Response) -> bool:
    """Whether a 422 names the email (FastAPI lists each refused field's location)."""
    try:
        errors = response.json().get("detail")
    except ValueError:
        return False
    return isinstance(errors, list) and any(
        isinstance(e, dict) and "customer_email" in (e.get("loc") or []) for e in errors
    )
