"""A mail's content and headers: multipart text and HTML from one Markdown, in the customer's
language, texts shown as typed (never as HTML or Markdown), threaded, marked automatic or not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from bot.conversations.models import Message
from bot.mail import compose
from bot.mail.compose import Letterhead, MailContent
from bot.mail.models import OutboundMail
from bot.mail.tokens import conversation_from_address

SECRET = "k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5"
LETTERHEAD = Letterhead("support@shop.test", "Shop & Co", SECRET, "https://help.shop.test")
NOW = datetime(2026, 12, 8, 10, 30, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3))"


def message(sender: str, text: str, **payload: object) -> Message:
    return Message(
        id=1, conversation_id="c", sender=sender, text=text, payload=payload, created_at=NOW
    )


def row(kind: str, content: MailContent, **fields: object) -> OutboundMail:
    values: dict[str, object] = {
        "conversation_id": str(uuid.UUID(int=42)),
        "kind": kind,
        "to_address": "jane@example.com",
        "subject": content.subject,
        "body_text": content.text,
        "body_html": content.html,
        "language": "en",
        "message_id_header": LETTERHEAD.new_message_id(),
    } | fields
    return OutboundMail(**values)


def built(kind: str, content: MailContent, **fields: object) -> EmailMessage:
    return compose.build_message(row(kind, content, **fields), LETTERHEAD, NOW)


@pytest.mark.parametrize(
    ("language", "subject", "greeting"),
    [("en", "Your request to Shop & Co", "Hello,"), ("zh", "您向Shop & Co提交的请求", "您好，")],
)
def test_the_confirmation_speaks_the_customers_language(
    language: str, subject: str, greeting: str
) -> None:
    content = compose.confirmation(["Where is my parcel?"], language, LETTERHEAD)
    assert content.subject == subject
    assert content.text.startswith(greeting)
    assert "> Where is my parcel?" in content.text
    assert f'<html lang="{"zh-CN" if language == "zh" else "en"}">' in content.html
    assert "<blockquote>" in content.html


def test_texts_are_shown_as_typed_never_as_html_or_markdown() -> None:
    content = compose.transcript(
        [message("customer", HOSTILE), message("agent", "**5** _items_", agent_name="<b>Al</b>")],
        "en",
        LETTERHEAD,
    )
    html = content.html
    for dangerous in ("<script", "<img", 'href="javascript', "<b>Al", "<strong>5"):
        assert dangerous not in html, dangerous
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "**5** _items_" in html and "[click](javascript:alert(3))" in html  # as text
    assert HOSTILE in content.text and "**5** _items_" in content.text  # plain: as typed
    assert "Shop &amp; Co" in html


def test_multiline_messages_keep_their_lines() -> None:
    content = compose.reply(
        message("agent", "Line one\nLine two\n\nNew paragraph"), "en", LETTERHEAD
    )
    assert "Line one<br />\nLine two" in content.html
    assert "<p>New paragraph</p>" in content.html
    assert "Line one\nLine two\n\nNew paragraph" in content.text


def test_a_message_with_an_article_links_to_its_page() -> None:
    answer = message(
        "bot",
        "Returns are free within 30 days.",
        articles=[{"id": "returns", "title": "Returns policy", "url": "/articles/returns"}],
    )
    content = compose.reply(answer, "en", LETTERHEAD, subject="Re: returns?")
    assert content.subject == "Re: returns?"
    assert '<a href="https://help.shop.test/articles/returns">Returns policy</a>' in content.html
    assert "https://help.shop.test/articles/returns" in content.text


def test_the_message_is_multipart_with_the_headers_of_a_thread() -> None:
    content = compose.reply(message("agent", "Hello Jane", agent_name="Alice"), "en", LETTERHEAD)
    email = built(
        "agent_reply",
        content,
        in_reply_to="<their@mail.example>",
        references_header="<first@shop.test> <their@mail.example>",
    )
    assert email.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in email.iter_parts()] == ["text/plain", "text/html"]
    assert email["From"].addresses[0].display_name == "Shop & Co"
    assert email["From"].addresses[0].addr_spec == "support@shop.test"
    reply_to = email["Reply-To"].addresses[0].addr_spec
    assert conversation_from_address(reply_to, "support@shop.test", SECRET) == str(
        uuid.UUID(int=42)
    )
    assert email["In-Reply-To"] == "<their@mail.example>"
    assert email["References"] == "<first@shop.test> <their@mail.example>"
    assert email["Message-ID"].endswith("@shop.test>")
    assert "Auto-Submitted" not in email  # a person wrote it: auto-replies may answer
    assert "Alice, for Shop & Co" in email.get_body(("plain",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "header"),
    [
        ("confirmation", "auto-generated"),
        ("rating_request", "auto-generated"),
        ("bot_answer", "auto-replied"),
        ("agent_reply", None),
        ("transcript", None),
    ],
)
def test_mail_no_person_wrote_says_so(kind: str, header: str | None) -> None:
    email = built(kind, compose.rating_request("en", LETTERHEAD))
    assert email.get("Auto-Submitted") == header


def test_message_ids_are_unguessable_and_distinct() -> None:
    ids = {LETTERHEAD.new_message_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) > 30 for i in ids)


# Every character that ends a line for str.splitlines(), which EmailMessage refuses in a header.
LINE_BREAKS = [chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1]


@pytest.mark.parametrize("character", [*LINE_BREAKS, "\t", "\x00", "\x1b", "\x7f", "\x9b"])
def test_a_header_text_is_one_line_whatever_it_held(character: str) -> None:
    assert compose.header_text(f" Re: a{character}b{character} ") == "Re: a b"
    EmailMessage()["Subject"] = compose.header_text(f"a{character}b")  # never refused


def test_a_header_text_keeps_what_is_text() -> None:
    assert LINE_BREAKS  # \n, \r, \x1c, U+0085, U+2028 among them
    assert set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029") <= set(LINE_BREAKS)
    subject = "Re: 您的订单 — “order” #42 (2 × 3€)"
    assert compose.header_text(subject) == subject
