"""The mail modules' stack (``mail_stack`` in conftest.py: a real Dovecot holding the support
mailbox the service polls, a real SMTP server taking what the outbox sends) and the waits for
what comes through it."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from bot.mail.models import InboundMail
from bot.stack import Stack
from db.engine import create_engine_for, session_factory
from tests.servers.smtp import Received, SmtpServer

SUPPORT = "support@example.com"
SECRET = "e2e-secret-key-for-mail-0123456789"
POLL_S = 0.5
# The target: in the console within the polling interval plus 2 s (with slack for a
# machine the tests share).
ARRIVAL_S = POLL_S + 10


def rows(stack: Stack, query: Any) -> list[Any]:
    assert stack.config.database_url is not None
    engine = create_engine_for(stack.config.database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(query))
    finally:
        engine.dispose()


def kept(stack: Stack, message_id: str, timeout_s: float = ARRIVAL_S) -> InboundMail:
    """The inbox row of a mail, once the poll has read it."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = rows(stack, select(InboundMail).where(InboundMail.message_id_header == message_id))
        if found and (found[0].status != "accepted" or found[0].message_row_id is not None):
            return found[0]
        assert time.monotonic() < deadline, f"mail {message_id} never read"
        time.sleep(0.1)


def mails_to(smtp: SmtpServer, address: str, count: int, timeout_s: float = 30.0) -> list[Received]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = [m for m in smtp.messages if address in m.recipients]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{count} mails to {address} never sent"
        time.sleep(0.1)


def text_of(received: Received) -> str:
    """The plain-text part of a mail the service sent."""
    body = received.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())
