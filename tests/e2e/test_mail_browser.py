"""Mail in the browser, on the real stack with a real Dovecot (the support mailbox the service
polls) and a real SMTP server (aiosmtpd): the widget's "Email me this conversation", and the
agent console showing the mail an email conversation came from. Chromium, as customers and
agents use it; payloads in a mail are shown as text and never run (tests/e2e/test_xss_browser.py).
"""

from __future__ import annotations

import time
import uuid
from email.message import EmailMessage

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from bot.stack import Stack
from tests.e2e.conftest import AGENT_PASSWORD, _create_user
from tests.e2e.mail import SUPPORT, kept, mails_to
from tests.e2e.test_handoff_browser import log_in_agent, new_page
from tests.e2e.test_widget_browser import REPLY_TIMEOUT_MS, browser  # noqa: F401  (fixture)
from tests.e2e.test_xss_browser import Probe, open_page, probes  # noqa: F401  (fixture)
from tests.servers.imap import ImapServer
from tests.servers.smtp import Received, SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

LIVE_MS = 10_000
# A customer's message with markup in it: the transcript shows it as typed.
HTML_QUESTION = "How long does a refund take? <b>asap</b> <script>top.__xss=1</script>"


def plain_and_html(received: Received) -> tuple[str, str]:
    plain = received.message.get_body(("plain",))
    html = received.message.get_body(("html",))
    assert plain is not None and html is not None
    return str(plain.get_content()), str(html.get_content())


def open_widget_and_ask(page: Page, base: str, question: str) -> None:
    page.goto(f"{base}/")
    page.locator(".kefu-launcher").click()
    page.locator(".kefu-input").fill(question)
    page.keyboard.press("Enter")
    expect(page.locator(".kefu-from-bot")).not_to_have_count(0, timeout=REPLY_TIMEOUT_MS)


def send_transcript(page: Page) -> None:
    page.locator(".kefu-menu-button").click()
    page.locator(".kefu-transcript-open").click()
    expect(page.locator(".kefu-transcript-email")).to_be_focused()
    page.locator(".kefu-transcript-send").click()


def test_the_widget_emails_the_conversation_and_says_what_became_of_it(
    mail_stack: Stack,
    smtp: SmtpServer,
    browser: Browser,  # noqa: F811
) -> None:
    base = mail_stack.config.service_url
    page = new_page(browser, "en-US")
    open_widget_and_ask(page, base, HTML_QUESTION)
    menu_button = page.locator(".kefu-menu-button")
    expect(menu_button).to_be_visible()  # the service sends mail: the option is offered
    form = page.locator(".kefu-transcript")
    address = page.locator(".kefu-transcript-email")
    result = page.locator(".kefu-transcript-result")

    # By keyboard: the menu opens on its item, Escape closes it and gives the focus back.
    menu_button.focus()
    page.keyboard.press("Enter")
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".kefu-transcript-open")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(".kefu-menu")).to_be_hidden()
    expect(menu_button).to_be_focused()
    expect(page.locator(".kefu-panel")).to_be_visible()  # only the menu closed
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(form).to_be_visible()
    expect(address).to_be_focused()
    expect(address).to_have_value("")  # the customer gave no address yet
    expect(page.get_by_label("Your email address")).to_have_count(1)

    # An address the browser takes and the service refuses (a special-use domain): said inline.
    address.fill("jane@localhost")
    page.keyboard.press("Enter")
    expect(result).to_have_text("Please check the address: we can't send email to it.")
    expect(address).to_have_attribute("aria-invalid", "true")
    expect(address).to_be_focused()
    assert not [m for m in smtp.messages if "jane@localhost" in m.recipients]

    address.fill("jane.transcript@example.org")
    page.keyboard.press("Enter")
    expect(result).to_have_text(
        "We'll send this conversation to jane.transcript@example.org in a moment."
    )
    expect(address).to_be_hidden()
    [mail] = mails_to(smtp, "jane.transcript@example.org", 1)
    assert mail.message["Subject"] == "Your conversation with ACME"
    plain, html = plain_and_html(mail)
    assert HTML_QUESTION in plain  # as typed
    assert "<script>" not in html and "&lt;script&gt;top.__xss=1&lt;/script&gt;" in html
    assert "<b>asap</b>" not in html
    # Escape closes the form, the focus goes back to the menu button.
    page.locator(".kefu-transcript-cancel").focus()
    page.keyboard.press("Escape")
    expect(form).to_be_hidden()
    expect(menu_button).to_be_focused()

    # The second and third go (the address the customer used is offered again)…
    for count in (2, 3):
        send_transcript(page)
        expect(address).to_have_value("jane.transcript@example.org")
        expect(result).to_contain_text("We'll send this conversation", timeout=LIVE_MS)
        page.locator(".kefu-transcript-cancel").click()
        assert len(mails_to(smtp, "jane.transcript@example.org", count)) == count
    # …the fourth within the hour is refused, and said.
    send_transcript(page)
    expect(result).to_have_text(
        "This conversation was already emailed several times in the last hour. "
        "Please try again later."
    )
    expect(address).to_be_visible()
    assert page.evaluate("() => window.__xss") is None


