"""An editor in Chromium: log in, create and publish an article, ask it in "Try a question",
see it ranked first."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from bot.stack import Stack
from tests.e2e.conftest import AGENT_PASSWORD
from tests.e2e.test_widget_browser import browser  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]


def test_an_editor_publishes_an_article_and_tries_it(
    stack: Stack,
    browser: Browser,  # noqa: F811
    editor_email: str,
) -> None:
    page = browser.new_context(locale="en-US").new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{stack.config.service_url}/editor")
    page.locator(".editor-login-email").fill(editor_email)
    page.locator(".editor-login-password").fill(AGENT_PASSWORD)
    page.locator(".editor-login-submit").click()
    expect(page.locator(".editor-user")).to_contain_text("Erin")

    page.locator(".editor-new").click()
    page.locator(".editor-id").fill("student-discount")
    page.locator(".editor-title").fill("Student discount")
    page.locator(".editor-language").select_option("en")
    page.locator(".editor-category").fill("payments")
    page.locator(".editor-questions").fill(
        "Do you have a student discount?\nIs there a discount for university students?"
    )
    page.locator(".editor-body").fill(
        "Students get **10% off** every order with a valid student card. <b>Apply</b> at checkout."
    )
    expect(page.locator(".editor-preview strong")).to_have_text("10% off")
    expect(page.locator(".editor-preview b")).to_have_count(0)  # HTML is never rendered
    page.locator(".editor-save").click()
    expect(page.locator(".editor-version")).to_contain_text("1")
    page.locator(".editor-publish").click()
    expect(page.locator(".editor-status")).to_contain_text("published")

    page.locator(".editor-try-input").fill("any discount for students?")
    page.locator(".editor-try-btn").click()
    first = page.locator("ol.editor-try-hits li.editor-try-hit").first
    expect(first).to_contain_text("student-discount")
    expect(first).to_contain_text("Student discount")
    assert errors == []
    page.context.close()
