"""The OpenAPI document: FastAPI's, plus the refusals that come before any route runs.

The middleware answers some requests itself (bot/api/limits.py): a body over its route's limit
(413) and a ``Content-Length`` that is not a number (400); FastAPI refuses a body it cannot
decode (not UTF-8) with 400. No route declares them, so they are added here to every operation
that takes a body, with the limit of its route class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.api.limits import body_limit
from bot.api.schemas.errors import ErrorPublic
from bot.settings import Settings

_ERROR = {"$ref": "#/components/schemas/ErrorPublic"}


def _refusal(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def add_body_refusals(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``document`` with 400 and 413 on every operation that has a request body."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorPublic", ErrorPublic.model_json_schema())
    for path, item in document["paths"].items():
        for operation in item.values():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            responses = operation["responses"]
            responses.setdefault(
                "400",
                _refusal(
                    "A body that cannot be read: not UTF-8, or a Content-Length that is "
                    "not a number"
                ),
            )
            responses.setdefault(
                "413",
                _refusal(f"A body over {body_limit(settings, path)} bytes, this route's limit"),
            )
    return document


def documented(
    build: Callable[[], dict[str, Any]], settings: Settings
) -> Callable[[], dict[str, Any]]:
    """The app's ``openapi`` method: FastAPI's ``build``, completed once and kept."""
    document: dict[str, Any] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal document
        if document is None:
            document = add_body_refusals(build(), settings)
        return document

    return openapi
