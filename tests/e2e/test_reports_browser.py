"""A supervisor on the reports in Chromium, over the real service and a real SQLite file holding
the hand-computed shop week (tests/bot/analytics/shop_week.py): tiles, charts, a filter, a CSV,
a number opening its conversations, one conversation read with its trail, paging, and the
Chinese interface."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from bot.auth.store import UserStore
from bot.stack import Stack
from db.engine import create_engine_for, session_factory
from tests.bot.analytics.seed import conversation
from tests.bot.analytics.shop_week import PASSWORD, seed_shop_week
from tests.e2e.test_widget_browser import browser  # noqa: F401  (fixture)
from texts.staff import TEXTS

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

WEEK = "since=2026-11-10&until=2026-11-16"
XSS = "<img src=x onerror=\"document.title='pwned'\"><b>bold?</b>"
MANY = 55  # conversations on one day: a page of 50 and a "More"


@pytest.fixture(scope="module")
def reports(service_only: Stack) -> str:
    """The shop week, a conversation with HTML in it, a day of many, and the staff; the base URL."""
    assert service_only.config.database_url is not None
    engine = create_engine_for(service_only.config.database_url)
    with session_factory(engine)() as session:
        seed_shop_week(session)  # creates the agents lin@ and bo@
        users = UserStore(session)
        users.create("sue@shop.test", "Sue", "supervisor", PASSWORD)
        (
            conversation(session, datetime(2026, 11, 20, 10, tzinfo=UTC))
            .customer(XSS)
            .lookup("none", after=0.5)
            .bot("Sorry, I don't have an answer to that yet.", after=1)
            .handoff(
                "requested",
                note="<script>alert(1)</script> called back",
                intents=[{"text": XSS, "intent": "nlu_fallback", "confidence": 0.31}],
            )
        )
        for n in range(MANY):
            started = datetime(2026, 11, 25, 8, tzinfo=UTC) + timedelta(minutes=n)
            conversation(session, started).customer(f"question number {n}").bot(after=1)
        session.commit()
    engine.dispose()
    return service_only.config.service_url


def watched_page(browser: Browser, locale: str) -> tuple[Page, list[str]]:  # noqa: F811
    """A page whose script errors and refusals by the page's policy (CSP) are collected."""
    page = browser.new_context(locale=locale, accept_downloads=True).new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"error: {error}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "401" not in message.text:  # /auth/me before login
            problems.append(f"console: {message.text}")

    page.on("console", console)
    return page, problems


def log_in(page: Page, url: str, email: str) -> None:
    page.goto(url)
    page.locator(".reports-login-email").fill(email)
    page.locator(".reports-login-password").fill(PASSWORD)
    page.locator(".reports-login-submit").click()


def tile(page: Page, kpi: str) -> Any:
    return page.locator(f'.reports-tile[data-kpi="{kpi}"]')


def chart_option(page: Page, name: str) -> Any:
    return page.evaluate(
        """(name) => {
          const node = document.querySelector(`.reports-chart[data-chart="${name}"]`);
          const chart = echarts.getInstanceByDom(node);
          const canvas = node.querySelector("canvas");
          return chart && { option: chart.getOption(), width: canvas ? canvas.width : 0 };
        }""",
        name,
    )


@pytest.fixture
def supervisor(browser: Browser, reports: str) -> Iterator[Page]:  # noqa: F811
    page, problems = watched_page(browser, "en-US")
    log_in(page, f"{reports}/reports?{WEEK}", "sue@shop.test")
    expect(page.locator(".reports-user")).to_contain_text("Sue")
    yield page
    page.context.close()
    assert problems == [], problems


