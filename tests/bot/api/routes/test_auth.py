"""Staff login: one answer for every wrong credential, throttling, sessions, logout."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from bot import cli
from bot.auth.throttle import LoginThrottle
from bot.settings import Settings
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


class FakeClock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_refusal_says_when_to_retry_and_the_wait_passes(
    client: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    clock = FakeClock()
    state = client.app.state.kefu  # type: ignore[attr-defined]
    policy = state.login_throttle.policy  # from the settings
    assert (policy.delay_cap_s, policy.free_failures_per_address) == (36, 10)
    state.login_throttle = LoginThrottle(policy, clock)
    wrong = {"email": staff["admin"], "password": "bad"}
    right = {"email": staff["admin"], "password": PASSWORD}
    for expected_wait in (1, 2, 4):
        assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
        refused = client.post("/api/v1/auth/login", json=right)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(expected_wait)
        assert refused.json()["detail"] == f"too many failed logins; try again in {expected_wait} s"
        clock.now += expected_wait
    assert client.post("/api/v1/auth/login", json=right).status_code == 200


def served(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The app exactly as `kefu serve` hands it to uvicorn (proxy headers included), reached
    from loopback, as by a local reverse proxy or anyone on the machine."""
    captured: list[uvicorn.Config] = []

    def run(server: uvicorn.Server, sockets: Any = None) -> None:  # serves nothing
        captured.append(server.config)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    cli.serve(host="127.0.0.1", port=8000)
    [config] = captured
    config.load()
    return TestClient(config.loaded_app, client=("127.0.0.1", 40000))


def spray_with_forged_addresses(client: TestClient) -> list[int]:
    return [
        client.post(
            "/api/v1/auth/login",
            json={"email": f"staff{i}@shop.test", "password": "guess"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(12)
    ]


def test_a_forged_forwarded_for_does_not_escape_the_address_limit(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with served(settings, monkeypatch) as client:
        assert spray_with_forged_addresses(client) == [401] * 10 + [429] * 2


def test_a_configured_proxy_is_believed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    behind_proxy = settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    with served(behind_proxy, monkeypatch) as client:
        assert spray_with_forged_addresses(client) == [401] * 12  # 12 clients, one failure each


def log_in(client: TestClient, email: str) -> None:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200


def test_the_consoles_language_is_kept_on_the_account(
    client: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    log_in(client, staff["supervisor"])
    assert client.get("/api/v1/auth/me").json()["language"] is None  # the browser's, until set
    headers = console_headers(client)
    changed = client.patch("/api/v1/auth/me", json={"language": "zh"}, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["language"] == "zh"
    # Kept for the next login, and null gives the choice back to the browser.
    client.post("/api/v1/auth/logout", headers=headers)
    log_in(client, staff["supervisor"])
    assert client.get("/api/v1/auth/me").json()["language"] == "zh"
    reset = client.patch(
        "/api/v1/auth/me", json={"language": None}, headers=console_headers(client)
    )
    assert (reset.status_code, reset.json()["language"]) == (200, None)


def test_the_language_is_set_only_when_logged_in(client: TestClient) -> None:
    response = client.patch("/api/v1/auth/me", json={"language": "zh"})
    assert response.status_code == 401
    assert response.json()["detail"] == "log in first"


@pytest.mark.parametrize("language", ["fr", "ZH", "", 7])
def test_a_language_kefu_does_not_speak_is_refused(
    client: TestClient,
    staff: dict[str, str],  # noqa: F811
    language: object,
) -> None:
    log_in(client, staff["editor"])
    response = client.patch(
        "/api/v1/auth/me", json={"language": language}, headers=console_headers(client)
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "language"]
    assert client.get("/api/v1/auth/me").json()["language"] is None


def test_changing_the_language_needs_the_csrf_token(
    client: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    log_in(client, staff["agent2"])
    response = client.patch("/api/v1/auth/me", json={"language": "zh"})
    assert response.status_code == 403
    assert client.get("/api/v1/auth/me").json()["language"] is None
