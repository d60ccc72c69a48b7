"""GET /metrics as Prometheus reads it (its own parser), who may read it, and the request id
that follows a message from the caller's X-Request-ID to Rasa and into the JSON log lines."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot.api.main import create_app
from bot.settings import Settings
from tests.bot.api.routes import conftest as routes
from tests.bot.api.routes import test_handoffs
from tests.bot.api.routes.conftest import FakeRasa, open_conversation
from tests.bot.api.routes.test_handoffs import escalate, login
from tracing.logs import JsonFormatter

# The fake Rasa and the staff accounts of the route tests, as fixtures of this module too.
rasa_url = routes.rasa_url
staff = test_handoffs.staff

pytestmark = pytest.mark.slow

LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("203.0.113.5", 50000)  # a documentation address: not this machine
MESSAGES_ROUTE = "/api/v1/conversations/{conversation_id}/messages"
METRICS_TOKEN = "metrics-test-token-0123456789-abcdefghij"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    """Every sample of /metrics, parsed by Prometheus's own parser, by name and labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, route: str, method: str, status_class: str) -> float:
    return value(
        samples,
        "kefu_http_request_duration_seconds_count",
        route=route,
        method=method,
        status_class=status_class,
    )


@pytest.fixture
def quiet(settings: Settings, rasa_url: str) -> Settings:
    """The fake Rasa, and no redelivery loop: no message is answered but the tests' own."""
    return settings.model_copy(update={"rasa_url": rasa_url, "redeliver_every_s": 0})


@pytest.fixture
def local(quiet: Settings) -> Iterator[TestClient]:
    """The app as a client on this machine sees it."""
    with TestClient(create_app(quiet), client=LOOPBACK) as client:
        yield client


def test_requests_are_counted_by_route_template_method_and_status_class(
    local: TestClient,
) -> None:
    cid, customer = open_conversation(local)
    before = scrape(local)
    url = f"/api/v1/conversations/{cid}/messages"
    for text in ("我想退货", "多久到账"):
        assert local.post(url, json={"text": text}, headers=customer).status_code == 200
    wrong_token = {"Authorization": "Bearer not-this-conversations-token"}
    assert local.post(url, json={"text": "hi"}, headers=wrong_token).status_code == 403
    assert local.get("/no/such/page/42").status_code == 404
    after = scrape(local)

    assert requests_of(after, MESSAGES_ROUTE, "POST", "2xx") - requests_of(
        before, MESSAGES_ROUTE, "POST", "2xx"
    ) == pytest.approx(2)
    assert requests_of(after, MESSAGES_ROUTE, "POST", "4xx") - requests_of(
        before, MESSAGES_ROUTE, "POST", "4xx"
    ) == pytest.approx(1)
    assert requests_of(after, "unmatched", "GET", "4xx") - requests_of(
        before, "unmatched", "GET", "4xx"
    ) == pytest.approx(1)
    # The customer's messages, counted once each (the refused one is not a message).
    received = "kefu_customer_messages_total"
    assert value(after, received, handled_by="bot") - value(
        before, received, handled_by="bot"
    ) == pytest.approx(2)
    # No raw path, no id: one series per route, however many conversations there are.
    routes = {dict(labels).get("route") for _, labels in after if dict(labels).get("route")}
    assert MESSAGES_ROUTE in routes
    assert not any(cid in route or "42" in route for route in routes)


def test_a_resent_message_is_not_counted_again(local: TestClient) -> None:
    cid, customer = open_conversation(local)
    url = f"/api/v1/conversations/{cid}/messages"
    before = scrape(local)
    for _ in range(2):
        body = {"text": "我想退货", "client_message_id": "same-one"}
        assert local.post(url, json=body, headers=customer).status_code == 200
    after = scrape(local)
    received = "kefu_customer_messages_total"
    assert value(after, received, handled_by="bot") - value(
        before, received, handled_by="bot"
    ) == pytest.approx(1)


def test_the_bots_answers_are_counted_by_band(
    local: TestClient, service_headers: dict[str, str]
) -> None:
    cid, _ = open_conversation(local)
    search = "/api/v1/internal/kb/search"
    before = scrape(local)
    asked = local.post(
        search, json={"text": "怎么退货", "conversation_id": cid}, headers=service_headers
    )
    trial = local.post(search, json={"text": "怎么退货"}, headers=service_headers)
    after = scrape(local)
    band = asked.json()["band"]
    assert trial.json()["band"] == band
    # Only the customer's question counts; a search with no conversation is not an answer.
    answers = "kefu_bot_answers_total"
    assert value(after, answers, band=band) - value(before, answers, band=band) == 1
    for other in {"answer", "clarify", "none"} - {band}:
        assert value(after, answers, band=other) == value(before, answers, band=other)


