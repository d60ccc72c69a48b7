"""A real SMTP server for the tests: aiosmtpd on a free loopback port, in its own thread.

It records every message it accepts; it can be stopped and started again on the same port (a
mail server that is down, then back); it can require AUTH (plain text is allowed: loopback);
and it can answer every recipient with a refusal, to see retries and give-ups. No pytest here:
the mail benchmark (bench/mail.py) runs the same server; the fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.stack import free_port


@dataclass
class Received:
    """One accepted message: the envelope, the parsed message, and when it was accepted
    (``time.perf_counter()``: the mail benchmark's clock)."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes
    at: float = field(default_factory=time.perf_counter)


@dataclass
class _Recorder:
    """The aiosmtpd handler: keeps what it accepts, or refuses recipients when told to."""

    received: list[Received] = field(default_factory=list)
    refuse_with: str | None = None  # e.g. "451 4.3.0 try again later"
    lock: threading.Lock = field(default_factory=threading.Lock)

    # aiosmtpd calls its hooks by these names.
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, raw))
        return "250 Message accepted for delivery"


class SmtpServer:
    """Start, stop and start again on one port; ``messages`` is everything accepted."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.login = login
        self.recorder = _Recorder()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        user = f"{self.login[0]}:{self.login[1]}@" if self.login else ""
        return f"smtp://{user}{self.host}:{self.port}"

    @property
    def messages(self) -> list[Received]:
        with self.recorder.lock:
            return list(self.recorder.received)

    def refuse(self, reply: str | None) -> None:
        """Answer every RCPT with ``reply`` ("451 …" or "550 …"); None accepts again."""
        self.recorder.refuse_with = reply

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.login is not None
            and (data.login.decode(), data.password.decode()) == self.login
        )
        # handled=False: aiosmtpd answers 535 itself on a failure.
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        extra: dict[str, Any] = {}
        if self.login:
            extra = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,  # loopback, no certificate to make
            }
        self._controller = Controller(
            self.recorder, hostname=self.host, port=self.port, ready_timeout=10, **extra
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` messages arrived; all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} message(s) arrived, expected {count}")