def test_the_chinese_widget_offers_the_address_the_customer_gave(
    mail_stack: Stack,
    smtp: SmtpServer,
    browser: Browser,  # noqa: F811
) -> None:
    base = mail_stack.config.service_url
    page = new_page(browser, "zh-CN")
    open_widget_and_ask(page, base, "退款需要多长时间？")
    conversation = page.evaluate(
        "() => JSON.parse(Object.entries(localStorage)"
        ".find(([k]) => k.startsWith('kefu:conversation:'))[1])"
    )
    # The bot passes the conversation on with the address the customer left in the chat.
    opened = httpx.post(
        f"{base}/api/v1/internal/handoffs",
        headers={"Authorization": f"Bearer {mail_stack.service_token}"},
        json={
            "conversation_id": conversation["id"],
            "reason": "requested",
            "language": "zh",
            "customer_email": "mei@example.org",
        },
    )
    assert opened.status_code == 201, opened.text
    page.locator(".kefu-menu-button").click()
    expect(page.locator(".kefu-transcript-open")).to_have_text("把对话发到我的邮箱")
    page.locator(".kefu-transcript-open").click()
    expect(page.get_by_label("您的邮箱地址")).to_have_value("mei@example.org")
    page.locator(".kefu-transcript-send").click()
    expect(page.locator(".kefu-transcript-result")).to_have_text(
        "对话记录稍后会发送到 mei@example.org。"
    )
    # (with nobody online, the handoff's confirmation goes to that address too)
    deadline = time.monotonic() + 30
    while not (transcripts := [m for m in smtp.messages if "mei@example.org" in m.recipients
                               and m.message["Subject"] == "您与ACME的对话记录"]):  # fmt: skip
        assert time.monotonic() < deadline, "the transcript never came"
        time.sleep(0.1)
    assert "退款需要多长时间？" in plain_and_html(transcripts[0])[0]


# A mail whose subject, body and attachment name carry payloads (shown as text, never run).
SUBJECT = 'Opera <img src=x onerror="top.__xss=2;alert(2)"> question'
BODY = (
    "Does your CEO like opera music? <script>top.__xss=1;alert(1)</script>\n"
    "\n"
    "On Mon, 7 Dec 2026 at 09:00, ACME <support@example.com> wrote:\n"
    "> an earlier answer about <b>kettles</b>\n"
    "\n"
    "-- \n"
    "Mei Chen, <svg/onload=top.__xss=3>\n"
)
EVIL_NAME = "<img src=x onerror=top.__xss=4>.pdf"


