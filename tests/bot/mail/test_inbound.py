"""Reading a customer's mail: samples shaped like what Gmail, Outlook, Apple Mail, QQ Mail and
Foxmail send, in the charsets Chinese customers' clients use, and what robots send."""

from __future__ import annotations

import base64
from email.header import Header
from email.message import EmailMessage

import pytest

from bot.mail.inbound import html_to_text, read_mail, strip_reply

SUPPORT = ("support@example.com",)


def mail(
    body: str,
    *,
    headers: str = "",
    sender: str = "Jane Doe <jane@example.org>",
    subject: str = "Where is my order?",
    content_type: str = 'text/plain; charset="UTF-8"',
    charset: str = "utf-8",
    transfer: str = "8bit",
) -> bytes:
    head = (
        f"From: {sender}\r\n"
        "To: Support <support@example.com>\r\n"
        f"Subject: {subject}\r\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0800\r\n"
        "Message-ID: <CAF=abc123@mail.gmail.com>\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: {transfer}\r\n"
        f"{headers}\r\n"
    )
    return head.encode("ascii") + body.replace("\n", "\r\n").encode(charset)


GMAIL_REPLY = b"""\
From: Jane Doe <Jane.Doe@Example.org>\r
To: "ACME Support" <support+c1.abcdef@example.com>\r
Subject: Re: [ACME] Your request\r
Message-ID: <CAJ7x+reply@mail.gmail.com>\r
In-Reply-To: <kefu.out.42@example.com>\r
References: <kefu.out.41@example.com> <kefu.out.42@example.com>\r
MIME-Version: 1.0\r
Content-Type: multipart/alternative; boundary="000000000000b1b2b3"\r
\r
--000000000000b1b2b3\r
Content-Type: text/plain; charset="UTF-8"\r
Content-Transfer-Encoding: quoted-printable\r
\r
Thanks, it arrived yesterday! But the box was damaged, can I return it?\r
\r
On Mon, Jan 1, 2024 at 10:00=E2=80=AFAM ACME Support <support+c1.abcdef@exa=\r
mple.com>\r
wrote:\r
\r
> Hello Jane,\r
> your parcel left our warehouse today.\r
>\r
\r
--000000000000b1b2b3\r
Content-Type: text/html; charset="UTF-8"\r
Content-Transfer-Encoding: quoted-printable\r
\r
<div dir=3D"ltr">Thanks, it arrived yesterday! But the box was damaged, can I=\r
 return it?</div><br><div class=3D"gmail_quote"><div class=3D"gmail_attr">On=\r
 Mon, Jan 1, 2024 wrote:</div><blockquote class=3D"gmail_quote">Hello Jane,<=\r
br>your parcel left our warehouse today.</blockquote></div>\r
--000000000000b1b2b3--\r
"""


def test_a_gmail_reply_reads_the_new_text_and_keeps_the_whole_for_the_agent() -> None:
    read = read_mail(GMAIL_REPLY, SUPPORT)
    assert read.status == "accepted" and read.reason is None
    assert read.from_address == "jane.doe@example.org"
    assert read.from_name == "Jane Doe"
    assert read.message_id == "<CAJ7x+reply@mail.gmail.com>"
    assert read.in_reply_to == "<kefu.out.42@example.com>"
    assert read.thread_ids == ("<kefu.out.42@example.com>", "<kefu.out.41@example.com>")
    assert read.recipients == ("support+c1.abcdef@example.com",)
    assert read.subject == "Re: [ACME] Your request"
    assert (
        read.new_text == "Thanks, it arrived yesterday! But the box was damaged, can I return it?"
    )
    assert "your parcel left our warehouse today" in read.text


def test_html_only_mail_is_read_as_text_and_its_quote_stripped() -> None:
    html = (
        '<html><head><style>p{color:red}</style><script>alert("x")</script></head><body>'
        "<p>My password reset link&nbsp;does not work.</p>"
        '<div class="gmail_quote">On Monday, Support wrote:<blockquote>Old text</blockquote></div>'
        "</body></html>"
    )
    read = read_mail(mail(html, content_type="text/html; charset=utf-8"), SUPPORT)
    assert read.new_text == "My password reset link does not work."
    assert "alert" not in read.text and "color" not in read.text
    assert "Old text" in read.text


def test_a_script_in_html_is_never_text() -> None:
    text = html_to_text(
        '<div>Hi<script type="text/javascript">document.location="http://evil"</script>'
        "<img src=x onerror=alert(1)>there</div><style>.a{}</style><noscript>nojs</noscript>"
    )
    assert text == "Hithere"


