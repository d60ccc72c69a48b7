"""Cross-site requests with an agent's session cookie: a page on another port of the same host
(same-site, so SameSite=Strict lets the cookie through) must not resolve a handoff nor read a
customer's messages live, while the console itself, on the service's own origin, still can."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bot.api.main import create_app
from bot.settings import Settings
from tests.bot.api.conftest import CONSOLE_ORIGIN, console_headers
from tests.bot.api.routes.test_handoffs import PASSWORD, escalate, staff  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

ANOTHER_PORT = "http://testserver:8081"  # same site as the console, another origin
# What a browser sends when that page auto-submits a form to the service.
FORGED_FORM = {"Origin": ANOTHER_PORT, "Sec-Fetch-Site": "same-site"}


def log_in(client: TestClient, email: str) -> dict[str, str]:
    """Log in as the console does, leaving the cookies in the client's jar; the headers the
    console then sends with every state-changing request."""
    response = client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"Origin": CONSOLE_ORIGIN},
    )
    assert response.status_code == 200, response.text
    return console_headers(client)


def claimed_handoff(
    chat: TestClient, service_headers: dict[str, str], console: dict[str, str]
) -> int:
    _, _, handoff_id = escalate(chat, service_headers)
    claimed = chat.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=console)
    assert claimed.status_code == 200, claimed.text
    return handoff_id


def status_of(chat: TestClient, handoff_id: int) -> str:
    status: str = chat.get(f"/api/v1/handoffs/{handoff_id}").json()["status"]
    return status


def test_a_form_from_another_port_does_not_resolve_the_handoff(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    handoff_id = claimed_handoff(chat, service_headers, log_in(chat, staff["agent"]))
    forged = chat.post(f"/api/v1/handoffs/{handoff_id}/resolve", data={}, headers=FORGED_FORM)
    assert forged.status_code == 403
    assert forged.json()["detail"] == (
        "cross-site request refused: origin 'http://testserver:8081' is not trusted"
    )
    assert status_of(chat, handoff_id) == "assigned"


def test_the_other_port_cannot_pass_even_with_the_token(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    """Cookies ignore ports, so that page can read kefu_csrf: the origin check stops it."""
    console = log_in(chat, staff["agent"])
    handoff_id = claimed_handoff(chat, service_headers, console)
    forged = chat.post(
        f"/api/v1/handoffs/{handoff_id}/resolve",
        headers=console | {"Origin": ANOTHER_PORT},
    )
    assert forged.status_code == 403
    assert status_of(chat, handoff_id) == "assigned"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "cross-site request refused: a request with the session cookie needs an Origin"),
        (
            {"Sec-Fetch-Site": "same-site"},
            "cross-site request refused: Sec-Fetch-Site is 'same-site'",
        ),
        (
            {"Origin": CONSOLE_ORIGIN},
            "missing or wrong X-CSRF-Token header: send the kefu_csrf cookie's value",
        ),
        (
            {"Origin": CONSOLE_ORIGIN, "X-CSRF-Token": "0" * 64},
            "missing or wrong X-CSRF-Token header: send the kefu_csrf cookie's value",
        ),
    ],
)
def test_claim_return_and_logout_with_the_cookie_need_the_origin_and_the_token(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
    headers: dict[str, str],
    detail: str,
) -> None:
    """The body-less actions a plain form or an <img>-less fetch could trigger."""
    console = log_in(chat, staff["agent"])
    _, _, handoff_id = escalate(chat, service_headers)
    claim = chat.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=headers)
    assert (claim.status_code, claim.json()["detail"]) == (403, detail)
    assert status_of(chat, handoff_id) == "waiting"
    chat.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=console)
    back = chat.post(f"/api/v1/handoffs/{handoff_id}/return", headers=headers)
    assert (back.status_code, back.json()["detail"]) == (403, detail)
    logout = chat.post("/api/v1/auth/logout", headers=headers)
    assert (logout.status_code, logout.json()["detail"]) == (403, detail)
    assert chat.get("/api/v1/auth/me").status_code == 200  # still logged in
    assert status_of(chat, handoff_id) == "assigned"


def test_the_token_is_bound_to_the_session(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    """A token of one session (say, the attacker's own) is worthless with another's cookie."""
    bobs = log_in(chat, staff["agent2"])
    chat.cookies.clear()
    alices = log_in(chat, staff["agent"])
    assert bobs["X-CSRF-Token"] != alices["X-CSRF-Token"]
    handoff_id = claimed_handoff(chat, service_headers, alices)
    chat.cookies.set("kefu_csrf", bobs["X-CSRF-Token"])  # planted next to Alice's session
    resolve = chat.post(f"/api/v1/handoffs/{handoff_id}/resolve", headers=bobs)
    assert resolve.status_code == 403
    assert status_of(chat, handoff_id) == "assigned"


def test_the_console_on_its_own_origin_resolves_and_logs_out(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    console = log_in(chat, staff["agent"])
    handoff_id = claimed_handoff(chat, service_headers, console)
    resolved = chat.post(f"/api/v1/handoffs/{handoff_id}/resolve", headers=console)
    assert (resolved.status_code, resolved.json()["status"]) == (200, "resolved")
    # A browser without Origin on same-origin requests sends Fetch Metadata instead.
    fetch_metadata = {"Sec-Fetch-Site": "same-origin", "X-CSRF-Token": console["X-CSRF-Token"]}
    assert chat.post("/api/v1/auth/logout", headers=fetch_metadata).status_code == 204
    assert "kefu_csrf" not in chat.cookies
    assert chat.get("/api/v1/auth/me").status_code == 401


def test_login_leaves_a_readable_strict_token_cookie_for_the_console(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    response = chat.post(
        "/api/v1/auth/login",
        json={"email": staff["agent"], "password": PASSWORD},
        headers={"Origin": CONSOLE_ORIGIN},
    )
    [token_cookie] = [c for c in response.headers.get_list("set-cookie") if "kefu_csrf=" in c]
    assert "HttpOnly" not in token_cookie and "SameSite=Strict" in token_cookie
    assert "Secure" not in token_cookie  # secure_cookies is off in the tests
    token = response.cookies["kefu_csrf"]
    assert len(token) == 64 and token != response.cookies["kefu_session"]


def test_a_session_without_a_token_cookie_gets_one_on_its_next_request(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    """Sessions opened before this defence: the console's first call (/auth/me) mends them."""
    issued = log_in(chat, staff["agent"])["X-CSRF-Token"]
    chat.cookies.delete("kefu_csrf")
    chat.get("/api/v1/auth/me")
    assert chat.cookies["kefu_csrf"] == issued


@pytest.mark.parametrize(
    "browser_says",
    [{"Origin": ANOTHER_PORT}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_login_from_another_origin_is_refused(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    browser_says: dict[str, str],
) -> None:
    """Login CSRF: another page must not log the agent's browser into the attacker's account."""
    response = chat.post(
        "/api/v1/auth/login",
        json={"email": staff["agent"], "password": PASSWORD},
        headers=browser_says,
    )
    assert response.status_code == 403
    assert response.json()["detail"].startswith("cross-site request refused")
    assert "kefu_session" not in response.cookies


def test_clients_without_the_cookie_are_not_asked_for_a_token(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    """A script (no browser headers) logs in; bearer tokens and the service token need no token."""
    response = chat.post("/api/v1/auth/login", json={"email": staff["agent"], "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {response.cookies['kefu_session']}"}
    chat.cookies.clear()
    _, _, handoff_id = escalate(chat, service_headers)  # the internal API, by service token
    claim = chat.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=bearer)
    assert claim.status_code == 200, claim.text


def test_the_widget_on_another_origin_works_beside_a_staff_cookie(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    """An agent trying the widget in the same browser: its API never sees the staff cookie."""
    log_in(chat, staff["agent"])
    opened = chat.post(
        "/api/v1/conversations",
        json={"language": "en"},
        headers={"Origin": "https://shop.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert opened.status_code == 201, opened.text
    body = opened.json()
    sent = chat.post(
        f"/api/v1/conversations/{body['id']}/messages",
        json={"text": "hello"},
        headers={"Origin": CONSOLE_ORIGIN, "Authorization": f"Bearer {body['token']}"},
    )
    assert sent.status_code == 200, sent.text


@pytest.mark.parametrize(
    "origin", [{"Origin": ANOTHER_PORT}, {}], ids=["foreign-origin", "no-origin"]
)
def test_the_handoff_socket_refuses_another_origin_before_accepting(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
    origin: dict[str, str],
) -> None:
    """The hijack: a socket opened by the other page would stream the customer's messages."""
    handoff_id = claimed_handoff(chat, service_headers, log_in(chat, staff["agent"]))
    for path in (f"/api/v1/handoffs/{handoff_id}/ws", "/api/v1/agent/ws"):
        with pytest.raises(WebSocketDisconnect) as refused, chat.websocket_connect(path, origin):
            pass
        assert refused.value.code == 1008, path


def test_the_console_socket_on_its_own_origin_is_live(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    handoff_id = claimed_handoff(chat, service_headers, log_in(chat, staff["agent"]))
    path = f"/api/v1/handoffs/{handoff_id}/ws"
    with chat.websocket_connect(path, headers={"Origin": CONSOLE_ORIGIN}) as socket:
        assert socket.receive_json() == {"type": "ready"}


def test_a_trusted_origin_is_accepted_and_a_malformed_one_stops_the_start(
    settings: Settings,
    staff: dict[str, str],  # noqa: F811
) -> None:
    """Behind a proxy the public origin differs from the Host the service sees."""
    public = "https://kefu.example.com"
    trusting = settings.model_copy(update={"trusted_origins": [public]})
    with TestClient(create_app(trusting)) as client:
        log_in(client, staff["agent"])
        logout = client.post(
            "/api/v1/auth/logout", headers=console_headers(client) | {"Origin": public}
        )
        assert logout.status_code == 204
    broken = settings.model_copy(update={"trusted_origins": ["kefu.example.com"]})
    with pytest.raises(ValueError, match="is not scheme://host"), TestClient(create_app(broken)):
        pass
