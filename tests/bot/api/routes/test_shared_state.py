"""Several service workers over one database and one real Redis (REDIS_URL): two apps in one
process, each with its own connections, as two workers are. Without REDIS_URL nothing changes.
Redis unreachable at start stops the service; lost later, the health endpoint says so."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.auth.redis_throttle import RedisLoginThrottle
from bot.auth.store import UserStore
from bot.auth.throttle import LoginThrottle
from bot.conversations.hub import ConversationHub
from bot.conversations.redis_hub import RedisConversationHub
from bot.handoff.presence import InProcessPresence
from bot.handoff.redis_presence import RedisPresence
from bot.settings import Settings
from bot.shared.redis import RedisUnavailableError
from bot.stack import free_port
from db.engine import create_engine_for, session_factory
from tests.bot.api.conftest import SERVICE_TOKEN, DatabaseCopy
from tests.bot.api.routes.test_articles import NEW as GIFT_WRAPPING
from tests.bot.api.routes.test_conversation_socket import frames_until
from tests.bot.api.routes.test_handoffs import PASSWORD, escalate, login, staff  # noqa: F401
from tests.bot.api.routes.test_typing import CUSTOMER_TYPING, handoff_socket, widget_socket
from tests.servers.redis import RedisServer

pytestmark = pytest.mark.slow
KB_SEARCH = "/api/v1/internal/kb/search"


def test_without_redis_url_everything_stays_in_the_process(client: TestClient) -> None:
    state = client.app.state.kefu  # type: ignore[attr-defined]
    assert state.shared is None
    assert type(state.gateway.hub) is ConversationHub
    assert type(state.desk.presence) is InProcessPresence
    assert type(state.login_throttle) is LoginThrottle
    assert client.get("/api/v1/health").json()["redis"] is None


def test_an_unreachable_redis_url_stops_the_service_naming_it(settings: Settings) -> None:
    port = free_port()  # nothing listens there
    url = f"redis://:s3cret-pass@127.0.0.1:{port}/0"
    with (
        pytest.raises(RedisUnavailableError) as refused,
        TestClient(create_app(settings.model_copy(update={"redis_url": url}))),
    ):
        pass
    assert f"redis://:***@127.0.0.1:{port}/0" in str(refused.value)
    assert "s3cret-pass" not in str(refused.value)


def test_health_says_when_redis_is_lost_and_when_it_is_back(
    settings: Settings, redis_server: RedisServer
) -> None:
    redis_server.start()
    app = create_app(settings.model_copy(update={"redis_url": redis_server.url}))
    with TestClient(app) as client:
        state = client.app.state.kefu  # type: ignore[attr-defined]
        assert isinstance(state.gateway.hub, RedisConversationHub)
        assert isinstance(state.desk.presence, RedisPresence)
        assert isinstance(state.login_throttle, RedisLoginThrottle)
        up = client.get("/api/v1/health").json()["redis"]
        assert up == {"status": "ok", "detail": redis_server.url}
        redis_server.stop()
        try:
            lost = client.get("/api/v1/health")
            # Degraded, not unavailable: this worker still serves its own sockets.
            assert (lost.status_code, lost.json()["status"]) == (200, "degraded")
            assert lost.json()["redis"]["status"] == "down"
            assert "Connection" in lost.json()["redis"]["detail"]
        finally:
            redis_server.start()
        assert client.get("/api/v1/health").json()["redis"]["status"] == "ok"


def test_health_says_redis_is_failing_while_the_hubs_listener_is_not_running(
    settings: Settings, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis answers, but this worker no longer hears the others (its listener died of a bug,
    and dies again while the bug lasts): failing, not ok; once the listener runs, ok."""
    redis_server.start()
    app = create_app(settings.model_copy(update={"redis_url": redis_server.url}))
    with TestClient(app) as client:
        hub = client.app.state.kefu.gateway.hub  # type: ignore[attr-defined]
        assert client.get("/api/v1/health").json()["redis"]["status"] == "ok"

        async def broken(*_: Any) -> None:
            raise RuntimeError("a bug in the listener")

        def restart_into_the_bug() -> None:  # in the app's event loop
            hub._listener.cancel()
            hub._start_listener()

        monkeypatch.setattr(hub, "_listen", broken)
        client.portal.call(restart_into_the_bug)  # type: ignore[union-attr]
        deadline = time.monotonic() + 5
        while hub.listener_running:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        failing = client.get("/api/v1/health").json()
        assert (failing["status"], failing["redis"]["status"]) == ("degraded", "failing")
        assert "listener" in failing["redis"]["detail"]
        monkeypatch.undo()  # the bug is fixed: the next restart listens
        deadline = time.monotonic() + 5
        while not hub.listener_running:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert client.get("/api/v1/health").json()["redis"]["status"] == "ok"


