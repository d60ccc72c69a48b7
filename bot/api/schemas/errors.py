"""The error answers every route may give, for the OpenAPI document: ``{"detail": ...}``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorPublic(BaseModel):
    """A refusal, with a sentence saying why (an ``HTTPException``'s detail)."""

    detail: str


class ValidationIssuePublic(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorPublic(BaseModel):
    """A request FastAPI could not validate: one entry per problem."""

    detail: list[ValidationIssuePublic]


_DESCRIPTIONS = {
    401: "Not logged in, or no token",
    403: "Logged in or holding a token, without the right to do this",
    404: "Not found",
    409: "In conflict with what is stored (exists already, or changed since it was loaded)",
    422: "A malformed request (a list of problems) or content refused as a whole (a sentence)",
    429: "Too many attempts; the Retry-After header says when to try again",
    503: "Not available on this service now (a feature that is not configured)",
}


def refusals(*codes: int, page: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a router or route that answers with these statuses.

    FastAPI documents its own 422 (a list of problems) on every route with parameters;
    declare 422 here only where a handler also refuses with a sentence. A page (an HTML
    route) refuses in JSON too, but FastAPI files a response model under the route's own
    media type; for a page the JSON schema is written out instead."""
    if page:
        return {
            code: {
                "description": _DESCRIPTIONS[code],
                "content": {"application/json": {"schema": ErrorPublic.model_json_schema()}},
            }
            for code in codes
        }
    return {
        code: {
            "model": ErrorPublic | ValidationErrorPublic if code == 422 else ErrorPublic,
            "description": _DESCRIPTIONS[code],
        }
        for code in codes
    }
