"""Staff login: one answer for every wrong credential, throttling, sessions, logout."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.bot.api.conftest import console_headers
from tests.bot.api.routes.test_handoffs import PASSWORD, staff  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def test_login_sets_an_http_only_strict_cookie_and_me_answers(
    client: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    response = client.post(
        "/api/v1/auth/login", json={"email": staff["agent"].upper(), "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["role"] == "agent"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/api/v1/auth/me").json()["email"] == staff["agent"]
    assert client.post("/api/v1/auth/logout", headers=console_headers(client)).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


def test_unknown_user_and_wrong_password_get_the_same_answer(
    client: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    wrong = client.post("/api/v1/auth/login", json={"email": staff["agent"], "password": "nope"})
    unknown = client.post("/api/v1/auth/login", json={"email": "x@y.z", "password": "nope"})
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())
    assert wrong.json()["detail"] == "wrong email or password"


def test_too_many_failures_are_throttled(client: TestClient, staff: dict[str, str]) -> None:  # noqa: F811
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"email": staff["editor"], "password": "bad"})
    blocked = client.post(
        "/api/v1/auth/login", json={"email": staff["editor"], "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