def test_with_redis_lost_a_customers_message_is_stored_and_answered(
    settings: Settings, rasa_url: str, redis_server: RedisServer
) -> None:
    redis_server.start()
    app = create_app(
        settings.model_copy(update={"redis_url": redis_server.url, "rasa_url": rasa_url})
    )
    with TestClient(app) as client:
        response = client.post("/api/v1/conversations", json={"language": "en"})
        cid, customer = (
            response.json()["id"],
            {"Authorization": f"Bearer {response.json()['token']}"},
        )
        redis_server.stop()
        try:
            sent = client.post(
                f"/api/v1/conversations/{cid}/messages", json={"text": "hello"}, headers=customer
            )
            assert sent.status_code == 200, sent.text
            assert [r["text"] for r in sent.json()["replies"]] == ["echo: hello"]
        finally:
            redis_server.start()
        stored = client.get(f"/api/v1/conversations/{cid}/messages", headers=customer).json()
        assert [m["text"] for m in stored["data"]][-2:] == ["hello", "echo: hello"]


def test_a_customer_on_one_worker_chats_live_with_an_agent_on_another(
    settings: Settings,
    rasa_url: str,
    redis_url: str,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    shared = settings.model_copy(update={"redis_url": redis_url, "rasa_url": rasa_url})
    with TestClient(create_app(shared)) as one, TestClient(create_app(shared)) as two:
        cid, customer, handoff_id = escalate(one, service_headers)
        alice = login(two, staff["agent"])
        claimed = two.post(f"/api/v1/handoffs/{handoff_id}/claim", headers=alice)
        assert claimed.status_code == 200, claimed.text
        with (
            widget_socket(one, cid, customer) as widget,
            handoff_socket(two, handoff_id, alice) as agent,
        ):
            # The customer types on worker one; the agent watching on worker two sees it.
            widget.send_json({"type": "typing", "active": True})
            assert _next_of(agent, "typing") == CUSTOMER_TYPING
            sent = two.post(
                f"/api/v1/handoffs/{handoff_id}/messages",
                json={"text": "您好，我来看一下"},
                headers=alice,
            )
            assert sent.status_code == 201
            reply = frames_until(widget, "agent")[-1]["message"]
            assert (reply["id"], reply["text"]) == (sent.json()["id"], "您好，我来看一下")
            started = time.monotonic()
            widget.send_json({"type": "message", "text": "谢谢", "client_message_id": "m-1"})
            heard = frames_until(agent, "customer")[-1]  # after the agent's own reply
            assert heard["message"]["text"] == "谢谢"
            assert time.monotonic() - started < 1.0


def _next_of(socket: Any, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = socket.receive_json()
        if frame["type"] == kind:
            return frame


def test_an_article_published_on_one_worker_is_answered_by_the_other_at_once(
    demo_copy: DatabaseCopy, redis_url: str, service_headers: dict[str, str]
) -> None:
    # A copy of the demo database: this test adds an article (its index is built at start).
    engine = create_engine_for(demo_copy.url)
    with session_factory(engine)() as session:
        UserStore(session).create("erin@shared.test", "Erin", "editor", PASSWORD)
    engine.dispose()
    settings = Settings(
        database_url=demo_copy.url,
        index_dir=demo_copy.folder / "index",
        service_token=SERVICE_TOKEN,
        environment="test",
        redis_url=redis_url,
        index_sync_every_s=60,  # the nudge, not the poll, must bring it
    )
    question = "can you wrap my order as a birthday present"

    def top_hit(client: TestClient) -> str:
        response = client.post(KB_SEARCH, json={"text": question}, headers=service_headers)
        article: str = response.json()["hits"][0]["article_id"]
        return article

    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        assert top_hit(two) != "gift-wrapping"
        editor = login(one, "erin@shared.test")
        article = {**GIFT_WRAPPING, "status": "published"}
        created = one.post("/api/v1/articles", json=article, headers=editor)
        assert created.status_code == 201, created.text
        published_at = time.monotonic()
        while top_hit(two) != "gift-wrapping":
            assert time.monotonic() - published_at < 1.0, "not answerable on worker two in 1 s"
            time.sleep(0.02)
