"""The agent and editor consoles in a zh-CN Chromium, over the real service (no Rasa): every view
walked shows no text of the English staff catalogue; the language chosen is kept on the account;
the widget's Chinese interface labels an article card in Chinese."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, WebSocketRoute, expect
from sqlalchemy import select

from bot.auth.store import UserStore
from bot.handoff.models import Handoff
from bot.stack import Stack
from db.engine import create_engine_for, session_factory
from tests.bot.analytics.seed import conversation
from tests.e2e.test_handoff_browser import UNDO_MS
from tests.e2e.test_widget_browser import browser  # noqa: F401  (fixture)
from texts.staff import TEXTS

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

PASSWORD = "console-password-1"
QUESTION = "我买的耳机坏了，想换一个"
LIVE_MS = 15_000

# What a console must not show in Chinese: an English text of the catalogue that is not also its
# Chinese text ("CSV") and has no placeholders (those are checked filled, by the walk).
ENGLISH = {
    entry["en"] for entry in TEXTS.values() if entry["en"] != entry["zh"] and "{" not in entry["en"]
}

# Every text a person can read on the page: visible text nodes, the choices of its <select>s
# (but the language switch, which names each language in itself), and the placeholders,
# aria-labels and titles of visible elements.
SHOWN_JS = """() => {
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    const text = walker.currentNode.textContent.trim();
    if (text && parent.tagName !== "OPTION" && parent.checkVisibility()) texts.push(text);
  }
  for (const option of document.querySelectorAll("select:not(.console-language-switch) option")) {
    if (option.parentElement.checkVisibility()) texts.push(option.text.trim());
  }
  for (const node of document.querySelectorAll("[placeholder], [aria-label], [title]")) {
    if (!node.checkVisibility()) continue;
    for (const name of ["placeholder", "aria-label", "title"]) {
      const value = node.getAttribute(name);
      if (value) texts.push(value.trim());
    }
  }
  texts.push(document.title.trim());
  return texts;
}"""


@pytest.fixture(scope="module")
def service(service_only: Stack) -> str:
    """An agent, an editor and a waiting handoff in Chinese; the base URL."""
    assert service_only.config.database_url is not None
    engine = create_engine_for(service_only.config.database_url)
    with session_factory(engine)() as session:
        users = UserStore(session)
        users.create("lin@shop.test", "Lin", "agent", PASSWORD)
        users.create("erin@shop.test", "Erin", "editor", PASSWORD)
        started = datetime.now(UTC) - timedelta(minutes=3)
        seeded = (
            conversation(session, started, language="zh")
            .customer(QUESTION)
            .lookup("none", question=QUESTION, after=0.5)
            .bot("抱歉，这个问题我暂时无法回答。", after=1)
            .customer("转人工")
            .handoff(
                "requested", intents=[{"text": "转人工", "intent": "human", "confidence": 0.93}]
            )
        )
        handoff = session.scalars(select(Handoff).where(Handoff.conversation_id == seeded.id)).one()
        handoff.summary = QUESTION
        handoff.packet = {
            **handoff.packet,
            "summary": QUESTION,
            "articles": [
                {
                    "article_id": "returns-policy",
                    "title": "退换货政策",
                    "score": 0.41,
                    "band": "clarify",
                    "feedback": "not_helpful",
                    "question": QUESTION,
                }
            ],
            "sentiment": [{"score": -0.6, "text": QUESTION}],
        }
        session.commit()
    engine.dispose()
    return service_only.config.service_url


def console_page(browser: Browser, locale: str) -> tuple[Page, list[str]]:  # noqa: F811
    """A page whose script errors and console errors are collected, and whose dialogs (the
    consoles' confirm()) are accepted after their text is kept."""
    page = browser.new_context(locale=locale).new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"error: {error}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "401" not in message.text:  # /auth/me before login
            problems.append(f"console: {message.text}")

    def dialog(shown: Dialog) -> None:
        if not has_chinese(shown.message):
            problems.append(f"dialog not in Chinese: {shown.message}")
        shown.accept()

    page.on("console", console)
    page.on("dialog", dialog)
    return page, problems


def has_chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def log_in(page: Page, url: str, console: str, email: str) -> None:
    page.goto(url)
    page.locator(f".{console}-login-email").fill(email)
    page.locator(f".{console}-login-password").fill(PASSWORD)
    page.locator(f".{console}-login-submit").click()


def english_on(page: Page, seen: set[str]) -> list[str]:
    """The English catalogue texts the page shows now; what it shows joins ``seen``."""
    shown = set(page.evaluate(SHOWN_JS))
    seen |= shown
    return sorted(ENGLISH & shown)


def test_the_agent_console_in_chinese_shows_no_english_text(
    browser: Browser,  # noqa: F811
    service: str,
) -> None:
    page, problems = console_page(browser, "zh-CN")
    seen: set[str] = set()
    log_in(page, f"{service}/agent", "agent", "lin@shop.test")
    expect(page.locator(".agent-header h1")).to_have_text("客服工作台")
    expect(page.locator(".agent-user")).to_contain_text("Lin (客服)")
    item = page.locator(".agent-queue-item").filter(has_text=QUESTION)
    expect(item).to_contain_text("等待中")
    expect(page.locator(".agent-conn")).to_have_text("● 已连接", timeout=LIVE_MS)
    assert english_on(page, seen) == []

    # A handoff open, claimed: the packet, the facts, the holder's forms.
    item.click()
    expect(page.locator(".agent-summary")).to_have_text(QUESTION)
    expect(page.locator(".agent-facts")).to_contain_text("客户要求人工")
    expect(page.locator(".agent-feedback")).to_have_text("没帮助")
    page.locator(".agent-claim").click()
    expect(page.locator(".agent-reply")).to_be_visible()
    expect(page.locator(".agent-reply")).to_have_attribute("placeholder", re.compile("回复客户"))
    page.locator(".agent-kb-query").fill("退货")
    page.locator(".agent-kb-search").click()
    expect(page.locator(".agent-kb-insert").first).to_have_text("插入链接", timeout=LIVE_MS)
    page.locator(".agent-note").fill("客户说耳机左边没声音")
    page.locator(".agent-add-note").click()
    expect(page.locator(".agent-note-item")).to_have_count(1)
    assert english_on(page, seen) == []

    # Resolved, with a moment to undo it (in Chinese), then the history of resolved ones.
    page.locator(".agent-resolve").click()
    expect(page.locator(".agent-undo")).to_contain_text("撤销")
    assert english_on(page, seen) == []
    expect(page.locator(".agent-facts")).to_contain_text("已解决", timeout=UNDO_MS + LIVE_MS)
    page.locator(".agent-filter").select_option("resolved")
    expect(page.locator(".agent-queue-item").filter(has_text=QUESTION)).to_contain_text("已解决")
    assert english_on(page, seen) == []
    assert len(seen) > 40
    page.context.close()
    assert problems == [], problems


def test_the_editor_console_in_chinese_shows_no_english_text(
    browser: Browser,  # noqa: F811
    service: str,
) -> None:
    page, problems = console_page(browser, "zh-CN")
    seen: set[str] = set()
    log_in(page, f"{service}/editor", "editor", "erin@shop.test")
    expect(page.locator(".editor-header h1")).to_have_text("客服知识库")
    expect(page.locator(".editor-item").first).to_be_visible()
    expect(page.locator(".editor-page")).to_contain_text("共")
    assert english_on(page, seen) == []

    # An article open, changed and saved, its history and a diff.
    page.locator(".editor-item").first.click()
    expect(page.locator(".editor-version")).to_contain_text("版本")
    expect(page.locator(".editor-history-item")).not_to_have_count(0)
    # Dates in the staff member's locale: "2026年12月7日 03:31", not "Dec 7, 2026, 3:31 AM".
    expect(page.locator(".editor-history-meta").nth(1)).to_contain_text(
        re.compile(r"\d+年\d+月\d+日")
    )
    page.locator(".editor-questions").press("End")
    page.locator(".editor-questions").type("\n退货要多久")
    expect(page.locator(".editor-dirty")).to_have_text("● 有未保存的修改")
    assert english_on(page, seen) == []
    page.locator(".editor-save").click()
    expect(page.locator(".editor-saved")).to_contain_text("已保存版本", timeout=LIVE_MS)
    page.locator(".editor-diff-btn").first.click()
    expect(page.locator(".editor-diff-head")).to_contain_text("的修改")
    expect(page.locator(".editor-diff-field").first).to_have_text("相似问法")
    assert english_on(page, seen) == []

    # Try a question (retrieval only, no Rasa).
    page.locator(".editor-try-input").fill("怎么退货")
    page.locator(".editor-try-btn").click()
    expect(page.locator(".editor-try-band")).to_contain_text("档位", timeout=LIVE_MS)
    assert english_on(page, seen) == []

    # A new article (its empty states) and the other tabs.
    page.locator(".editor-new").click()
    expect(page.locator(".editor-status")).to_have_text("草稿（未保存）")
    assert english_on(page, seen) == []
    page.locator(".editor-tab[data-tab=gaps]").click()
    expect(page.locator(".editor-gaps-total")).to_contain_text("未回答", timeout=LIVE_MS)
    expect(page.locator(".editor-gap-draft").first).to_have_text("据此起草文章")
    assert english_on(page, seen) == []
    page.locator(".editor-tab[data-tab=import]").click()
    assert english_on(page, seen) == []
    page.locator(".editor-tab[data-tab=calibration]").click()
    expect(page.locator(".editor-calibration-badge")).to_be_visible(timeout=LIVE_MS)
    assert english_on(page, seen) == []
    assert len(seen) > 80
    page.context.close()
    assert problems == [], problems


def test_the_language_chosen_is_kept_on_the_account(
    browser: Browser,  # noqa: F811
    service: str,
) -> None:
    page, problems = console_page(browser, "zh-CN")
    log_in(page, f"{service}/agent", "agent", "lin@shop.test")
    expect(page.locator(".agent-header h1")).to_have_text("客服工作台")
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/auth/me") and r.request.method == "PATCH"
    ):
        page.locator(".agent-language-switch").select_option("en")
    expect(page.locator(".agent-header h1")).to_have_text("Kefu agent console")
    expect(page.locator(".agent-queue-empty, .agent-queue-item").first).to_be_attached()
    page.reload()
    expect(page.locator(".agent-header h1")).to_have_text("Kefu agent console")
    page.context.close()

    # Another browser in Chinese, nothing stored in it: the account's English wins once logged in,
    # in the editor too.
    other, more = console_page(browser, "zh-CN")
    log_in(other, f"{service}/editor", "editor", "lin@shop.test")  # an agent: refused, in English
    expect(other.locator(".editor-error-text")).to_have_text("This account is not an editor.")
    expect(other.locator(".editor-header h1")).to_have_text("Kefu knowledge editor")
    # Back to Chinese from here, and the account follows.
    with other.expect_response(
        lambda r: r.url.endswith("/api/v1/auth/me") and r.request.method == "PATCH"
    ):
        other.locator(".editor-language-switch").select_option("zh")
    expect(other.locator(".editor-header h1")).to_have_text("客服知识库")
    other.context.close()
    more = [problem for problem in more if "403" not in problem]  # the editor's calls, refused
    assert problems + more == [], problems + more


def test_the_chinese_widget_labels_an_article_card_in_chinese(
    browser: Browser,  # noqa: F811
    service: str,
) -> None:
    """The bot labels a card in the conversation's language; on a Chinese page the card is the
    widget's own ("查看全文：…"), never "Full article：…"."""
    page = browser.new_context(locale="zh-CN").new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    answer = {
        "id": 1,
        "sender": "bot",
        "text": "Returns are free within 30 days.",
        "articles": [
            {
                "id": "returns-policy",
                "title": "Returns policy",
                "url": "/articles/returns-policy",
                "label": "Full article",
            }
        ],
    }

    def fake_service(socket: WebSocketRoute) -> None:
        socket.send(json.dumps({"type": "ready", "last_id": 0}))
        socket.send(json.dumps({"type": "message", "message": answer}))

    page.route_web_socket(re.compile(r"/api/v1/conversations/.+/ws"), fake_service)
    page.goto(f"{service}/")
    page.locator(".kefu-launcher").click()
    card = page.locator(".kefu-article-link")
    expect(card).to_have_text("查看全文：Returns policy")
    assert "Full article" not in page.locator("#kefu-widget").inner_text()
    page.context.close()
    assert errors == []
