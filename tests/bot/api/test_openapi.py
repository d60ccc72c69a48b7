"""The OpenAPI document describes every route: what it returns on success (a typed JSON
schema, or the media type of a page or a download) and the refusals it gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.api.main import create_app
from bot.settings import Settings

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
Operation = tuple[str, dict[str, Any]]  # "POST /api/v1/articles", the operation object


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # Building the document needs no database, index or model: nothing is started.
    schema: dict[str, Any] = create_app(Settings(environment="test")).openapi()
    return schema


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def describes(schema: dict[str, Any], document: dict[str, Any]) -> bool:
    """True when a JSON schema names its fields; a free-form object (a ``dict[str, Any]``
    return) or an empty schema says nothing about the response."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return describes(document["components"]["schemas"][name], document)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            return all(describes(part, document) for part in schema[combined])
    if "enum" in schema or "const" in schema:
        return True
    kind = schema.get("type")
    if kind == "array":
        return describes(schema.get("items", {}), document)
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict):  # a typed map such as dict[str, int]
            return describes(values, document)
        return bool(schema.get("properties"))
    return kind in {"string", "integer", "number", "boolean", "null"}


def report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}: {'; '.join(found)}" for name, found in sorted(problems.items()))


def success_problems(operation: dict[str, Any], document: dict[str, Any]) -> list[str]:
    success = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
    if not success:
        return ["no 2xx response"]
    problems = []
    for code, response in success.items():
        content = response.get("content", {})
        if code == "204":
            if content:
                problems.append("204 with a body")
            continue
        if not content:
            problems.append(f"{code} without a media type")
        for media, body in content.items():
            schema = body.get("schema", {})
            if media == "application/json" and not describes(schema, document):
                problems.append(f"{code} {media}: the schema does not describe the fields")
            elif media != "application/json" and not schema:
                problems.append(f"{code} {media}: no schema")
    return problems


def test_every_operation_declares_what_it_returns(document: dict[str, Any]) -> None:
    undocumented = {
        name: problems
        for name, operation in operations(document)
        if (problems := success_problems(operation, document))
    }
    assert not undocumented, report(undocumented)


def test_pages_are_declared_as_html(document: dict[str, Any]) -> None:
    pages = ["GET /", "GET /agent", "GET /editor", "GET /articles/{article_id}"]
    media = {
        name: set(operation["responses"]["200"].get("content", {}))
        for name, operation in operations(document)
        if name in pages
    }
    assert media == {page: {"text/html"} for page in pages}


def test_every_refusal_is_documented_with_its_detail(document: dict[str, Any]) -> None:
    """A route behind a login or a token lists 401; every 4xx/5xx answer has a JSON schema
    with a ``detail`` (a refusal) or is the health report (503)."""
    problems = {}
    for name, operation in operations(document):
        responses = operation["responses"]
        missing = []
        if operation.get("security") and "401" not in responses:
            missing.append("401 not documented")
        for code, response in responses.items():
            if code[0] not in "45":
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema is None or not describes(schema, document):
                missing.append(f"{code} without a schema")
        if missing:
            problems[name] = missing
    assert not problems, report(problems)


