"""XSS payloads in every place the pages show a customer's, an agent's or an editor's text,
driven in Chromium on the real stack: each is shown as text and none runs.

A payload that ran leaves a trace: it sets ``top.__xss`` (the page's ``window.__xss``, from
a frame too) to its number, and some call ``alert()``, which the context's dialog listener
records. A payload parsed as markup without running (a handler the browser never fired) is
caught in the DOM: no injected element in the areas that show user text, no ``on*`` attribute
and no inline script anywhere, every link http(s). The pages' CSP would block inline handlers
and scripts anyway; the contexts bypass it, so what is tested is the page code itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from bot.stack import Stack
from tests.e2e.chat import Customer
from tests.e2e.conftest import AGENT_PASSWORD
from tests.e2e.test_widget_browser import REPLY_TIMEOUT_MS, browser  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]
LIVE_MS = 5_000


@dataclass(frozen=True)
class Payload:
    name: str
    text: str


# Each payload's number follows "__xss=": shown as text, the number can be read back.
CORPUS = [
    Payload("script element", "<script>top.__xss=1;alert(1)</script>"),
    Payload("img onerror", '<img src=x onerror="top.__xss=2;alert(2)">'),
    Payload("svg onload", "<svg/onload=top.__xss=3;alert(3)>"),
    Payload("javascript: Markdown link", "[click me](javascript:top.__xss=4;alert(4))"),
    Payload("iframe srcdoc", '"><iframe srcdoc="<script>top.__xss=5</script>">'),
    Payload(
        "attribute breakout", '" onmouseover="top.__xss=6" autofocus onfocus="top.__xss=6" x="'
    ),
    Payload("single-quoted breakout", "' onmouseover='top.__xss=7' x='"),
    Payload("data: link", '<a href="data:text/html,<script>alert(8)</script>">top.__xss=8</a>'),
    Payload("Markdown image onerror", '![x](x" onerror="top.__xss=9)'),
    Payload("template expression", "{{constructor.constructor('top.__xss=10')()}}"),
    Payload("right-to-left override", "\u202e<img src=x onerror=top.__xss=11>gnp.exe"),
    Payload("nested script tag", "<<script>script>top.__xss=12<</script>/script>"),
    Payload("details ontoggle", "<details open ontoggle=top.__xss=13>"),
    Payload(
        "data: Markdown link",
        "[top.__xss=14](data:text/html;base64,PHNjcmlwdD5hbGVydCgxNCk8L3NjcmlwdD4=)",
    ),
    Payload("entity-encoded javascript: link", "[x](&#106;avascript:top.__xss=15)"),
    Payload("noscript mXSS", '<noscript><p title="</noscript><img src=x onerror=top.__xss=16>">'),
    Payload("javascript: autolink", "<javascript:top.__xss=17>"),
]
ALL = "\n".join(p.text for p in CORPUS)
MARKER = re.compile(r"__xss=(\d+)")
# A customer's question (the handoff's summary), a customer name and an email address that
# the service accepts (email-validator takes quotes and "=" before the @).
QUESTION = (
    "How long is delivery to <svg/onload=top.__xss=3;alert(3)> "
    "{{constructor.constructor('top.__xss=10')()}}?"
)
NAME = '<img src=x onerror="top.__xss=2;alert(2)">" onmouseover="top.__xss=6'
EMAIL = "x'onmouseover='top.__xss=7'@example.com"
GAP_QUESTION = (
    "Do you sell <img src=x onerror=top.__xss=2> tickets to the Moon? "
    "<<script>script>top.__xss=12<</script>/script>"
)

# What the pages may never hold where user text is shown (none of it is theirs there).
INJECTED = (
    "script, img, svg, iframe, frame, object, embed, math, details, noscript, style, video, "
    "audio, base, meta, link, [srcdoc], [formaction]"
)
SCAN = """([areas, injected]) => {
  const show = (node) => node.outerHTML.slice(0, 160);
  const problems = [];
  const missing = areas.filter((area) => !document.querySelector(area));
  for (const area of document.querySelectorAll(areas.join(", "))) {
    for (const node of area.querySelectorAll(injected)) problems.push(show(node));
    for (const link of area.querySelectorAll("a[href], area[href]")) {
      const scheme = new URL(link.href, location.href).protocol;
      if (scheme !== "http:" && scheme !== "https:") problems.push(show(link));
    }
  }
  for (const node of document.querySelectorAll("*")) {
    if ([...node.attributes].some((attr) => /^on/i.test(attr.name))) problems.push(show(node));
  }
  for (const node of document.querySelectorAll("script:not([src])")) problems.push(show(node));
  return { missing, problems, ran: window.__xss === undefined ? null : String(window.__xss) };
}"""


# Articles the bot answers with, their titles packed with the payloads (a title holds at most
# 200 characters); the first one's body carries the whole corpus, one paragraph each.
TOPICS = [
    (
        "xss-engraving",
        "Engraving",
        "Can you engrave a name on my watch?",
        "We engrave up to 20 letters on watches and jewellery for ¥30.",
    ),
    (
        "xss-gift-wrap",
        "Gift wrap",
        "Can you wrap my order as a present?",
        "Any order can be gift wrapped with a handwritten card for ¥10.",
    ),
    (
        "xss-phone-recycling",
        "Recycling",
        "Do you recycle old phones?",
        "Bring an old phone to any of our stores and we recycle it for free.",
    ),
    (
        "xss-bike-rental",
        "Bike rental",
        "Can I rent a bicycle from your store?",
        "City bikes can be rented at the flagship store for ¥50 a day.",
    ),
    (
        "xss-knife-sharpening",
        "Sharpening",
        "Do you sharpen kitchen knives?",
        "We sharpen kitchen knives while you shop, ¥15 a knife.",
    ),
]
CATEGORY = "xss-probes"


def pack_payloads() -> list[str]:
    """The payloads in as few titles as fit, each after its topic's name."""
    chunks: list[str] = []
    for payload in CORPUS:
        room = 200 - len(TOPICS[len(chunks) - 1][1]) - 1
        if chunks and len(chunks[-1]) + 1 + len(payload.text) <= room:
            chunks[-1] += " " + payload.text
        else:
            chunks.append(payload.text)
    return chunks