def test_the_tiles_and_charts_show_the_week(supervisor: Page) -> None:
    page = supervisor
    expect(tile(page, "conversations").locator(".reports-tile-value")).to_have_text("12")
    # 12 against 1 in the week before.
    expect(tile(page, "conversations").locator(".reports-tile-change")).to_have_text(
        "+1,100% vs previous period"
    )
    expect(tile(page, "containment_rate").locator(".reports-tile-value")).to_have_text("33.3%")
    expect(tile(page, "escalation_rate").locator(".reports-tile-value")).to_have_text("25%")
    expect(tile(page, "csat_agent_mean").locator(".reports-tile-change")).to_have_text(
        "nothing to compare with"
    )
    expect(page.locator(".reports-period")).to_contain_text("Nov 10, 2026 – Nov 16, 2026 (UTC)")

    daily = chart_option(page, "daily")
    assert daily is not None and daily["width"] > 0  # drawn on a canvas
    by_outcome = {s["id"]: sum(s["data"]) for s in daily["option"]["series"]}
    assert by_outcome == {"contained": 4, "escalated": 3, "abandoned": 4, "rated_poor": 1}
    assert daily["option"]["series"][0]["name"] == "Contained"
    csat = chart_option(page, "csat")
    assert csat["option"]["series"][0]["data"] == [0, 1, 0, 1, 1]  # E 2, B 4, A 5
    heatmap = chart_option(page, "heatmap")
    assert sum(cell[2] for cell in heatmap["option"]["series"][0]["data"]) == 12
    for name in ("messages", "bands", "reasons"):
        assert chart_option(page, name)["width"] > 0
    # A tooltip drawn under the page's policy (an HTML one would be refused: inline styles).
    page.locator('.reports-chart[data-chart="daily"]').hover()
    page.locator('.reports-chart[data-chart="heatmap"]').hover()

    articles = page.locator('.reports-table-block[data-table="top_articles"] tbody tr')
    expect(articles.filter(has_text="returns-policy")).to_have_count(1)
    unanswered = page.locator('.reports-table-block[data-table="unanswered"]')
    expect(unanswered.locator(".reports-gap-link")).to_have_attribute("href", "/editor#gaps")


def test_a_filter_changes_the_tiles_and_stays_in_the_address(supervisor: Page) -> None:
    page = supervisor
    expect(tile(page, "conversations").locator(".reports-tile-value")).to_have_text("12")
    page.locator(".reports-language").select_option("zh")
    expect(tile(page, "conversations").locator(".reports-tile-value")).to_have_text("1")
    expect(tile(page, "abandonment_rate").locator(".reports-tile-value")).to_have_text("100%")
    assert "language=zh" in page.url
    page.locator(".reports-language").select_option("")
    page.locator(".reports-channel").select_option("email")
    expect(tile(page, "conversations").locator(".reports-tile-value")).to_have_text("1")
    page.go_back()  # the zh filter again, then none
    page.go_back()
    expect(tile(page, "conversations").locator(".reports-tile-value")).to_have_text("12")


def test_every_table_downloads_as_csv(supervisor: Page, tmp_path: Path) -> None:
    page = supervisor
    expect(tile(page, "conversations")).to_be_visible()
    links = page.locator(".reports-csv")
    tables = {link.get_attribute("data-table") for link in links.all()}
    assert tables == {
        "kpis",
        "daily",
        "heatmap",
        "top_articles",
        "not_helpful_articles",
        "unanswered",
        "agents",
        "csat_comments",
        "channels",
    }
    with page.expect_download() as download:
        page.locator('.reports-csv[data-table="agents"]').click()
    saved = tmp_path / "agents.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "kefu-agents-2026-11-10-2026-11-16.csv"
    rows = list(csv.reader(saved.open(encoding="utf-8")))
    assert rows[0] == [
        "agent_id",
        "name",
        "handoffs",
        "resolved",
        "first_response_p50_s",
        "csat_mean",
        "csat_count",
    ]
    assert sorted(row[1] for row in rows[1:]) == ["Bo", "Lin"]


def test_a_number_opens_its_conversations_and_one_is_read_with_its_trail(
    supervisor: Page, reports: str
) -> None:
    page = supervisor
    tile(page, "escalation_rate").click()
    expect(page).to_have_url(f"{reports}/conversations?{WEEK}&outcome=escalated")
    expect(page.locator(".reports-outcome")).to_have_value("escalated")
    items = page.locator(".reports-item")
    expect(items).to_have_count(3)
    expect(page.locator(".reports-list-head")).to_have_text("3 conversations")
    for text in ("a person please", "this is terrible", "chargeback"):
        expect(items.filter(has_text=text)).to_have_count(1)

    page.locator(".reports-nav-link[data-view=overview]").click()
    tile(page, "containment_rate").click()
    page.locator(".reports-item").filter(has_text="how do I get a refund?").click()
    detail = page.locator(".reports-detail")
    expect(detail.locator(".reports-msg.from-customer .reports-msg-text")).to_have_text(
        ["how do I get a refund?"]
    )
    trail = detail.locator(".reports-trail-item")
    expect(trail.nth(0)).to_contain_text("Looked up")
    expect(trail.nth(0)).to_contain_text("Answered")
    expect(trail.nth(0).locator(".reports-intent")).to_have_text("intent ask_question 87%")
    expect(trail.nth(0).locator(".reports-hit")).to_have_text(
        "returns-policy version 1, score 0.90"
    )
    expect(trail.nth(1)).to_contain_text("Marked helpful returns-policy version 1")
    expect(detail.locator(".reports-rating-block")).to_contain_text("5 of 5, for the bot")
    assert "id=" in page.url  # a link to this very conversation
    expect(detail.locator("button, input, textarea")).to_have_count(0)  # read-only