OUTLOOK = """\
Hello,

I was charged twice for order 1234. Please refund one of them.

Best regards
Tom

________________________________
From: ACME Support <support@example.com>
Sent: Monday, January 1, 2024 10:00 AM
To: Tom <tom@example.net>
Subject: Your order

Thank you for your order.
"""


def test_an_outlook_reply_loses_the_original_message_block() -> None:
    read = read_mail(mail(OUTLOOK, sender="tom@example.net"), SUPPORT)
    assert read.new_text == (
        "Hello,\n\nI was charged twice for order 1234. Please refund one of them.\n\n"
        "Best regards\nTom"
    )
    assert "Thank you for your order." in read.text


def test_outlook_without_the_underline_still_loses_the_header_block() -> None:
    body = "Yes please cancel it.\n\nFrom: Support\nSent: Monday\nSubject: Re: cancel\n\nOld"
    assert strip_reply(body) == "Yes please cancel it."
    original = "Please cancel.\n-----Original Message-----\nFrom: x\nOld"
    assert strip_reply(original) == "Please cancel."


def test_a_from_line_that_starts_no_header_block_is_the_customers_text() -> None:
    body = "From: the shop in Berlin, I bought a lamp.\nIt is broken."
    assert strip_reply(body) == body


APPLE = """\
It still doesn't work after the update.

Sent from my iPhone

> On 1 Jan 2024, at 10:00, ACME Support <support@example.com> wrote:
>
> Please update the app.
"""


def test_apple_mail_from_an_iphone() -> None:
    read = read_mail(mail(APPLE), SUPPORT)
    assert read.new_text == "It still doesn't work after the update."


def test_text_below_a_quote_is_kept_and_a_signature_dropped() -> None:
    body = (
        "On Mon, Jan 1, 2024 at 10:00 AM Support <support@example.com> wrote:\n"
        "> Which order is it?\n\nOrder 5678.\n\n-- \nJane Doe\nACME Fan Club"
    )
    assert strip_reply(body) == "Order 5678."


QQ_MAIL = """\
你好，我的订单还没有发货，请帮忙查一下。

发自我的iPhone

------------------ 原始邮件 ------------------
发件人: "客服"<support@example.com>;
发送时间: 2024年1月1日(星期一) 上午10:00
收件人: "张三"<zhangsan@qq.com>;
主题: 您的订单

您好，您的订单已确认。
"""


@pytest.mark.parametrize("charset", ["gb2312", "gbk", "gb18030", "utf-8"])
def test_qq_mail_in_chinese_charsets(charset: str) -> None:
    raw = mail(
        QQ_MAIL,
        sender="=?gb2312?B?1cXI/Q==?= <zhangsan@qq.com>",
        subject="=?gb2312?B?u9i4tKO6xPq1xLaptaU=?=",
        content_type=f'text/plain; charset="{charset}"',
        charset="gb18030" if charset != "utf-8" else "utf-8",
    )
    read = read_mail(raw, SUPPORT)
    assert read.status == "accepted"
    assert read.from_name == "张三"
    assert read.subject == "回复：您的订单"
    assert read.new_text == "你好，我的订单还没有发货，请帮忙查一下。"
    assert "您的订单已确认" in read.text


@pytest.mark.parametrize(
    ("subject", "read_as"),
    [
        ("=?utf-8?q?a=0Db?=", "a b"),  # CR
        ("=?utf-8?q?a=0D=0A=0D=0Ab?=", "a b"),  # a run of breaks: one space
        ("=?utf-8?q?a=E2=80=A8b?=", "a b"),  # U+2028 LINE SEPARATOR
        ("=?utf-8?q?a=C2=85b?=", "a b"),  # U+0085 NEXT LINE
        ("=?utf-8?q?a=1Cb=0Bc?=", "a b c"),  # FILE SEPARATOR, VT
        ("=?utf-8?q?a=09b=1B=7Fc?=", "a b c"),  # TAB, ESC, DEL
        ("=?utf-8?q?=E2=80=A9=E8=AE=A2=E5=8D=95=0D?=", "订单"),
    ],
)
def test_a_subject_is_read_as_one_line(subject: str, read_as: str) -> None:
    """Kefu answers "Re: " the subject: a line break in it made every mail of the thread
    unsendable (EmailMessage refuses such a header)."""
    read = read_mail(mail("Where is my order?", subject=subject), SUPPORT)
    assert (read.status, read.subject) == ("accepted", read_as)
    EmailMessage()["Subject"] = f"Re: {read.subject}"


