"""The API probe (issue 18): Schemathesis sends generated requests, valid and invalid, to every
operation of the OpenAPI document, against the real app in-process on its own SQLite file, the
demo knowledge base and the real model; once as a stranger and once holding every credential.
No answer may be a 5xx, and every answer must be one the document declares, with a body that
fits its schema. The run is bounded and derandomised, so CI sends the same requests each time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import HTTPServer
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from bot.api.csrf import CSRF_HEADER, csrf_token
from bot.api.deps import SESSION_COOKIE, conversation_token
from bot.api.main import create_app
from bot.auth.store import UserStore
from bot.settings import Settings
from db.engine import create_engine_for, session_factory
from tests.bot.api.conftest import CONSOLE_ORIGIN, SERVICE_TOKEN
from tests.bot.api.routes.conftest import FakeRasa
from tests.servers.databases import FreshDatabases

pytestmark = pytest.mark.slow

# Examples per operation and generation mode (valid, invalid). Hypothesis stops early where it
# runs out of distinct inputs (an operation without parameters): about 2,000 requests a run.
EXAMPLES = 30
MIN_REQUESTS_PER_RUN = 1_500
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
ARTICLE = "returns-policy-zh"  # a demo article, for the editors' routes with real ids


@dataclass
class Probe:
    """The schema bound to the running app, and the credentials the authenticated run uses."""

    schema: Any
    settings: Settings
    staff_token: str
    logout_token: str  # a second session of the admin's, for the logout route alone
    conversation_id: str
    handoff_id: int


@dataclass
class Findings:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)

    def report(self) -> str:
        return "\n\n".join(
            f"{name} ({len(found)}):\n" + "\n".join(found[:2])
            for name, found in sorted(self.failures.items())
        )


@pytest.fixture(scope="module")
def probe(
    demo_template: str, fresh_databases: FreshDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Probe]:
    folder = tmp_path_factory.mktemp("probe")
    with fresh_databases.copy_of(demo_template, folder) as url:
        engine = create_engine_for(url)
        with session_factory(engine)() as session:
            users = UserStore(session)
            ada = users.create("ada@shop.test", "Ada", "admin", "correct-horse-battery")
            staff_token, logout_token = users.open_session(ada), users.open_session(ada)
        engine.dispose()
        rasa = HTTPServer(("127.0.0.1", 0), FakeRasa)
        threading.Thread(target=rasa.serve_forever, daemon=True).start()
        settings = Settings(
            database_url=url,
            index_dir=folder / "index",
            service_token=SERVICE_TOKEN,
            rasa_url=f"http://127.0.0.1:{rasa.server_port}",
            environment="test",
        )
        app = create_app(settings)
        # Loading the document starts the app's lifespan (the index, the model), kept until
        # the end.
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        try:
            yield Probe(
                schema, settings, staff_token, logout_token, *_conversation_with_handoff(schema)
            )
        finally:
            asgi.shutdown_lifespans()
            rasa.shutdown()


def _conversation_with_handoff(schema: Any) -> tuple[str, int]:
    """A customer's conversation handed to a person: real ids for the authenticated run."""
    with asgi.get_client(schema.app) as client:
        conversation = client.post("/api/v1/conversations", json={"language": "en"}).json()
        handoff = client.post(
            "/api/v1/internal/handoffs",
            json={"conversation_id": conversation["id"], "reason": "requested", "language": "en"},
            headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
        )
        assert handoff.status_code == 201, handoff.text
        return conversation["id"], handoff.json()["handoff_id"]


@dataclass
class Credentials:
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


def credentials(probe: Probe, path: str, mode: GenerationMode) -> Credentials:
    """What a legitimate caller of ``path`` sends: the service token (the actions), the
    conversation's token (the widget), or the admin's session, as the consoles send it (the
    cookie, with the CSRF token and the service's own origin) for valid requests and as a
    bearer token for invalid ones. The session cookie a request was generated with is replaced:
    a cookie is read before the bearer token. Logout ends a session of its own (the staff
    routes after it would otherwise all be 401)."""
    if path.startswith("/api/v1/internal"):
        return Credentials({"Authorization": f"Bearer {SERVICE_TOKEN}"})
    if path.startswith("/api/v1/conversations/"):
        token = conversation_token(probe.settings.secret_key, probe.conversation_id)
        return Credentials({"Authorization": f"Bearer {token}"})
    session = probe.logout_token if path == "/api/v1/auth/logout" else probe.staff_token
    if mode.is_positive:
        csrf = csrf_token(probe.settings.secret_key, session)
        headers = {"Origin": CONSOLE_ORIGIN, CSRF_HEADER: csrf}
        return Credentials(headers, {SESSION_COOKIE: session})
    return Credentials({"Authorization": f"Bearer {session}"}, {SESSION_COOKIE: ""})


def real_ids(probe: Probe, path: str) -> dict[str, Any]:
    """Path parameters that name something stored; the others are generated."""
    known = {
        "conversation_id": probe.conversation_id,
        "handoff_id": probe.handoff_id,
        "article_id": ARTICLE,
    }
    return {name: value for name, value in known.items() if "{" + name + "}" in path}


def run(probe: Probe, *, authenticated: bool) -> Findings:
    findings = Findings()
    for result in probe.schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            sent = credentials(probe, operation.path, mode) if authenticated else Credentials()
            # Valid requests with real ids reach the domain; invalid ones probe the validation.
            fixed = real_ids(probe, operation.path) if authenticated and mode.is_positive else {}
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)
            _probe_operation(strategy, sent, findings)
    return findings


def _probe_operation(strategy: Any, sent: Credentials, findings: Findings) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # every failure is reported, none shrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def send(case: Any) -> None:
        response = case.call(headers=sent.headers, cookies=sent.cookies)
        findings.requests += 1
        findings.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=sent.headers)
        except FailureGroup as group:
            name = f"{case.method} {case.path}"
            findings.failures.setdefault(name, []).append(str(group))

    # Unsatisfiable: nothing to make invalid (an operation without parameters or body).
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        send()


@pytest.mark.parametrize("authenticated", [False, True], ids=["stranger", "credentials"])
def test_no_server_error_and_every_answer_as_documented(probe: Probe, authenticated: bool) -> None:
    started = time.monotonic()
    findings = run(probe, authenticated=authenticated)
    elapsed = time.monotonic() - started
    print(f"{findings.requests} requests in {elapsed:.0f} s; statuses {dict(findings.statuses)}")
    assert not findings.failures, findings.report()
    assert not any(status >= 500 for status in findings.statuses)
    assert findings.requests >= MIN_REQUESTS_PER_RUN
