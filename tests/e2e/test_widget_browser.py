"""The widget in Debian's Chromium, on the demo store page of the real stack."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.stack import Stack, numbered

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("KEFU_CHROMIUM", "/usr/bin/chromium")
REPLY_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: `make install-browser` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_a_question_in_the_widget_is_answered_and_kept_across_a_reload(
    stack: Stack, page: Page
) -> None:
    page.goto(f"{stack.config.service_url}/")
    page.locator(".kefu-launcher").click()
    expect(page.locator(".kefu-panel")).to_be_visible()
    page.locator(".kefu-input").fill("How do I return an item?")
    page.locator(".kefu-input").press("Enter")

    answer = page.locator(".kefu-from-bot").filter(has=page.locator(".kefu-article-link"))
    expect(answer).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    link = answer.locator(".kefu-article-link")
    expect(link).to_have_attribute("href", f"{stack.config.service_url}/articles/returns-policy")
    expect(answer.locator(".kefu-quick-reply")).to_have_count(2)
    expect(page.locator(".kefu-typing")).to_be_hidden()
    shown = page.locator(".kefu-message").all_inner_texts()

    page.reload()
    page.locator(".kefu-launcher").click()
    expect(page.locator(".kefu-message")).to_have_count(len(shown), timeout=REPLY_TIMEOUT_MS)
    assert page.locator(".kefu-message").all_inner_texts() == shown
    expect(page.locator(".kefu-article-link")).to_have_count(1)


def test_html_typed_by_a_customer_is_shown_as_text(stack: Stack, page: Page) -> None:
    page.goto(f"{stack.config.service_url}/")
    page.locator(".kefu-launcher").click()
    text = "<img src=x onerror=\"document.title='pwned'\"><b>bold?</b>"
    page.locator(".kefu-input").fill(text)
    page.locator(".kefu-send").click()
    mine = page.locator(".kefu-from-customer .kefu-text")
    expect(mine).to_have_text(text)
    expect(page.locator(".kefu-from-bot")).not_to_have_count(0, timeout=REPLY_TIMEOUT_MS)
    assert page.locator("#kefu-widget img, #kefu-widget b").count() == 0
    assert page.title() != "pwned"


def test_the_interface_follows_the_browser_language(stack: Stack, browser: Browser) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{stack.config.service_url}/")
    page.locator(".kefu-launcher").click()
    expect(page.locator(".kefu-human")).to_contain_text("人工")
    page.locator(".kefu-input").fill("怎么修改收货地址")
    page.keyboard.press("Enter")
    link = page.locator(".kefu-from-bot .kefu-article-link")
    expect(link).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(link).to_have_attribute("href", f"{stack.config.service_url}/articles/change-address-zh")
    page.keyboard.press("Escape")
    expect(page.locator(".kefu-panel")).to_be_hidden()
    context.close()


def test_the_widget_survives_a_restart_of_the_service_without_losing_or_doubling(
    stack: Stack, page: Page
) -> None:
    page.goto(f"{stack.config.service_url}/")
    page.locator(".kefu-launcher").click()
    page.locator(".kefu-input").fill("How do I track my order?")
    page.locator(".kefu-input").press("Enter")
    links = page.locator(".kefu-from-bot .kefu-article-link")
    expect(links).to_have_count(1, timeout=REPLY_TIMEOUT_MS)

    # Every connection drops (every worker restarts, at scale); the customer types while the
    # service is away.
    restarts = [
        threading.Thread(target=stack.restart, args=(name,), kwargs={"down_s": 3})
        for name in numbered("service", stack.config.workers)
    ]
    for restart in restarts:
        restart.start()
    expect(page.locator(".kefu-status")).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    page.locator(".kefu-input").fill("How do I return an item?")
    page.locator(".kefu-input").press("Enter")
    for restart in restarts:
        restart.join()

    expect(links).to_have_count(2, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".kefu-status")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".kefu-pending")).to_have_count(0)
    mine = page.locator(".kefu-from-customer .kefu-text").all_inner_texts()
    assert mine == ["How do I track my order?", "How do I return an item?"]
    conversation = page.evaluate(
        "() => JSON.parse(Object.entries(localStorage)"
        ".find(([k]) => k.startsWith('kefu:conversation:'))[1])"
    )
    stored = httpx.get(
        f"{stack.config.service_url}/api/v1/conversations/{conversation['id']}/messages",
        headers={"Authorization": f"Bearer {conversation['token']}"},
    ).json()
    shown = page.locator(".kefu-message[data-message-id]").count()
    assert shown == stored["count"]  # everything stored is shown, once
