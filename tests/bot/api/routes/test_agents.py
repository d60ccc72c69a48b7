"""An agent's presence through the API (PUT /agents/me/presence), what it changes for the bot's
handoff decision, the limit of open chats (409), auto-assignment, and business hours checked
when the service starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.auth.store import UserStore
from bot.handoff.hours import BusinessHoursError
from bot.settings import Settings
from db.engine import create_engine_for, session_factory
from tests.bot.api.conftest import CONSOLE_ORIGIN
from tests.bot.api.routes.test_csrf import log_in as console_log_in
from tests.bot.api.routes.test_handoffs import (  # noqa: F401  (staff is a fixture)
    PASSWORD,
    escalate,
    staff,
)
from tests.servers.databases import FreshDatabases
from texts import say

pytestmark = pytest.mark.slow
PRESENCE = "/api/v1/agents/me/presence"


def log_in(client: TestClient, email: str) -> dict[str, str]:
    """Log in as the console does, as nobody else first (one client logs in several users)."""
    client.cookies.clear()
    return console_log_in(client, email)


def agent_of_its_own(database_url: str, email: str) -> str:
    """A new agent, holding no chat yet."""
    engine = create_engine_for(database_url)
    with session_factory(engine)() as session:
        users = UserStore(session)
        if users.authenticate(email, PASSWORD) is None:
            users.create(email, email.split("@")[0].capitalize(), "agent", PASSWORD)
    engine.dispose()
    return email


@pytest.fixture
def routed_database(tmp_path: Path, fresh_databases: FreshDatabases) -> Iterator[str]:
    """A database of its own: waiting chats other tests left would be routed to its agents."""
    with fresh_databases.fresh(tmp_path) as url:
        yield url


@pytest.fixture
def routed(
    settings: Settings, rasa_url: str, routed_database: str, tmp_path: Path
) -> Iterator[TestClient]:
    """The service with a limit of one open chat per agent and auto-assignment."""
    changes: dict[str, Any] = {
        "database_url": routed_database,
        "index_dir": tmp_path / "index",
        "rasa_url": rasa_url,
        "agent_max_open_chats": 1,
        "auto_assign": True,
    }
    with TestClient(create_app(settings.model_copy(update=changes))) as client:
        yield client


def open_console(client: TestClient) -> Any:
    socket = client.websocket_connect("/api/v1/agent/ws", headers={"Origin": CONSOLE_ORIGIN})
    return socket


def test_an_agent_sets_away_and_the_bot_hears_nobody_is_online(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    console = log_in(chat, staff["agent"])
    with open_console(chat) as socket:
        assert socket.receive_json() == {"type": "ready"}
        mine = chat.get(PRESENCE)
        assert mine.status_code == 200
        assert mine.json() == {
            "status": "online",
            "chosen": "online",
            "live": True,
            "agents_online": 1,
        }
        away = chat.put(PRESENCE, json={"status": "away"}, headers=console)
        assert away.status_code == 200, away.text
        assert (away.json()["status"], away.json()["agents_online"]) == ("away", 0)
        assert socket.receive_json() == {"type": "queue_changed"}  # every console's count
        _, _, handoff_id = escalate(chat, service_headers)
        queue = chat.get("/api/v1/handoffs").json()
        assert queue["agents_online"] == 0
        row = next(r for r in queue["data"] if r["id"] == handoff_id)
        assert row["status"] == "waiting"
        back = chat.put(PRESENCE, json={"status": "online"}, headers=console)
        assert back.json()["agents_online"] == 1


def test_the_internal_api_counts_only_online_agents(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
    service_headers: dict[str, str],
) -> None:
    console = log_in(chat, staff["agent"])
    with open_console(chat) as socket:
        socket.receive_json()
        chat.put(PRESENCE, json={"status": "offline"}, headers=console)
        cid, _, _ = escalate(chat, service_headers)
        again = chat.post(
            "/api/v1/internal/handoffs",
            json={"conversation_id": cid, "reason": "requested", "language": "zh"},
            headers=service_headers,
        ).json()
        assert again["agents_online"] == 0
        assert again["notice"] == say("nobody_online", "zh")
        chat.put(PRESENCE, json={"status": "online"}, headers=console)


def test_the_team_lists_who_may_take_a_chat_with_presence_and_open_chats(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    def me() -> int:
        return int(chat.get("/api/v1/auth/me").json()["id"])

    log_in(chat, staff["editor"])
    editor = me()
    log_in(chat, staff["agent2"])
    other = me()
    log_in(chat, staff["agent"])
    with open_console(chat) as socket:
        socket.receive_json()
        team = chat.get("/api/v1/agents")
        assert team.status_code == 200, team.text
        members = {m["id"]: m for m in team.json()["items"]}
        assert members[me()]["status"] == "online"  # her console is open
    assert members[other]["status"] == "offline"  # no console of his
    assert editor not in members  # an editor takes no chat
    assert all(m["role"] in ("agent", "admin") and m["open_chats"] >= 0 for m in members.values())
    chat.cookies.clear()
    assert chat.get("/api/v1/agents").status_code == 401
    log_in(chat, staff["editor"])
    assert chat.get("/api/v1/agents").status_code == 403


def test_presence_needs_a_login_the_agent_role_a_known_status_and_the_csrf_token(
    chat: TestClient,
    staff: dict[str, str],  # noqa: F811
) -> None:
    chat.cookies.clear()
    anonymous = chat.put(PRESENCE, json={"status": "away"}, headers={"Origin": CONSOLE_ORIGIN})
    assert anonymous.status_code == 401
    assert anonymous.json()["detail"] == "log in first"
    editor = log_in(chat, staff["editor"])
    refused = chat.put(PRESENCE, json={"status": "away"}, headers=editor)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this needs the agent role"
    console = log_in(chat, staff["agent"])
    wrong = chat.put(PRESENCE, json={"status": "busy"}, headers=console)
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "status"]
    forged = chat.put(PRESENCE, json={"status": "away"}, headers={"Origin": CONSOLE_ORIGIN})
    assert forged.status_code == 403
    assert forged.json()["detail"].startswith("missing or wrong X-CSRF-Token header")


def test_auto_assignment_gives_a_new_chat_to_an_online_agent_and_away_stops_it(
    routed: TestClient, routed_database: str, service_headers: dict[str, str]
) -> None:
    console = log_in(routed, agent_of_its_own(routed_database, "mia@shop.test"))
    with open_console(routed) as socket:
        socket.receive_json()
        _, _, taken = escalate(routed, service_headers)
        row = routed.get(f"/api/v1/handoffs/{taken}").json()
        assert (row["status"], row["agent_name"]) == ("assigned", "Mia")
        routed.post(f"/api/v1/handoffs/{taken}/resolve", headers=console)
        routed.put(PRESENCE, json={"status": "away"}, headers=console)
        _, _, waits = escalate(routed, service_headers)
        assert routed.get(f"/api/v1/handoffs/{waits}").json()["status"] == "waiting"


def test_a_claim_beyond_the_limit_of_open_chats_is_409(
    routed: TestClient, routed_database: str, service_headers: dict[str, str]
) -> None:
    console = log_in(routed, agent_of_its_own(routed_database, "lena@shop.test"))
    _, _, first = escalate(routed, service_headers)
    _, _, second = escalate(routed, service_headers)
    assert routed.post(f"/api/v1/handoffs/{first}/claim", headers=console).status_code == 200
    refused = routed.post(f"/api/v1/handoffs/{second}/claim", headers=console)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "Lena holds 1 open chats, the limit is 1: resolve or return one first"
    )
    routed.post(f"/api/v1/handoffs/{first}/resolve", headers=console)
    assert routed.post(f"/api/v1/handoffs/{second}/claim", headers=console).status_code == 200
    routed.post(f"/api/v1/handoffs/{second}/resolve", headers=console)


def test_wrong_business_hours_stop_the_service_with_the_reason(settings: Settings) -> None:
    wrong = settings.model_copy(update={"business_hours": {"timezone": "Asia/Shanghai"}})
    reason = 'KEFU_BUSINESS_HOURS: "weekly" must map'
    with pytest.raises(BusinessHoursError, match=reason), TestClient(create_app(wrong)):
        pass


def test_business_hours_are_read_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "KEFU_BUSINESS_HOURS",
        '{"timezone": "Asia/Shanghai", "weekly": {"mon": [["09:00", "18:00"]]}}',
    )
    assert Settings().business_hours == {
        "timezone": "Asia/Shanghai",
        "weekly": {"mon": [["09:00", "18:00"]]},
    }
