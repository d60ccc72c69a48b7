"""The demo store page and the widget's files."""

from __future__ import annotations

import re

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


# Text from users interpolated into one string with the interface's own text: an RLO in it
# would reverse the rest of that string (the author's name before " · time", and so on).
USER_TEXT_IN_A_STRING = re.compile(
    r"\$\{(?:row\.agent_name|row\.category|note\.author|data\.agent_name|data\.customer_name"
    r"|customer\.name|i\.text|user\.name|v\.author|article\.author|source\.title|buttons|articles)"
)


def test_text_from_users_is_isolated_in_the_consoles_and_the_widget(client: TestClient) -> None:
    """Not seen in a browser: the markup and styles that isolate it (docs/security.md)."""
    css = {name: client.get(f"/widget/{name}.css").text for name in ("console", "widget")}
    js = {
        name: client.get(f"/widget/{name}.js").text
        for name in ("console", "agent", "editor", "widget")
    }
    assert re.search(r'^\[dir="auto"\] \{\s+unicode-bidi: isolate;', css["console"], re.M)
    assert re.search(
        r'^#kefu-widget \[dir="auto"\] \{\s+unicode-bidi: isolate;', css["widget"], re.M
    )
    assert re.search(r"\.kefu-text \{\s+unicode-bidi: plaintext;", css["widget"])
    # Every text the helpers write gets its own direction.
    assert 'node.textContent = String(text);\n      node.dir = "auto";' in js["console"]
    assert 'node.textContent = String(v); node.dir = "auto";' in js["widget"]
    for name, source in js.items():
        assert not USER_TEXT_IN_A_STRING.findall(source), name
    pages = {name: client.get(f"/{name}").text for name in ("agent", "editor")}
    assert '<h2 class="agent-summary" dir="auto">' in pages["agent"]
    assert '<h2 class="editor-heading" dir="auto">' in pages["editor"]
    assert '<div class="editor-item-title" dir="auto">' in pages["editor"]


@pytest.mark.parametrize("path", ["/reports", "/conversations"])
def test_the_reports_pages_are_one_page_under_the_strict_policy(
    client: TestClient, path: str
) -> None:
    page = client.get(path)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy  # ECharts draws on canvas, tooltips included
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "<script>" not in page.text and "http" not in page.text  # no CDN, no inline script
    scripts = ["console.js", "vendor/echarts/echarts.min.js", "reports.js"]
    positions = [page.text.index(f'"/widget/{name}"') for name in scripts]
    assert positions == sorted(positions)  # the shared module, the library, then the view
    for name in [*scripts, "console.css", "reports.css"]:
        assert client.get(f"/widget/{name}").status_code == 200


def test_the_charting_library_is_served_with_its_licence(client: TestClient) -> None:
    library = client.get("/widget/vendor/echarts/echarts.min.js")
    assert "javascript" in library.headers["content-type"]
    assert "Apache" in client.get("/widget/vendor/echarts/LICENSE").text
    assert "Apache ECharts" in client.get("/widget/vendor/echarts/NOTICE").text