def test_handoffs_opened_claimed_resolved_returned_and_the_queue(
    local: TestClient, service_headers: dict[str, str], staff: dict[str, str]
) -> None:
    before = scrape(local)
    _, _, first = escalate(local, service_headers)
    _, _, second = escalate(local, service_headers)
    opened = scrape(local)
    alice = login(local, staff["agent"])
    for handoff_id in (first, second):
        claim = local.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=alice)
        assert claim.status_code == 200
    claimed = scrape(local)
    assert local.post(f"/api/v1/handoffs/{first}/resolve", headers=alice).status_code == 200
    assert local.post(f"/api/v1/handoffs/{second}/return", headers=alice).status_code == 200
    after = scrape(local)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("kefu_handoffs_opened_total", reason="requested") == 2
    assert moved("kefu_handoffs_claimed_total") == 2
    assert moved("kefu_handoffs_resolved_total") == 1
    assert moved("kefu_handoffs_returned_total") == 1
    queue = "kefu_handoff_queue_length"
    assert value(opened, queue) - value(before, queue) == 2
    assert value(claimed, queue) == value(before, queue)


def test_rasa_unreachable_is_counted(settings: Settings) -> None:
    down = settings.model_copy(update={"rasa_url": "http://127.0.0.1:9", "redeliver_every_s": 0})
    with TestClient(create_app(down), client=LOOPBACK) as client:
        cid, customer = open_conversation(client)
        before = scrape(client)
        url = f"/api/v1/conversations/{cid}/messages"
        reply = client.post(url, json={"text": "我的快递呢"}, headers=customer).json()
        assert reply["replies"][0]["sender"] == "system"  # the apology
        after = scrape(client)
    errors = "kefu_rasa_errors_total"
    assert value(after, errors, kind="unavailable") - value(
        before, errors, kind="unavailable"
    ) == pytest.approx(1)
    assert value(after, errors, kind="action_failed") == 0


def test_open_websockets_and_the_index_are_shown(local: TestClient) -> None:
    cid, customer = open_conversation(local)
    token = customer["Authorization"].removeprefix("Bearer ")
    socket_route = "/api/v1/conversations/{conversation_id}/ws"
    with local.websocket_connect(f"/api/v1/conversations/{cid}/ws?token={token}") as ws:
        assert ws.receive_json()["type"] == "ready"
        during = scrape(local)
    after = scrape(local)
    sockets = "kefu_websocket_connections"
    assert value(during, sockets, route=socket_route) == 1
    assert value(after, sockets, route=socket_route) == 0

    retriever = local.app.state.kefu.retriever  # type: ignore[attr-defined]
    assert value(after, "kefu_index_articles") == len(retriever.article_versions) > 0
    assert value(after, "kefu_index_vectors") == retriever.passage_count > 0
    changed = value(after, "kefu_index_last_update_timestamp_seconds")
    assert time.time() - 24 * 3600 < changed <= time.time()