@pytest.mark.parametrize("message_id", [b"abc\x1cdef@example.org", b"abc\x0bdef@example.org"])
def test_a_bare_message_id_with_a_line_break_is_not_taken(message_id: bytes) -> None:
    # It would go into the In-Reply-To of Kefu's answer; a synthetic id stands in for it.
    raw = b"From: jane@example.org\r\nSubject: hi\r\nMessage-ID: " + message_id + b"\r\n\r\nhi"
    read = read_mail(raw, SUPPORT)
    assert read.status == "accepted"
    assert read.message_id.endswith("@no-message-id.kefu.invalid>")
    assert read_mail(raw.replace(message_id, b"abc@example.org"), SUPPORT).message_id == (
        "<abc@example.org>"
    )


def test_gbk_characters_in_mail_labelled_gb2312_are_read() -> None:
    # 镕 and 喆 are GBK, not GB2312: clients label such mail GB2312 all the same.
    read = read_mail(mail("朱镕基和张喆", content_type="text/plain; charset=gb2312", charset="gbk"))
    assert read.text == "朱镕基和张喆"


FOXMAIL_CHINESE_GMAIL = """\
退款什么时候到账？

在 2024年1月1日 星期一 10:00，客服 <support@example.com> 写道：
> 您好，已为您办理退款。
"""


def test_foxmail_and_chinese_gmail_attributions() -> None:
    assert strip_reply(FOXMAIL_CHINESE_GMAIL) == "退款什么时候到账？"
    gmail_zh = "好的，谢谢\n\n客服 <support@example.com> 于2024年1月1日周一 10:00写道：\n\n> 已发货"
    assert strip_reply(gmail_zh) == "好的，谢谢"
    foxmail = (
        "收到\n\n\n发件人：客服\n发送时间：2024-01-01 10:00\n收件人：张三\n主题：订单\n\n旧内容"
    )
    assert strip_reply(foxmail) == "收到"


def test_big5_mail_from_taiwan() -> None:
    body = "請問運費多少？\n\n發自我的 iPhone"
    raw = mail(body, content_type="text/plain; charset=big5", charset="big5")
    read = read_mail(raw, SUPPORT)
    assert read.new_text == "請問運費多少？"


def test_an_unknown_charset_is_read_with_a_fallback() -> None:
    raw = mail("Où est ma commande ?", content_type="text/plain; charset=x-klingon")
    assert read_mail(raw, SUPPORT).text == "Où est ma commande ?"
    latin = mail(
        "Où est ma commande ?", content_type="text/plain; charset=x-klingon", charset="cp1252"
    )
    assert read_mail(latin, SUPPORT).text == "Où est ma commande ?"
    unlabelled = mail("订单", content_type="text/plain", charset="gb18030")
    assert read_mail(unlabelled, SUPPORT).text == "订单"


def test_a_lying_charset_never_raises() -> None:
    raw = mail("\u4e2d\u6587", content_type="text/plain; charset=ascii", charset="gb18030")
    assert read_mail(raw, SUPPORT).text == "中文"


def test_attachments_are_listed_never_read() -> None:
    pdf = base64.b64encode(b"%PDF-1.4 " + b"x" * 1000).decode()
    exe = base64.b64encode(b"MZ\x90\x00" * 10).decode()
    name = Header("发票.pdf", "utf-8").encode()
    raw = f"""\
From: buyer@example.org\r
To: support@example.com\r
Subject: Invoice\r
Message-ID: <att@example.org>\r
Content-Type: multipart/mixed; boundary="b1"\r
\r
--b1\r
Content-Type: text/plain; charset=utf-8\r
\r
See the invoice attached.\r
--b1\r
Content-Type: application/pdf; name="{name}"\r
Content-Disposition: attachment; filename="{name}"\r
Content-Transfer-Encoding: base64\r
\r
{pdf}\r
--b1\r
Content-Type: application/octet-stream\r
Content-Disposition: attachment; filename="run.exe"\r
Content-Transfer-Encoding: base64\r
\r
{exe}\r
--b1\r
Content-Type: image/png\r
Content-Disposition: inline\r
Content-Transfer-Encoding: base64\r
\r
iVBORw0KGgo=\r
--b1--\r
""".encode()
    read = read_mail(raw, SUPPORT)
    assert read.new_text == "See the invoice attached."
    assert [a.as_json() for a in read.attachments] == [
        {"name": "发票.pdf", "content_type": "application/pdf", "size": 1009},
        {"name": "run.exe", "content_type": "application/octet-stream", "size": 40},
        {"name": "unnamed", "content_type": "image/png", "size": 8},
    ]