CHUNKS = pack_payloads()
TITLES = [f"{topic[1]} {chunk}" for topic, chunk in zip(TOPICS, CHUNKS, strict=False)]


@dataclass
class Probe:
    """A browser context and what a payload that ran would leave in it."""

    context: BrowserContext
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_nothing_ran(self, page: Page, areas: list[str]) -> None:
        """No trace of a payload on the page, none parsed as markup in ``areas``."""
        found: dict[str, Any] = page.evaluate(SCAN, [areas, INJECTED])
        assert found["missing"] == [], f"areas not on {page.url}: {found['missing']}"
        assert found["ran"] is None, f"payload {found['ran']} ran on {page.url}"
        assert found["problems"] == [], f"markup from user text on {page.url}: {found['problems']}"
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert self.errors == [], f"JavaScript errors: {self.errors}"

    def hover_texts(self, page: Page, area: str) -> None:
        """Point at every text carrying a payload, as an onmouseover would need."""
        for text in page.locator(area).get_by_text(MARKER).filter(visible=True).all():
            text.hover(timeout=2_000)


@pytest.fixture
def probes(browser: Browser) -> Iterator[list[Probe]]:  # noqa: F811
    """The contexts a test opened, closed after it (before the browser: hence ``browser``)."""
    opened: list[Probe] = []
    yield opened
    for probe in opened:
        probe.context.close()


def open_page(browser: Browser, probes: list[Probe]) -> tuple[Page, Probe]:  # noqa: F811
    context = browser.new_context(locale="en-US", bypass_csp=True)
    probe = Probe(context)
    context.on("dialog", lambda dialog: (probe.dialogs.append(dialog.message), dialog.dismiss()))
    context.on("weberror", lambda error: probe.errors.append(str(error.error)))
    probes.append(probe)
    return context.new_page(), probe


def shown_text(page: Page, area: str) -> str:
    texts: list[str] = page.locator(area).evaluate_all("nodes => nodes.map((n) => n.textContent)")
    return "\n".join(texts)


def assert_shown_verbatim(page: Page, area: str, texts: list[str]) -> None:
    shown = shown_text(page, area)
    missing = [text for text in texts if text not in shown]
    assert missing == [], f"not shown as text in {area}: {missing}"


