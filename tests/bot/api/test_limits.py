"""Request bodies are refused by size before anything reads them (bot/api/limits.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from bot.api.limits import BodyLimit
from bot.api.schemas.articles import MAX_IMPORT_BYTES
from bot.settings import Settings
from kb.schemas import MAX_BODY_CHARS


def test_an_unauthenticated_huge_message_is_refused_before_authentication(
    client: TestClient,
) -> None:
    huge = b'{"text": "' + b"x" * 200_000 + b'"}'
    response = client.post(
        "/api/v1/conversations/any/messages",
        content=huge,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413  # not 401: the body was never read
    assert "at most 65536 bytes" in response.json()["detail"]


def test_the_widget_can_read_the_refusal_from_the_shops_page(client: TestClient) -> None:
    response = client.post(
        "/api/v1/conversations/any/messages",
        content=b"x" * 100_000,
        headers={"Content-Type": "application/json", "Origin": "https://shop.example"},
    )
    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_defaults_hold_the_largest_import_and_article_the_editors_may_send() -> None:
    settings = Settings()
    chinese_file = {"name": "kb.jsonl", "content": "退" * MAX_IMPORT_BYTES}
    import_body = json.dumps({"format": "jsonl", "files": [chinese_file]}, ensure_ascii=False)
    assert len(import_body.encode()) <= settings.max_import_body_bytes
    article = {
        "id": "a" * 80,
        "title": "退" * 200,
        "body": "退" * MAX_BODY_CHARS,
        "questions": ["退" * 300] * 20,
        "tags": ["退" * 40] * 20,
    }
    # Escaped as \uXXXX, as json.dumps and httpx write it by default: six bytes a character.
    assert len(json.dumps(article).encode()) <= settings.max_article_body_bytes


def test_the_limit_goes_by_route_class(settings: Settings) -> None:
    limits = BodyLimit(FastAPI(), settings)
    assert limits.limit("/api/v1/articles/import") == 16 * 1024 * 1024
    assert limits.limit("/api/v1/articles/refund-timeline") == 1024 * 1024
    assert limits.limit("/api/v1/internal/handoffs") == 1024 * 1024
    assert limits.limit("/api/v1/articlesx") == 64 * 1024
    assert limits.limit("/api/v1/conversations/x/messages") == 64 * 1024


def probe(settings: Settings) -> tuple[TestClient, list[int]]:
    """An app behind the limit whose route reads the whole body and records its size."""
    app = FastAPI()
    read: list[int] = []

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        read.append(len(await request.body()))
        return {"read": read[-1]}

    app.add_middleware(BodyLimit, settings=settings)
    return TestClient(app), read


def chunks(count: int, size: int = 16 * 1024) -> Iterator[bytes]:
    for _ in range(count):
        yield b"x" * size


def test_a_chunked_body_is_counted_and_refused_once_over(settings: Settings) -> None:
    client, read = probe(settings)
    over = client.post("/echo", content=chunks(8))  # 128 KiB, no Content-Length
    assert over.status_code == 413
    assert read == []  # the route never got the body
    under = client.post("/echo", content=chunks(2))
    assert (under.status_code, under.json()) == (200, {"read": 32 * 1024})


def test_a_declared_length_over_the_limit_is_refused_before_the_route(settings: Settings) -> None:
    client, read = probe(settings)
    response = client.post("/echo", content=b"x" * 10, headers={"Content-Length": "300000000"})
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert read == []


def test_streaming_answers_pass_untouched(settings: Settings) -> None:
    app = FastAPI()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"one ", b"two ", b"three"]), media_type="text/plain")

    app.add_middleware(BodyLimit, settings=settings)
    assert TestClient(app).get("/stream").text == "one two three"


def test_a_body_within_the_limit_and_a_bad_length_header(settings: Settings) -> None:
    client, _ = probe(settings)
    assert client.post("/echo", content=b"x" * 1000).json() == {"read": 1000}
    bad = client.post("/echo", content=b"x", headers={"Content-Length": "lots"})
    assert bad.status_code == 400