@pytest.mark.parametrize(
    ("headers", "sender", "content_type", "reason"),
    [
        ("Auto-Submitted: auto-replied\r\n", "jane@example.org", "text/plain", "auto_submitted"),
        ("Auto-Submitted: auto-generated\r\n", "jane@example.org", "text/plain", "auto_submitted"),
        ("Precedence: bulk\r\n", "jane@example.org", "text/plain", "precedence_bulk"),
        ("Precedence: junk\r\n", "jane@example.org", "text/plain", "precedence_bulk"),
        ("Precedence: list\r\n", "jane@example.org", "text/plain", "precedence_bulk"),
        ("List-Id: <news.example.org>\r\n", "jane@example.org", "text/plain", "mailing_list"),
        (
            "List-Unsubscribe: <mailto:u@example.org>\r\n",
            "jane@example.org",
            "text/plain",
            "mailing_list",
        ),
        ("Return-Path: <>\r\n", "jane@example.org", "text/plain", "bounce"),
        ("", "MAILER-DAEMON@mx.example.org", "text/plain", "automated_sender"),
        ("", "postmaster@example.org", "text/plain", "automated_sender"),
        (
            "",
            "jane@example.org",
            'multipart/report; report-type=delivery-status; boundary="r"',
            "bounce",
        ),
        ("X-Autoreply: yes\r\n", "jane@example.org", "text/plain", "auto_reply"),
        ("X-Autorespond: vacation\r\n", "jane@example.org", "text/plain", "auto_reply"),
        ("", "Support <support@example.com>", "text/plain", "own_address"),
        ("", "support+c9.zz@Example.com", "text/plain", "own_address"),
    ],
)
def test_mail_from_robots_and_loops_is_ignored(
    headers: str, sender: str, content_type: str, reason: str
) -> None:
    read = read_mail(
        mail("I am away until Monday.", headers=headers, sender=sender, content_type=content_type),
        SUPPORT,
    )
    assert (read.status, read.reason) == ("ignored", reason)


def test_auto_submitted_no_is_a_person() -> None:
    read = read_mail(mail("Hello", headers="Auto-Submitted: no\r\n"), SUPPORT)
    assert read.status == "accepted"


def test_a_mail_over_the_limit_is_rejected_unread() -> None:
    raw = mail("x" * 5000)
    read = read_mail(raw, SUPPORT, max_bytes=1000)
    assert (read.status, read.reason, read.size_bytes) == ("rejected", "too_large", len(raw))
    assert read.text == ""


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"", "rejected", "no_valid_sender"),
        (b"\x00\xff\xfe garbage \x00", "rejected", "no_valid_sender"),
        (
            b"From: jane@example.org\r\nContent-Type: multipart/mixed\r\n\r\nno boundary",
            "rejected",
            "malformed: NoBoundaryInMultipartDefect",
        ),
        (b"From: \r\nSubject: =?utf-8?B?!!!?=\r\n\r\nbody", "rejected", "no_valid_sender"),
        (  # a base64 part that is not base64, in a multipart never closed: read as it is
            b"From: jane@example.org\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"!!!notbase64\r\n--x",
            "accepted",
            None,
        ),
        (
            b"From: jane@example.org\r\nSubject: " + "\u00e9".encode("latin-1") * 3 + b"\r\n\r\nhi",
            "accepted",
            None,
        ),
        (
            b"From: <<<@>>>\r\nTo: ,,,@@@\r\nReferences: <<<\r\n\r\nbody",
            "rejected",
            "no_valid_sender",
        ),
    ],
)
def test_malformed_mail_never_raises(raw: bytes, status: str, reason: str | None) -> None:
    read = read_mail(raw, SUPPORT)
    assert (read.status, read.reason) == (status, reason)
    assert read.message_id.startswith("<") and read.message_id.endswith(">")
    read.text.encode("utf-8")  # storable
    read.subject.encode("utf-8")
    assert "\x00" not in read.text


def test_a_mail_without_a_sender_is_rejected_with_a_reason() -> None:
    read = read_mail(b"Subject: hi\r\nMessage-ID: <x@y>\r\n\r\nhello", SUPPORT)
    assert (read.status, read.reason, read.message_id) == ("rejected", "no_valid_sender", "<x@y>")


def test_a_mail_without_a_message_id_gets_the_same_one_each_time() -> None:
    raw = b"From: jane@example.org\r\nSubject: hi\r\n\r\nhello"
    first, again = read_mail(raw, SUPPORT), read_mail(raw, SUPPORT)
    assert first.message_id == again.message_id
    assert first.message_id != read_mail(raw + b"!", SUPPORT).message_id


def test_nested_multiparts_are_read_to_a_limit() -> None:
    inner = "Content-Type: text/plain\r\n\r\ndeep text\r\n"
    for depth in range(30):
        inner = (
            f'Content-Type: multipart/mixed; boundary="b{depth}"\r\n\r\n'
            f"--b{depth}\r\n{inner}--b{depth}--\r\n"
        )
    raw = ("From: jane@example.org\r\nSubject: deep\r\n" + inner).encode()
    read = read_mail(raw, SUPPORT)
    assert read.status == "accepted"
    assert "deep text" not in read.text