def test_text_from_customers_and_agents_is_shown_as_text(supervisor: Page, reports: str) -> None:
    page = supervisor
    page.goto(f"{reports}/conversations?since=2026-11-20&until=2026-11-20")
    page.locator(".reports-item").first.click()
    detail = page.locator(".reports-detail")
    expect(detail.locator(".reports-msg.from-customer .reports-msg-text")).to_have_text(XSS)
    expect(detail.locator(".reports-note-text")).to_have_text(
        "<script>alert(1)</script> called back"
    )
    expect(detail.locator(".reports-trail-item").first).to_contain_text("Nothing found")
    # The handoff's packet: what Rasa read in each message, the customer's words as text.
    expect(detail.locator(".reports-packet-intent")).to_have_text(f"intent nlu_fallback 31% {XSS}")
    assert page.locator(".reports-app img, .reports-app b, .reports-app script").count() == 0
    assert page.title() != "pwned"


def test_more_pages_the_list_by_its_cursor(supervisor: Page, reports: str) -> None:
    page = supervisor
    page.goto(f"{reports}/conversations?since=2026-11-25&until=2026-11-25")
    items = page.locator(".reports-item")
    expect(items).to_have_count(50)
    expect(items.first).to_contain_text(f"question number {MANY - 1}")  # newest first
    expect(page.locator(".reports-list-head")).to_have_text("50 conversations shown, more below")
    page.locator(".reports-more").click()
    expect(items).to_have_count(MANY)
    expect(items.last).to_contain_text("question number 0")
    expect(page.locator(".reports-more")).to_be_hidden()
    page.locator(".reports-q").fill("number 7")
    page.locator(".reports-q").press("Enter")
    expect(items).to_have_count(1)


def test_the_reports_in_chinese_show_no_english_label(browser: Browser, reports: str) -> None:  # noqa: F811
    page, problems = watched_page(browser, "zh-CN")
    log_in(page, f"{reports}/reports?{WEEK}", "sue@shop.test")
    expect(page.locator(".reports-header h1")).to_have_text("客服报表")
    expect(tile(page, "conversations").locator(".reports-tile-label")).to_have_text("会话数")
    expect(tile(page, "containment_rate").locator(".reports-tile-value")).to_have_text("33.3%")
    assert chart_option(page, "daily")["option"]["series"][0]["name"] == "机器人解决"
    english = {
        entry["en"]
        for entry in TEXTS.values()
        if entry["en"] != entry["zh"] and "{" not in entry["en"]
    }
    shown = page.evaluate(
        """() => {
          const texts = [];
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          while (walker.nextNode()) {
            const parent = walker.currentNode.parentElement;
            const text = walker.currentNode.textContent.trim();
            if (text && parent.checkVisibility() && parent.tagName !== "OPTION") texts.push(text);
          }
          // The filters' choices too (the language switch names each language in itself).
          const options = document.querySelectorAll(".reports-filters option");
          for (const option of options) texts.push(option.text);
          return texts;
        }"""
    )
    assert len(shown) > 100
    assert sorted(english & set(shown)) == []
    assert "较上期" in page.locator(".reports-tiles").inner_text()

    # The switch: English at once, and kept for the next visit.
    page.locator(".reports-language-switch").select_option("en")
    expect(tile(page, "conversations").locator(".reports-tile-label")).to_have_text("Conversations")
    page.reload()
    expect(page.locator(".reports-header h1")).to_have_text("Kefu reports")
    page.context.close()
    assert problems == [], problems


def test_an_agent_is_refused_the_reports(browser: Browser, reports: str) -> None:  # noqa: F811
    page, problems = watched_page(browser, "en-US")
    log_in(page, f"{reports}/reports", "lin@shop.test")
    expect(page.locator(".reports-error")).to_contain_text("may not read reports")
    expect(page.locator(".reports-tile")).to_have_count(0)
    expect(page.locator(".reports-main")).to_be_hidden()
    page.context.close()
    assert problems == [], problems