def mail_with_attachments(sender: str) -> tuple[str, bytes]:
    message = EmailMessage()
    message_id = f"<{uuid.uuid4()}@example.org>"
    message["From"] = f"Mei Chen <{sender}>"
    message["To"] = SUPPORT
    message["Subject"] = SUBJECT
    message["Message-ID"] = message_id
    message["Date"] = "Mon, 7 Dec 2026 10:00:00 +0000"
    message.set_content(BODY)
    message.add_attachment(b"%PDF-1.4\n" * 10, maintype="application", subtype="pdf",
                           filename=EVIL_NAME)  # fmt: skip
    message.add_attachment(b"\xff\xd8" + bytes(2046), maintype="image", subtype="jpeg",
                           filename="kettle.jpg")  # fmt: skip
    return message_id, message.as_bytes()


def test_the_agent_reads_the_whole_mail_and_its_attachments_as_text(
    mail_stack: Stack,
    dovecot: ImapServer,
    browser: Browser,  # noqa: F811
    probes: list[Probe],  # noqa: F811
) -> None:
    base = mail_stack.config.service_url
    agent_email = _create_user(mail_stack, "lin@example.com", "Lin", "agent")
    agent, probe = open_page(browser, probes)
    log_in_agent(agent, base, agent_email)

    message_id, raw = mail_with_attachments("mei.mail@example.org")
    dovecot.deliver(raw)
    row = kept(mail_stack, message_id)
    assert row.status == "accepted" and row.conversation_id is not None

    item = agent.locator(".agent-queue-item").filter(has_text="Does your CEO like opera")
    expect(item).to_have_count(1, timeout=LIVE_MS)
    expect(item.locator(".channel-email")).to_have_count(1)
    item.click()
    message = agent.locator(".agent-msg.from-customer").first
    expect(message.locator(".agent-mail-marker")).to_have_text("By email")
    expect(message.locator(".agent-mail-subject")).to_have_text(f"Subject: {SUBJECT}")
    names = message.locator(".agent-mail-file-name")
    expect(names).to_have_text([EVIL_NAME, "kettle.jpg"])
    expect(message.locator(".agent-mail-file-meta").nth(1)).to_have_text("image/jpeg · 2 kB")
    expect(message.locator(".agent-mail-files-note")).to_contain_text("does not keep")
    assert message.locator(".agent-mail-attachments a").count() == 0  # listed, never links

    # The whole mail (the quote and the signature the bot did not read) is behind the toggle.
    whole = message.locator(".agent-mail-whole")
    toggle = message.locator(".agent-mail-toggle")
    expect(whole).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    agent.keyboard.press("Enter")
    expect(whole).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_have_text("Hide the whole mail")
    expect(whole.locator(".agent-mail-from")).to_have_text("From: mei.mail@example.org")
    shown = whole.locator(".agent-mail-text").text_content() or ""
    for line in BODY.splitlines():
        assert line.strip() in shown, (line, shown)
    probe.hover_texts(agent, ".agent-detail")
    probe.assert_nothing_ran(agent, [".agent-queue", ".agent-detail"])

    # The managers' conversations view says the channel too.
    _create_user(mail_stack, "sue@example.com", "Sue", "supervisor")
    manager, manager_probe = open_page(browser, probes)
    manager.goto(f"{base}/conversations?id={row.conversation_id}")
    manager.locator(".reports-login-email").fill("sue@example.com")
    manager.locator(".reports-login-password").fill(AGENT_PASSWORD)
    manager.locator(".reports-login-submit").click()
    listed = manager.locator(f'.reports-item[data-conversation-id="{row.conversation_id}"]')
    expect(listed.locator(".reports-item-meta")).to_contain_text("Email", timeout=LIVE_MS)
    facts = manager.locator(".reports-facts")
    expect(facts).to_contain_text("Email")
    manager_probe.assert_nothing_ran(manager, [".reports-list", ".reports-detail"])
