"""The action server (actions/server.py) as Rasa meets it: a real process on loopback, called
over HTTP, by hand and through Rasa's own action endpoint as endpoints.yml configures it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rasa.utils.endpoints import ClientResponseError, EndpointConfig, read_endpoint_config

from actions.server import carries_token

REPO = Path(__file__).resolve().parent.parent.parent
TOKEN = "action-server-test-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_action_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "actions.server", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
def action_server() -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), KEFU_SERVICE_TOKEN=TOKEN)
    server = start_action_server(env, port)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0].decode()
            assert time.monotonic() < deadline, "the action server did not start"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.communicate(timeout=15)


def test_the_health_check_needs_no_token(action_server: str) -> None:
    assert httpx.get(f"{action_server}/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}],
    ids=["none", "wrong", "not bearer"],
)
def test_an_action_call_without_the_service_token_is_refused(
    action_server: str, headers: dict[str, str]
) -> None:
    call = {"next_action": "action_handoff", "sender_id": "x", "tracker": {}, "domain": {}}
    answer = httpx.post(f"{action_server}/webhook", json=call, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "missing or wrong service token"}
    assert httpx.get(f"{action_server}/actions", headers=headers).status_code == 401


def test_with_the_token_the_actions_answer(action_server: str) -> None:
    answer = httpx.get(f"{action_server}/actions", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert {"name": "action_answer_from_kb"} in answer.json()


def rasa_calls(endpoint: EndpointConfig, action_server: str) -> int:
    """What the action server answers Rasa's call of an action it does not have (no tracker,
    no service needed): 404 once in, 401 at the door."""
    endpoint.url = f"{action_server}/webhook"
    call: dict[str, Any] = {"next_action": "action_nobody_wrote", "tracker": {}, "domain": {}}
    try:
        asyncio.run(endpoint.request(json=call, method="post"))
    except ClientResponseError as error:
        return int(error.status)
    return 200


def test_rasas_action_endpoint_with_the_stacks_header_is_let_in(
    action_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The action endpoint as bot/stack.py writes it (tests/bot/test_stack.py checks the file),
    # read by Rasa with the token in its environment, as the stack starts it.
    (tmp_path / "endpoints.yml").write_text(
        "action_endpoint:\n"
        "  url: http://127.0.0.1:5055/webhook\n"
        "  headers:\n"
        "    Authorization: Bearer ${KEFU_SERVICE_TOKEN}\n"
    )
    monkeypatch.setenv("KEFU_SERVICE_TOKEN", TOKEN)
    endpoint = read_endpoint_config(str(tmp_path / "endpoints.yml"), "action_endpoint")
    assert endpoint is not None
    assert rasa_calls(endpoint, action_server) == 404
    assert rasa_calls(EndpointConfig(), action_server) == 401  # a Rasa without the header


def test_without_the_token_in_its_environment_it_does_not_start() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KEFU_SERVICE_TOKEN"}
    server = start_action_server(env | {"PYTHONPATH": str(REPO)}, free_port())
    output, _ = server.communicate(timeout=60)
    assert server.returncode == 1
    assert b"KEFU_SERVICE_TOKEN is not set" in output


def test_the_token_is_compared_whole() -> None:
    assert carries_token(f"Bearer {TOKEN}", TOKEN)
    assert carries_token(f"bearer {TOKEN}", TOKEN)
    assert not carries_token(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not carries_token(f"Bearer {TOKEN}x", TOKEN)
    assert not carries_token(None, TOKEN)
    assert not carries_token(f"Basic {TOKEN}", TOKEN)


def test_a_body_that_is_not_json_is_refused_as_a_bad_request(action_server: str) -> None:
    """The middleware and rasa_sdk's webhook share one parse of the body; a broken one is
    still the caller's error, not the server's."""
    answer = httpx.post(
        f"{action_server}/webhook",
        content=b'{"next_action": "action_answer_from_kb", "tracker": {',
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
