"""A real SMTP server for the tests: aiosmtpd on a free loopback port, in its own thread.

It records every message it accepts; it can be stopped and started again on the same port (a
mail server that is down, then back); it can require AUTH (plain text is allowed: loopback);
it can answer at one stage of the exchange (the greeting, EHLO/HELO, MAIL FROM, RCPT, DATA) with
a refusal, to see retries and give-ups; and it can call a test's function at each stage before
it answers (to change the database while a mail is being sent). No pytest here: the mail
benchmark (bench/mail.py) runs the same server; the fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, AnyStr, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

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


# Where in the exchange the server may refuse, or call a test's function: the greeting on
# connect, then the commands' names.
Stage = Literal["greeting", "EHLO", "HELO", "MAIL", "RCPT", "DATA"]


@dataclass
class _Recorder:
    """The aiosmtpd handler: keeps what it accepts, or refuses at a stage when told to."""

    received: list[Received] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)  # stage -> "451 4.3.0 try later"
    on_stage: Callable[[Stage], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, stage: Stage) -> str | None:
        """The refusal for this stage, if any, after the test's function had its turn."""
        if self.on_stage is not None:
            self.on_stage(stage)
        return self.refusals.get(stage)

    # aiosmtpd calls its hooks by these names; a hook that accepts does what aiosmtpd does
    # without one.
    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        refusal = self.answer("EHLO")
        if refusal:
            return [refusal]
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server: Any, session: Any, envelope: Any, hostname: str) -> str:
        refusal = self.answer("HELO")
        if refusal:
            return refusal
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        refusal = self.answer("MAIL")
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        refusal = self.answer("RCPT")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        refusal = self.answer("DATA")
        if refusal:
            return refusal
        raw = bytes(envelope.original_content or envelope.content)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, raw))
        return "250 Message accepted for delivery"


class _Session(SMTP):
    """One connection of aiosmtpd's server, whose greeting may be a refusal (a server that
    answers 554 on connect: the client then gives up on the connection)."""

    greeted = False

    async def push(self, status: AnyStr) -> None:
        if not self.greeted:  # the first line a connection gets is the greeting
            self.greeted = True
            recorder = self.event_handler
            assert isinstance(recorder, _Recorder)
            refusal = recorder.answer("greeting")
            if refusal:
                await super().push(refusal)
                return
        await super().push(status)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Session(self.handler, **self.SMTP_kwargs)


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

    def refuse(self, reply: str | None, at: Stage = "RCPT") -> None:
        """Answer every ``at`` (every recipient unless told) with ``reply`` ("451 …" or
        "550 …"); None accepts again."""
        if reply is None:
            self.recorder.refusals.pop(at, None)
        else:
            self.recorder.refusals[at] = reply

    def on_stage(self, call: Callable[[Stage], None] | None) -> None:
        """Call ``call(stage)`` at each stage of every exchange, in the server's thread, before
        it answers (None: no more). What it does happens between two commands of the client."""
        self.recorder.on_stage = call

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
        self._controller = _Controller(
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
