"""The mail settings: URLs parsed and checked at start, the password never shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def test_email_is_off_with_nothing_configured() -> None:
    settings = Settings()
    assert settings.smtp_server() is None
    assert settings.imap_server() is None


@pytest.mark.parametrize(
    ("url", "host", "port", "security", "user"),
    [
        (
            "smtp://me:pw@mail.shop.example:587?starttls=true",
            "mail.shop.example",
            587,
            "starttls",
            "me",
        ),
        ("smtps://me:pw@mail.shop.example", "mail.shop.example", 465, "tls", "me"),
        ("smtp://127.0.0.1:2525", "127.0.0.1", 2525, "opportunistic", None),
        ("smtp://127.0.0.1:2525?starttls=false", "127.0.0.1", 2525, "none", None),
        # A password beyond this machine: STARTTLS unless the URL says otherwise.
        ("smtp://me:p%40ss@mail.shop.example:587", "mail.shop.example", 587, "starttls", "me"),
    ],
)
def test_smtp_urls_are_parsed(url: str, host: str, port: int, security: str, user: str) -> None:
    server = Settings(smtp_url=url, mail_from="support@shop.test").smtp_server()
    assert server is not None
    assert (server.host, server.port, server.security, server.username) == (
        host,
        port,
        security,
        user,
    )


def test_the_password_is_decoded_and_never_shown() -> None:
    settings = Settings(
        smtp_url="smtp://me:p%40ss-w0rd@mail.shop.example:587", mail_from="support@shop.test"
    )
    server = settings.smtp_server()
    assert server is not None and server.password == "p@ss-w0rd"
    for shown in (repr(server), str(server), repr(settings)):
        assert "p@ss" not in shown and "p%40ss" not in shown


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.shop.example", "scheme must be one of smtp, smtps"),
        ("smtp://", "no host"),
        ("smtp://mail.shop.example:99999", "valid port"),
        ("smtp://mail.shop.example?tls=yes", "unknown option"),
        ("smtp://mail.shop.example?starttls=maybe", "starttls must be true or false"),
        ("smtps://mail.shop.example?starttls=true", "TLS from the start"),
        ("smtp://me:secret@mail.shop.example?starttls=false", "never sent in clear"),
    ],
)
def test_bad_smtp_urls_stop_the_service_with_a_reason(url: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint) as raised:
        Settings(smtp_url=url, mail_from="support@shop.test")
    assert "secret" not in str(raised.value)


def test_mail_needs_the_support_address() -> None:
    with pytest.raises(ValidationError, match="KEFU_MAIL_FROM"):
        Settings(smtp_url="smtp://127.0.0.1:25")
    with pytest.raises(ValidationError, match="KEFU_MAIL_FROM"):
        Settings(smtp_url="smtp://127.0.0.1:25", mail_from="not an address")
    with pytest.raises(ValidationError, match="no '\\+'"):
        Settings(smtp_url="smtp://127.0.0.1:25", mail_from="support+x@shop.test")


def test_imap_url_names_the_mailbox() -> None:
    settings = Settings(
        imap_url="imaps://me:pw@mail.shop.example/Support%20Inbox", mail_from="Support@Shop.test"
    )
    server = settings.imap_server()
    assert server is not None
    assert (server.port, server.security, server.mailbox) == (993, "tls", "Support Inbox")
    assert settings.mail_from == "support@shop.test"  # normalised
