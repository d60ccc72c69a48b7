"""The staff texts for the browser: the whole catalogue, in every language, to anyone."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from texts import LANGUAGES
from texts.staff import TEXTS

pytestmark = pytest.mark.slow


def test_the_staff_catalogue_is_served_whole_before_any_login(client: TestClient) -> None:
    response = client.get("/api/v1/texts/staff")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    body = response.json()
    assert body["languages"] == list(LANGUAGES)
    assert body["texts"] == TEXTS
    assert body["texts"]["console.log_out"] == {"en": "Log out", "zh": "退出登录"}


def test_the_staff_catalogue_is_read_only(client: TestClient) -> None:
    response = client.post("/api/v1/texts/staff", json={})
    assert response.status_code in (403, 405)  # refused before routing, or no such method