def markers(text: str) -> set[int]:
    return {int(n) for n in MARKER.findall(text)}


def assert_markers_shown(page: Page, area: str, expected: set[int]) -> None:
    assert expected, "nothing to look for"
    missing = expected - markers(shown_text(page, area))
    names = [CORPUS[n - 1].name for n in sorted(missing)]
    assert not missing, f"payloads not shown as text in {area}: {names}"


def staff_client(stack: Stack, email: str) -> httpx.Client:
    base = stack.config.service_url
    login = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": email, "password": AGENT_PASSWORD}
    )
    login.raise_for_status()
    token = login.cookies["kefu_session"]
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def log_in(page: Page, console: str, email: str, name: str) -> None:
    page.locator(f".{console}-login-email").fill(email)
    page.locator(f".{console}-login-password").fill(AGENT_PASSWORD)
    page.locator(f".{console}-login-submit").click()
    expect(page.locator(f".{console}-user")).to_contain_text(name)


@dataclass(frozen=True)
class ProbeArticle:
    id: str
    title: str
    question: str


@pytest.fixture(scope="module")
def articles(stack: Stack, editor_email: str) -> list[ProbeArticle]:
    """Published through the editors' API, so the bot answers with them at once; plus a draft
    translation of the first, for the editor's translations block."""
    assert len(CHUNKS) <= len(TOPICS), "more titles than topics: add a topic"
    editor = staff_client(stack, editor_email)
    made = []
    for (article_id, _, question, answer), chunk, title in zip(
        TOPICS, CHUNKS, TITLES, strict=False
    ):
        body = f"{answer} {chunk}"
        if not made:
            body += "\n\n" + "\n\n".join(p.text for p in CORPUS)
        created = editor.post(
            "/api/v1/articles",
            json={
                "id": article_id,
                "title": title,
                "body": body,
                "questions": [question],
                "category": CATEGORY,
                "language": "en",
                "status": "published",
            },
        )
        assert created.status_code == 201, created.text
        made.append(ProbeArticle(article_id, title, question))
    translation = editor.post(
        "/api/v1/articles",
        json={
            "id": f"{made[0].id}-zh",
            "title": f"刻字 {CORPUS[1].text}",
            "body": f"手表和首饰刻字，每件 30 元。{CORPUS[0].text}",
            "category": CATEGORY,
            "language": "zh",
            "status": "draft",
            "translation_of": made[0].id,
        },
    )
    assert translation.status_code == 201, translation.text
    return made


