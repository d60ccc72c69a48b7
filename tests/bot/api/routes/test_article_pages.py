from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.settings import Settings
from db.engine import create_engine_for, session_factory
from kb.schemas import ArticleIn
from kb.store import ArticleStore
from tests.servers.databases import FreshDatabases

pytestmark = pytest.mark.slow


def test_published_article_page_shows_title_and_body(client: TestClient) -> None:
    response = client.get("/articles/returns-policy-zh")
    assert response.status_code == 200
    assert "<title>退货政策</title>" in response.text
    assert 'lang="zh-CN"' in response.text


def test_unknown_article_is_404(client: TestClient) -> None:
    response = client.get("/articles/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "article 'nope' not found"


def test_html_in_an_article_is_shown_as_text_never_run(
    tmp_path: Path, fresh_databases: FreshDatabases
) -> None:
    with fresh_databases.fresh(tmp_path) as url:
        _html_is_shown_as_text(tmp_path, url)


def _html_is_shown_as_text(tmp_path: Path, url: str) -> None:
    engine = create_engine_for(url)
    with session_factory(engine)() as session:
        ArticleStore(session).upsert(
            ArticleIn(
                id="xss",
                title="<img src=x onerror=alert(1)>",
                language="en",
                body="<script>alert('x')</script> **Bold** and [link](javascript:alert(1)) "
                "and [help](https://example.com/help)",
            )
        )
        session.commit()
    engine.dispose()
    settings = Settings(database_url=url, index_dir=tmp_path / "index", environment="test")
    with TestClient(create_app(settings)) as client:
        page = client.get("/articles/xss")
    assert "<script>" not in page.text  # tags were removed on save; Markdown is rendered
    assert "<strong>Bold</strong>" in page.text
    assert 'href="javascript' not in page.text  # a script link stays text
    assert '<a href="https://example.com/help">help</a>' in page.text
    assert "<img" not in page.text  # the title is escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