def test_the_editors_article_routes_document_their_refusals(document: dict[str, Any]) -> None:
    """The statuses tests/bot/api/routes/test_articles.py asserts appear in the document."""
    expected = {
        "GET /api/v1/articles": {"401", "403", "422"},
        "POST /api/v1/articles": {"400", "401", "403", "409", "413", "422"},
        "GET /api/v1/articles/{article_id}": {"401", "403", "404", "422"},
        "PUT /api/v1/articles/{article_id}": {"400", "401", "403", "404", "409", "413", "422"},
        "POST /api/v1/articles/{article_id}/status": {
            "400",
            "401",
            "403",
            "404",
            "409",
            "413",
            "422",
        },
        "POST /api/v1/articles/{article_id}/restore": {
            "400",
            "401",
            "403",
            "404",
            "409",
            "413",
            "422",
        },
        "GET /api/v1/articles/{article_id}/diff": {"401", "403", "404", "422"},
        "POST /api/v1/articles/import": {"400", "401", "403", "413", "422"},
        "GET /api/v1/gaps": {"401", "403", "422"},
        "GET /api/v1/retrieval/calibration": {"401", "403"},
        "POST /api/v1/internal/kb/search": {"400", "401", "403", "413", "422"},
        "GET /api/v1/internal/kb/articles/{article_id}": {"401", "403", "404", "422"},
        "POST /api/v1/auth/login": {"400", "401", "403", "413", "422", "429"},
        "POST /api/v1/auth/logout": {"403"},
        "PATCH /api/v1/auth/me": {"400", "401", "403", "413", "422"},
    }
    found = {
        name: {code for code in operation["responses"] if code[0] == "4"}
        for name, operation in operations(document)
        if name in expected
    }
    assert found == expected


def test_every_body_may_be_refused_before_it_is_read(document: dict[str, Any]) -> None:
    """The middleware's 413 (with the route's limit) and the unreadable body's 400 are listed
    on every operation that takes a body (bot/api/openapi.py)."""
    limits = {}
    for name, operation in operations(document):
        if "requestBody" in operation:
            responses = operation["responses"]
            assert {"400", "413"} <= set(responses), name
            limits[name] = responses["413"]["description"]
    assert len(limits) == 22  # with POST …/transcript (docs/email.md)
    assert limits["POST /api/v1/conversations/{conversation_id}/messages"] == (
        "A body over 65536 bytes, this route's limit"
    )
    assert "16777216 bytes" in limits["POST /api/v1/articles/import"]
    assert "1048576 bytes" in limits["POST /api/v1/internal/handoffs"]


def test_each_credential_has_its_own_security_scheme(document: dict[str, Any]) -> None:
    """The staff's cookie or bearer session, the service token and the conversation token are
    told apart, so a client (and Schemathesis) knows which route takes which."""
    schemes = document["components"]["securitySchemes"]
    assert schemes["StaffSessionCookie"] | {"description": ""} == {
        "type": "apiKey",
        "in": "cookie",
        "name": "kefu_session",
        "description": "",
    }
    for bearer in ("StaffSession", "ServiceToken", "ConversationToken"):
        assert (schemes[bearer]["type"], schemes[bearer]["scheme"]) == ("http", "bearer")
    security = {name: operation.get("security") for name, operation in operations(document)}
    staff = [{"StaffSessionCookie": []}, {"StaffSession": []}]  # either one
    assert security["GET /api/v1/handoffs"] == staff
    assert security["POST /api/v1/articles/import"] == staff
    assert security["POST /api/v1/internal/handoffs"] == [{"ServiceToken": []}]
    assert security["GET /api/v1/conversations/{conversation_id}/messages"] == [
        {"ConversationToken": []}
    ]
    assert security["POST /api/v1/conversations"] is None  # opening one needs nothing


def test_the_export_is_declared_as_ndjson(document: dict[str, Any]) -> None:
    [operation] = [
        operation
        for name, operation in operations(document)
        if name == "GET /api/v1/articles/export"
    ]
    assert set(operation["responses"]["200"]["content"]) == {"application/x-ndjson"}


def test_the_report_routes_document_their_refusals(document: dict[str, Any]) -> None:
    """The statuses tests/bot/api/routes/test_reports.py asserts appear in the document."""
    expected = {
        "GET /api/v1/reports/summary": {"401", "403", "422"},
        "GET /api/v1/reports/export.csv": {"401", "403", "422"},
        "GET /api/v1/reports/conversations": {"401", "403", "422"},
        "GET /api/v1/reports/conversations/{conversation_id}": {"401", "403", "404", "422"},
        "GET /api/v1/reports/agents": {"401", "403"},
    }
    found = {
        name: {code for code in operation["responses"] if code[0] == "4"}
        for name, operation in operations(document)
        if name.startswith("GET /api/v1/reports")
    }
    assert found == expected