def test_the_widget_and_the_agent_console_show_payloads_as_text(
    stack: Stack,
    browser: Browser,  # noqa: F811
    probes: list[Probe],
    articles: list[ProbeArticle],
    agent_email: str,
) -> None:
    base = stack.config.service_url
    agent, agent_probe = open_page(browser, probes)
    agent.goto(f"{base}/agent")
    log_in(agent, "agent", agent_email, "Lin")

    customer, customer_probe = open_page(browser, probes)
    customer.goto(f"{base}/")
    customer.locator(".kefu-launcher").click()
    bot = customer.locator(".kefu-from-bot")
    customer.locator(".kefu-input").fill(QUESTION)
    customer.locator(".kefu-send").click()
    expect(bot).not_to_have_count(0, timeout=REPLY_TIMEOUT_MS)
    expect(customer.locator(".kefu-typing")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)
    links = customer.locator(".kefu-from-bot .kefu-article-link")
    answered = links.count()
    for asked, article in enumerate(articles, start=1):
        customer.locator(".kefu-input").fill(article.question)
        customer.locator(".kefu-send").click()
        expect(links).to_have_count(answered + asked, timeout=REPLY_TIMEOUT_MS)
    expect(customer.locator(".kefu-typing")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)

    # The bot's article cards: each title as text, the answer as the service gives it to the bot.
    shown_titles = customer.locator(".kefu-article-title").all_text_contents()
    assert shown_titles[-len(articles) :] == [a.title for a in articles]
    internal = {"Authorization": f"Bearer {stack.service_token}"}
    answers = [
        httpx.get(f"{base}/api/v1/internal/kb/articles/{a.id}", headers=internal).json()["answer"]
        for a in articles
    ]
    assert_shown_verbatim(customer, ".kefu-messages", [QUESTION, *answers])

    # The bot would open the handoff with what it knows of the customer: a name and an email.
    conversation = customer.evaluate(
        "() => JSON.parse(Object.entries(localStorage)"
        ".find(([k]) => k.startsWith('kefu:conversation:'))[1])"
    )
    opened = httpx.post(
        f"{base}/api/v1/internal/handoffs",
        headers=internal,
        json={
            "conversation_id": conversation["id"],
            "reason": "requested",
            "language": "en",
            "intents": [{"text": QUESTION, "intent": "ask_question", "confidence": 0.9}],
            "customer_name": NAME,
            "customer_email": EMAIL,
        },
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["created"], "the bot had already handed the conversation over"
    assert opened.json()["agents_online"] >= 1

    item = agent.locator(".agent-queue-item").filter(has_text="How long is delivery to")
    expect(item).to_have_count(1, timeout=LIVE_MS)
    assert_shown_verbatim(agent, ".agent-queue", [QUESTION])
    item.click()
    expect(agent.locator(".agent-summary")).to_have_text(QUESTION)
    # Now handled by a person: the customer's whole corpus reaches the agent live.
    customer.locator(".kefu-input").fill(ALL)
    customer.locator(".kefu-send").click()
    corpus_from_customer = agent.locator(".agent-msg.from-customer").filter(has_text="__xss=17")
    expect(corpus_from_customer).to_have_count(1, timeout=LIVE_MS)
    agent.locator(".agent-claim").click()
    agent.locator(".agent-reply").fill(ALL)
    agent.locator(".agent-send").click()
    agent.locator(".agent-note").fill(ALL)
    agent.locator(".agent-add-note").click()
    expect(agent.locator(".agent-note-item")).to_have_count(1, timeout=LIVE_MS)
    agent.locator(".agent-kb-query").fill(articles[0].question)
    agent.locator(".agent-kb-search").click()
    expect(agent.locator(".agent-kb-hit").first).to_be_visible(timeout=LIVE_MS)
    expect(agent.locator(".agent-msg.from-agent")).to_have_count(1, timeout=LIVE_MS)
    expect(customer.locator(".kefu-from-agent .kefu-text")).to_have_count(1, timeout=LIVE_MS)

    # The handoff's customer, the packet (summary, articles tried, intents), the transcript,
    # the note and the knowledge-base hits: all as typed.
    assert_shown_verbatim(
        agent, ".agent-detail", [QUESTION, NAME, EMAIL, ALL, *(a.title for a in articles)]
    )
    assert agent.locator(".agent-note-text").text_content() == ALL
    assert agent.locator(".agent-msg.from-agent .agent-msg-text").text_content() == ALL
    assert_shown_verbatim(agent, ".agent-kb-results", [articles[0].title])
    assert customer.locator(".kefu-from-agent .kefu-text").text_content() == ALL
    assert customer.locator(".kefu-from-customer .kefu-text").last.text_content() == ALL
    for page, probe, areas in (
        (agent, agent_probe, [".agent-queue", ".agent-detail"]),
        (customer, customer_probe, [".kefu-messages"]),
    ):
        probe.hover_texts(page, areas[-1])
        probe.assert_nothing_ran(page, areas)

    # The customer follows the first card's link to the article's page.
    with customer.context.expect_page() as opening:
        links.nth(answered).click()
    article_page = opening.value
    article_page.wait_for_load_state()
    expect(article_page.locator("h1")).to_have_text(articles[0].title)
    customer_probe.assert_nothing_ran(article_page, ["body"])


def test_the_editor_console_shows_payloads_as_text(
    stack: Stack,
    browser: Browser,  # noqa: F811
    probes: list[Probe],
    articles: list[ProbeArticle],
    editor_email: str,
) -> None:
    base = stack.config.service_url
    # A question the bot cannot answer, then a person asked for: a gap either way.
    asker = Customer(base, "en").open()
    asker.say(GAP_QUESTION)
    asker.say("I want to talk to a human")

    page, probe = open_page(browser, probes)
    page.goto(f"{base}/editor")
    log_in(page, "editor", editor_email, "Erin")
    expect(page.locator(f'.editor-filter-category option[value="{CATEGORY}"]')).to_have_count(1)
    page.locator(".editor-filter-category").select_option(CATEGORY)
    expect(page.locator(".editor-item")).to_have_count(len(articles) + 1)
    assert_shown_verbatim(page, ".editor-list", [a.title for a in articles])

    first = articles[0]
    page.locator(f'.editor-item[data-article-id="{first.id}"]').click()
    expect(page.locator(".editor-heading")).to_have_text(first.title)
    expect(page.locator(".editor-translation-open")).to_have_text(f"刻字 {CORPUS[1].text}")
    editor = staff_client(stack, editor_email)
    stored = editor.get(f"/api/v1/articles/{first.id}").json()
    expect(page.locator(".editor-preview")).not_to_be_empty()
    assert_markers_shown(page, ".editor-preview", markers(stored["body"]))

    # The editor types the corpus into the body: the preview renders the raw Markdown, HTML
    # included, before any save strips the tags.
    new_title = f"{TOPICS[0][1]} {CHUNKS[-1]}"
    page.locator(".editor-title").fill(new_title)
    page.locator(".editor-body").fill(f"{TOPICS[0][3]}\n\n" + "\n\n".join(p.text for p in CORPUS))
    # The img is what the save strips: only the preview of the typed body shows it.
    expect(page.locator(".editor-preview")).to_contain_text(CORPUS[1].text, timeout=LIVE_MS)
    assert_markers_shown(page, ".editor-preview", markers(ALL))
    probe.hover_texts(page, ".editor-preview")
    probe.assert_nothing_ran(page, [".editor-list", ".editor-heading", ".editor-preview"])

    page.locator(".editor-save").click()
    expect(page.locator(".editor-saved")).to_contain_text("Saved version 2", timeout=LIVE_MS)
    expect(page.locator(".editor-heading")).to_have_text(new_title)
    stored = editor.get(f"/api/v1/articles/{first.id}").json()
    assert_markers_shown(page, ".editor-preview", markers(stored["body"]))
    expect(page.locator(".editor-history-item")).to_have_count(2)
    assert_shown_verbatim(page, ".editor-history", [first.title, new_title])
    page.locator(".editor-diff-btn").first.click()
    expect(page.locator(".editor-diff .diff-line").first).to_be_visible()
    assert_shown_verbatim(page, ".editor-diff", [first.title, new_title])
    assert_markers_shown(page, ".editor-diff", markers(stored["body"]))

    page.locator(".editor-try-input").fill(first.question)
    page.locator(".editor-try-btn").click()
    expect(page.locator(".editor-try-hit").first).to_contain_text(new_title)

    page.locator('.editor-tab[data-tab="gaps"]').click()
    expect(
        page.locator(".editor-gap-samples li").filter(has_text="tickets to the Moon")
    ).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    assert_shown_verbatim(page, ".editor-gaps", [GAP_QUESTION])
    probe.hover_texts(page, ".editor-gaps")
    probe.assert_nothing_ran(page, [".editor-gaps"])
    page.locator('.editor-tab[data-tab="articles"]').click()
    for area in (".editor-history", ".editor-diff", ".editor-try-hits", ".editor-translations"):
        probe.hover_texts(page, area)
    probe.assert_nothing_ran(
        page,
        [
            ".editor-list",
            ".editor-heading",
            ".editor-preview",
            ".editor-translations",
            ".editor-history",
            ".editor-diff",
            ".editor-try-hits",
        ],
    )


def test_the_public_article_pages_show_payloads_as_text(
    stack: Stack,
    browser: Browser,  # noqa: F811
    probes: list[Probe],
    articles: list[ProbeArticle],
    editor_email: str,
) -> None:
    editor = staff_client(stack, editor_email)
    page, probe = open_page(browser, probes)
    for article in articles:
        stored = editor.get(f"/api/v1/articles/{article.id}").json()
        page.goto(f"{stack.config.service_url}/articles/{article.id}")
        expect(page.locator("h1")).to_have_text(stored["title"])
        assert page.title() == stored["title"]
        assert_markers_shown(page, "body", markers(stored["title"]) | markers(stored["body"]))
        probe.hover_texts(page, "body")
        probe.assert_nothing_ran(page, ["body"])
