"""The demo store page and the widget's files."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow


def test_the_demo_store_includes_the_widget_under_a_strict_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/widget/widget.js"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_the_widget_is_served_without_a_build_step(client: TestClient) -> None:
    script = client.get("/widget/widget.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert client.get("/widget/widget.css").status_code == 200
    assert client.get("/widget/nothing.js").status_code == 404


@pytest.mark.parametrize("console", ["agent", "editor"])
def test_a_console_loads_the_shared_console_module_before_its_own_view(
    client: TestClient, console: str
) -> None:
    page = client.get(f"/{console}")
    assert page.status_code == 200
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # every script is a file the policy allows
    for kind in ("css", "js"):
        shared = page.text.index(f'"/widget/console.{kind}"')
        assert shared < page.text.index(f'"/widget/{console}.{kind}"')
        for name in ("console", console):
            assert client.get(f"/widget/{name}.{kind}").status_code == 200


def test_another_site_may_open_a_conversation(client: TestClient) -> None:
    response = client.post(
        "/api/v1/conversations", json={}, headers={"Origin": "https://shop.example.com"}
    )
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("path", ["/", "/widget/widget.js", "/api/v1/health", "/nothing-here"])
def test_every_response_forbids_content_sniffing(client: TestClient, path: str) -> None:
    assert client.get(path).headers["x-content-type-options"] == "nosniff"


def test_no_page_loads_from_a_cdn_and_the_api_document_stays(client: TestClient) -> None:
    # FastAPI's /docs and /redoc pages load Swagger UI and ReDoc from a CDN.
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").json()["info"]["title"] == "Kefu"