# -- who may read it ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_address", "headers"),
    [
        (ELSEWHERE, {}),
        (("testclient", 50000), {}),  # not an address at all
        (LOOPBACK, {"X-Forwarded-For": "127.0.0.1"}),  # came through a proxy
        (LOOPBACK, {"Forwarded": "for=127.0.0.1"}),
    ],
    ids=["another machine", "no address", "x-forwarded-for", "forwarded"],
)
def test_without_a_token_only_loopback_clients_may_read_it(
    quiet: Settings, client_address: tuple[str, int], headers: dict[str, str]
) -> None:
    with TestClient(create_app(quiet), client=client_address) as client:
        response = client.get("/metrics", headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"].startswith("metrics are for clients on this machine")


def test_a_proxy_on_loopback_does_not_make_its_clients_local(quiet: Settings) -> None:
    behind_proxy = quiet.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    with TestClient(create_app(behind_proxy), client=LOOPBACK) as client:
        assert client.get("/metrics").status_code == 403


@pytest.mark.parametrize(
    ("client_address", "headers", "status"),
    [
        (LOOPBACK, {}, 401),
        (ELSEWHERE, {}, 401),
        (ELSEWHERE, {"Authorization": "Bearer wrong-token"}, 403),
        (LOOPBACK, {"Authorization": "Bearer wrong-token"}, 403),
        (ELSEWHERE, {"Authorization": f"Bearer {METRICS_TOKEN}"}, 200),
    ],
    ids=["loopback without", "elsewhere without", "wrong", "wrong from loopback", "right"],
)
def test_with_a_token_it_is_needed_from_anywhere(
    quiet: Settings, client_address: tuple[str, int], headers: dict[str, str], status: int
) -> None:
    protected = quiet.model_copy(update={"metrics_token": METRICS_TOKEN})
    with TestClient(create_app(protected), client=client_address) as client:
        response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["detail"] == "missing metrics token"
    elif status == 403:
        assert response.json()["detail"] == "invalid metrics token"
    else:
        assert "kefu_customer_messages_total" in response.text


# -- the request id ----------------------------------------------------------------------


class JsonLines(logging.Handler):
    """What the service's JSON handler would write, kept as lines."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_log() -> Iterator[JsonLines]:
    handler = JsonLines()
    logger = logging.getLogger("bot.chat.gateway")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_the_callers_request_id_goes_back_and_to_rasa(local: TestClient) -> None:
    cid, customer = open_conversation(local)
    url = f"/api/v1/conversations/{cid}/messages"
    given = {"X-Request-ID": "shop-frontend.7f3a_1"}
    response = local.post(url, json={"text": "我想退货"}, headers=customer | given)
    assert response.headers["X-Request-ID"] == "shop-frontend.7f3a_1"
    assert FakeRasa.received[-1]["metadata"]["kefu_request_id"] == "shop-frontend.7f3a_1"


@pytest.mark.parametrize(
    "unsafe",
    ["two words", "x" * 65, 'quote"d', "new\tline", "a/b:c"],
    ids=["space", "too long", "quote", "tab", "slash"],
)
def test_an_unsafe_request_id_is_replaced(local: TestClient, unsafe: str) -> None:
    cid, customer = open_conversation(local)
    url = f"/api/v1/conversations/{cid}/messages"
    headers = customer | {"X-Request-ID": unsafe}
    response = local.post(url, json={"text": "hi"}, headers=headers)
    generated = response.headers["X-Request-ID"]
    assert generated != unsafe
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert FakeRasa.received[-1]["metadata"]["kefu_request_id"] == generated


def test_each_request_gets_its_own_id_when_none_is_given(local: TestClient) -> None:
    ids = {local.get("/api/v1/health").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_each_websocket_message_gets_its_own_request_id(local: TestClient) -> None:
    cid, customer = open_conversation(local)
    token = customer["Authorization"].removeprefix("Bearer ")
    with local.websocket_connect(f"/api/v1/conversations/{cid}/ws?token={token}") as ws:
        assert ws.receive_json()["type"] == "ready"
        for n in (1, 2):
            ws.send_json({"type": "message", "text": f"question {n}", "client_message_id": f"c{n}"})
            while ws.receive_json().get("message", {}).get("sender") != "bot":
                pass
    sent = [r["metadata"]["kefu_request_id"] for r in FakeRasa.received[-2:]]
    assert len(set(sent)) == 2
    assert all(len(one) == 32 for one in sent)


def test_json_log_lines_carry_the_request_and_conversation_ids(
    settings: Settings, json_log: JsonLines
) -> None:
    down = settings.model_copy(update={"rasa_url": "http://127.0.0.1:9", "redeliver_every_s": 0})
    with TestClient(create_app(down), client=LOOPBACK) as client:
        cid, customer = open_conversation(client)
        url = f"/api/v1/conversations/{cid}/messages"
        client.post(url, json={"text": "在吗"}, headers=customer | {"X-Request-ID": "trace-42"})
    lines: list[dict[str, Any]] = [json.loads(line) for line in json_log.lines]
    warning = next(line for line in lines if line["message"].startswith("no answer to message"))
    assert warning["level"] == "WARNING"
    assert warning["logger"] == "bot.chat.gateway"
    assert warning["request_id"] == "trace-42"
    assert warning["conversation_id"] == cid
    assert warning["time"].endswith("+00:00")


def test_an_app_started_twice_still_serves_its_metrics(quiet: Settings) -> None:
    """Its lifespan runs again (a test client, a reload): the gauges follow the new state."""
    app = create_app(quiet)
    for _ in range(2):
        with TestClient(app, client=LOOPBACK) as client:
            samples = scrape(client)
            retriever = client.app.state.kefu.retriever  # type: ignore[attr-defined]
            assert value(samples, "kefu_index_articles") == len(retriever.article_versions)
