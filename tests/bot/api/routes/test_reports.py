"""The reports' API for supervisors: every route needs the supervisor role (agents and
editors 403, no login 401), the summary's shape and numbers on a hand-computed week, the CSV
export, the conversation list's keyset paging, search and filters, one conversation read
whole, and the 422s and 404s of bad input."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.api.main import create_app
from bot.auth.store import UserStore
from bot.settings import Settings
from db.engine import create_engine_for, session_factory
from tests.bot.analytics.shop_week import PASSWORD, ShopWeek, seed_shop_week
from tests.servers.databases import FreshDatabases

pytestmark = pytest.mark.slow
WEEK = "since=2026-11-10&until=2026-11-16&tz=UTC"


@pytest.fixture(scope="module")
def week(
    demo_template: str,
    demo_database: Path,
    fresh_databases: FreshDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """A copy of the demo database with the shop's week and its staff (the demo's index)."""
    with fresh_databases.copy_of(demo_template, tmp_path_factory.mktemp("reports")) as url:
        engine = create_engine_for(url)
        with session_factory(engine)() as session:
            seeded = seed_shop_week(session)
            users = UserStore(session)
            for email, role in [
                ("sue@shop.test", "supervisor"),
                ("erin@shop.test", "editor"),
                ("ada@shop.test", "admin"),
            ]:
                users.create(email, email.split("@")[0].title(), role, PASSWORD)
        engine.dispose()
        settings = Settings(
            database_url=url,
            index_dir=demo_database / "index",
            environment="test",
            first_response_target_s=300,
        )
        with TestClient(create_app(settings)) as client:
            yield client, seeded


@pytest.fixture(scope="module")
def client(week: Any) -> TestClient:
    found: TestClient = week[0]
    return found


@pytest.fixture(scope="module")
def shop(week: Any) -> ShopWeek:
    found: ShopWeek = week[1]
    return found


def login(client: TestClient, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    token = response.cookies["kefu_session"]
    client.cookies.clear()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def sue(client: TestClient) -> dict[str, str]:
    return login(client, "sue@shop.test")


def get(client: TestClient, headers: dict[str, str], url: str) -> Any:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


ROUTES = [
    f"/api/v1/reports/summary?{WEEK}",
    f"/api/v1/reports/export.csv?table=kpis&{WEEK}",
    f"/api/v1/reports/conversations?{WEEK}",
    "/api/v1/reports/conversations/{id}",
    "/api/v1/reports/agents",
]


@pytest.mark.parametrize("path", ROUTES)
def test_every_report_route_needs_the_supervisor_role(
    client: TestClient, shop: ShopWeek, path: str
) -> None:
    url = path.format(id=shop.ids["A"])
    anonymous = client.get(url)
    assert (anonymous.status_code, anonymous.json()["detail"]) == (401, "log in first")
    for email in ("lin@shop.test", "erin@shop.test"):  # an agent, an editor
        refused = client.get(url, headers=login(client, email))
        assert (refused.status_code, refused.json()["detail"]) == (
            403,
            "this needs the supervisor role",
        )
    for email in ("sue@shop.test", "ada@shop.test"):  # a supervisor, an admin
        assert client.get(url, headers=login(client, email)).status_code == 200


def test_a_supervisor_takes_no_chat_and_edits_no_article(
    client: TestClient, sue: dict[str, str]
) -> None:
    queue = client.get("/api/v1/handoffs", headers=sue)
    assert (queue.status_code, queue.json()["detail"]) == (403, "this needs the agent role")
    articles = client.get("/api/v1/articles", headers=sue)
    assert (articles.status_code, articles.json()["detail"]) == (403, "this needs the editor role")


def test_the_summary_of_the_week(client: TestClient, sue: dict[str, str]) -> None:
    body = get(client, sue, f"/api/v1/reports/summary?{WEEK}")
    assert body["range"] == {"since": "2026-11-10", "until": "2026-11-16", "tz": "UTC"}
    assert body["previous"] == {"since": "2026-11-03", "until": "2026-11-09"}
    kpis = body["kpis"]
    assert kpis["conversations"] == {
        "value": 12,
        "previous": 1,
        "unit": "count",
        "outcome": None,
    }
    assert kpis["containment_rate"] == {
        "value": 33.33,
        "previous": 100.0,
        "unit": "percent",
        "outcome": "contained",
    }
    assert kpis["first_response_breach_rate"]["value"] == 66.67  # target 300 s
    assert kpis["csat_agent_mean"] == {
        "value": 4.0,
        "previous": None,
        "unit": "score",
        "outcome": None,
    }
    assert [d["conversations"] for d in body["series"]["daily"]] == [3, 2, 2, 2, 1, 1, 1]
    assert len(body["series"]["heatmap"]) == 7 * 24
    assert body["series"]["csat_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    titles = {row["article_id"]: row["title"] for row in body["tables"]["top_articles"]}
    assert titles["returns-policy"] != "returns-policy"  # the demo article's own title
    assert [a["name"] for a in body["tables"]["agents"]] == ["Bo", "Lin"]


def test_a_filter_narrows_the_summary(
    client: TestClient, sue: dict[str, str], shop: ShopWeek
) -> None:
    zh = get(client, sue, f"/api/v1/reports/summary?{WEEK}&language=zh")["kpis"]
    assert (zh["conversations"]["value"], zh["abandonment_rate"]["value"]) == (1, 100.0)
    lin = get(client, sue, f"/api/v1/reports/summary?{WEEK}&agent_id={shop.lin}")["kpis"]
    assert (lin["conversations"]["value"], lin["escalation_rate"]["value"]) == (1, 100.0)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("since=2026-11-10&until=2026-11-09", "until (2026-11-09) is before since (2026-11-10)"),
        ("since=2025-01-01&until=2026-11-09", "a report covers at most 366 days"),
        ("tz=Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("since=0001-01-01", "dates must lie between 1971 and 9998"),
        ("until=9999-12-31", "dates must lie between 1971 and 9998"),
    ],
)
def test_a_period_that_cannot_be_reported_is_a_422(
    client: TestClient, sue: dict[str, str], query: str, detail: str
) -> None:
    for route in ("summary", "conversations", "export.csv?table=kpis&x=1"):
        joiner = "&" if "?" in route else "?"
        response = client.get(f"/api/v1/reports/{route}{joiner}{query}", headers=sue)
        assert (response.status_code, response.json()["detail"]) == (422, detail)


@pytest.mark.parametrize(
    "query",
    [
        "since=2026-13-01",
        "language=fr",
        "channel=fax",
        "agent_id=0",
        "agent_id=99999999999999999999999",
        "outcome=happy",
        "rating=6",
        "limit=0",
        "limit=101",
    ],
)
def test_malformed_parameters_are_422(client: TestClient, sue: dict[str, str], query: str) -> None:
    response = client.get(f"/api/v1/reports/conversations?{query}", headers=sue)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_an_unknown_table_and_a_forged_cursor_are_422(
    client: TestClient, sue: dict[str, str]
) -> None:
    table = client.get(f"/api/v1/reports/export.csv?table=users&{WEEK}", headers=sue)
    assert table.status_code == 422
    forged = client.get(f"/api/v1/reports/conversations?{WEEK}&cursor=bm9wZQ", headers=sue)
    assert (forged.status_code, forged.json()["detail"]) == (
        422,
        "this cursor is not one the list gave",
    )


def test_the_csv_export_has_a_header_a_name_and_no_formulas(
    client: TestClient, sue: dict[str, str]
) -> None:
    response = client.get(f"/api/v1/reports/export.csv?table=csat_comments&{WEEK}", headers=sue)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="kefu-csat_comments-2026-11-10-2026-11-16.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["conversation_id", "score", "comment", "resolved_by", "created_at"]
    assert [r[2] for r in rows[1:]] == ["'=cmd|meh", "quick and kind"]
    daily = client.get(f"/api/v1/reports/export.csv?table=daily&{WEEK}", headers=sue)
    lines = list(csv.reader(io.StringIO(daily.text)))
    assert lines[1][:4] == ["2026-11-10", "3", "3", "2"]
    assert len(lines) == 1 + 7


SHOP_WIDGET = ["widget", "11", "3", "3", "27.27", "27.27", "3.667", "3"]  # A G L; B I K; 5 4 2
SHOP_EMAIL = ["email", "1", "1", "0", "100.0", "0.0", "", "0"]  # P


@pytest.mark.parametrize(
    ("query", "rows"),
    [("", [SHOP_WIDGET, SHOP_EMAIL]), ("&channel=email", [SHOP_EMAIL]),
     ("&channel=widget", [SHOP_WIDGET])],
)  # fmt: skip
def test_the_summary_and_its_csv_by_channel(
    client: TestClient, sue: dict[str, str], query: str, rows: list[list[str]]
) -> None:
    summary = get(client, sue, f"/api/v1/reports/summary?{WEEK}{query}")
    channels = summary["tables"]["channels"]
    assert [[c["channel"], c["conversations"], c["csat_count"]] for c in channels] == [
        [r[0], int(r[1]), int(r[7])] for r in rows
    ]
    assert summary["kpis"]["conversations"]["value"] == sum(int(r[1]) for r in rows)
    response = client.get(f"/api/v1/reports/export.csv?table=channels&{WEEK}{query}", headers=sue)
    assert response.status_code == 200
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == [
        "channel", "conversations", "contained", "escalated", "containment_rate",
        "escalation_rate", "csat_mean", "csat_count",
    ]  # fmt: skip
    assert lines[1:] == rows


@pytest.mark.parametrize("channel", ["fax", "EMAIL", "", "widget,email"])
def test_an_unknown_channel_is_a_422_on_every_route(
    client: TestClient, sue: dict[str, str], channel: str
) -> None:
    for route in ("summary", "conversations", "export.csv?table=channels"):
        joiner = "&" if "?" in route else "?"
        response = client.get(
            f"/api/v1/reports/{route}{joiner}{WEEK}&channel={channel}", headers=sue
        )
        assert response.status_code == 422, (route, channel)
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", "channel"]


def test_paging_walks_every_conversation_once_newest_first(
    client: TestClient, sue: dict[str, str], shop: ShopWeek
) -> None:
    seen: list[dict[str, Any]] = []
    url = f"/api/v1/reports/conversations?{WEEK}&limit=5"
    pages = 0
    while url:
        body = get(client, sue, url)
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        url = f"/api/v1/reports/conversations?{WEEK}&limit=5&cursor={cursor}" if cursor else ""
    expected = "L K I H G F E D C B A P".split()  # newest first; J has no customer message
    assert [item["id"] for item in seen] == [shop.ids[letter] for letter in expected]
    assert pages == 3
    first = seen[-1]
    assert first == {
        "id": shop.ids["P"],
        "started_at": "2026-11-10T00:00:00Z",
        "language": "en",
        "channel": "email",
        "outcome": "contained",
        "rating": None,
        "agent_name": None,
        "customer_messages": 1,
        "first_message": "hi",
    }


@pytest.mark.parametrize(
    ("query", "letters"),
    [
        ("q=PARCEL", ["H"]),  # any message, any case
        ("q=%25", []),  # a LIKE wildcard is text
        ("outcome=abandoned", ["H", "F", "D", "C"]),
        ("outcome=rated_poor", ["E"]),
        ("rating=5", ["A"]),
        ("article_id=card-c", ["F"]),  # offered among the clarify options
        ("language=zh", ["C"]),
        ("channel=email", ["P"]),
        ("channel=widget&outcome=contained", ["L", "G", "A"]),
        ("channel=email&outcome=escalated", []),
    ],
)
def test_the_list_searches_and_filters(
    client: TestClient, sue: dict[str, str], shop: ShopWeek, query: str, letters: list[str]
) -> None:
    body = get(client, sue, f"/api/v1/reports/conversations?{WEEK}&{query}")
    assert [item["id"] for item in body["items"]] == [shop.ids[x] for x in letters]
    assert body["next_cursor"] is None


def test_one_conversation_read_whole(
    client: TestClient, sue: dict[str, str], shop: ShopWeek
) -> None:
    body = get(client, sue, f"/api/v1/reports/conversations/{shop.ids['B']}")
    assert body["conversation"]["outcome"] == "escalated"
    assert body["conversation"]["agent_name"] == "Lin"
    assert [m["sender"] for m in body["messages"]] == ["customer", "bot", "agent"]
    (handoff,) = body["handoffs"]
    assert (handoff["status"], handoff["reason"], handoff["agent_name"]) == (
        "resolved",
        "requested",
        "Lin",
    )
    assert body["rating"] == {"score": 4, "comment": "quick and kind", "resolved_by": "agent"}
    # What Rasa read in the messages, as the handoff's packet keeps it.
    assert handoff["intents"] == [
        {"text": "a person please", "intent": "request_human", "confidence": 0.98}
    ]
    answered = get(client, sue, f"/api/v1/reports/conversations/{shop.ids['A']}")
    [lookup] = answered["lookups"]
    assert (lookup["intent"], lookup["intent_confidence"]) == ("ask_question", 0.87)
    trail = get(client, sue, f"/api/v1/reports/conversations/{shop.ids['H']}")
    assert [(x["band"], x["hits"][0]["article_id"]) for x in trail["lookups"]] == [
        ("answer", "shipping")
    ]
    assert [(f["article_id"], f["helpful"]) for f in trail["feedback"]] == [("shipping", False)]
    # A lookup stored without an intent (before migration 0009), a handoff without intents.
    assert [(x["intent"], x["intent_confidence"]) for x in trail["lookups"]] == [(None, None)]
    topic = get(client, sue, f"/api/v1/reports/conversations/{shop.ids['K']}")
    assert [h["intents"] for h in topic["handoffs"]] == [[]]


def test_an_unknown_conversation_is_404(client: TestClient, sue: dict[str, str]) -> None:
    response = client.get("/api/v1/reports/conversations/nope", headers=sue)
    assert (response.status_code, response.json()["detail"]) == (
        404,
        "conversation 'nope' not found",
    )


def test_the_agent_filter_lists_who_may_hold_a_handoff(
    client: TestClient, sue: dict[str, str]
) -> None:
    names = [item["name"] for item in get(client, sue, "/api/v1/reports/agents")["items"]]
    # The admin's name is whatever the module that first made her in the shared demo copy chose.
    admin = get(client, login(client, "ada@shop.test"), "/api/v1/auth/me")["name"]
    assert {"Bo", "Lin", admin} <= set(names)  # agents, and admins (they may take chats)
    assert not {"Sue", "Erin"} & set(names)  # a supervisor and an editor hold none
    assert names == sorted(names)
