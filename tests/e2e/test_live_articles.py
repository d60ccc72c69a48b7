"""An article published in the editor API is the bot's answer over the chat right after —
no restart, no retraining — and an archived one is never answered again."""

from __future__ import annotations

import time

import httpx
import pytest

from bot.stack import Stack
from tests.e2e.chat import Customer
from tests.e2e.conftest import AGENT_PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ARTICLE = {
    "id": "pets-in-stores",
    "title": "Pets in our stores",
    "body": "Dogs on a leash and cats in a carrier are welcome in all our stores.",
    "questions": ["Can I bring my dog into your store?", "Are pets allowed in the shop?"],
    "category": "stores",
    "language": "en",
    "status": "draft",
}
QUESTION = "Can I bring my dog into the store?"


def answered_article(customer: Customer) -> str | None:
    articles = [a["id"] for r in customer.say(QUESTION) for a in r["articles"]]
    return articles[0] if articles else None


def test_publish_then_answer_then_archive(stack: Stack, editor_email: str) -> None:
    base = stack.config.service_url
    login = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": editor_email, "password": AGENT_PASSWORD}
    )
    editor = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {login.cookies['kefu_session']}"}
    )
    customer = Customer(base, "en").open()
    assert answered_article(customer) != ARTICLE["id"]

    draft = editor.post("/api/v1/articles", json=ARTICLE).json()
    published = editor.post(
        f"/api/v1/articles/{ARTICLE['id']}/status",
        json={"status": "published", "expected_version": draft["version"]},
    )
    assert published.status_code == 200
    started = time.perf_counter()
    assert answered_article(customer) == ARTICLE["id"]
    print(f"published → answered over the chat in {time.perf_counter() - started:.2f} s")

    editor.post(
        f"/api/v1/articles/{ARTICLE['id']}/status",
        json={"status": "archived", "expected_version": published.json()["version"]},
    )
    assert answered_article(customer) != ARTICLE["id"]
    page = httpx.get(f"{base}/articles/{ARTICLE['id']}")
    assert page.status_code == 404
