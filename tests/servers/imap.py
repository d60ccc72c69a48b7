"""A real IMAP server for tests: Debian's Dovecot, configured in a temporary folder, listening on
a free loopback port, with one test user and a Maildir of its own.

``ImapServer`` can be stopped and started again on the same port with the same mailbox (a mail
server that goes down and comes back); ``deliver`` puts a raw mail into the mailbox by IMAP
APPEND, as a mail server's delivery would. No pytest here: the mail benchmark (bench/mail.py)
runs the same server; a failure to start raises ``ImapServerError``.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.stack import free_port

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
# The mailbox's owner: an unprivileged account (Dovecot refuses to keep mail as root).
MAIL_ACCOUNT = "nobody"


class ImapServerError(RuntimeError):
    """Dovecot is missing and cannot be installed, or did not start."""


def ensure_dovecot() -> None:
    """Install Debian's dovecot-imapd when it is missing (the tests run as root), else fail
    with what to do."""
    if Path(DOVECOT).exists():
        return
    if os.geteuid() != 0:
        raise ImapServerError("Dovecot is not installed: apt-get install dovecot-imapd (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "dovecot-imapd"]
    done = subprocess.run(install, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not Path(DOVECOT).exists():
        raise ImapServerError(f"could not install dovecot-imapd: {done.stderr[-500:]}")


@dataclass
class ImapServer:
    """Dovecot in ``folder`` on ``port``; ``url`` is what KEFU_IMAP_URL would say."""

    folder: Path
    port: int
    user: str = "support"
    password: str = "imap-test-password"
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"imap://{self.user}:{self.password}@{self.host}:{self.port}/INBOX"

    @property
    def config(self) -> Path:
        return self.folder / "dovecot.conf"

    def write_config(self) -> None:
        account = pwd.getpwnam(MAIL_ACCOUNT)
        (self.folder / "run").mkdir(exist_ok=True)
        (self.folder / "state").mkdir(exist_ok=True)
        home = self.folder / "home"
        (home / "Maildir").mkdir(parents=True, exist_ok=True)
        for path in [home, *home.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        (self.folder / "users").write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{account.pw_uid}:{account.pw_gid}::{home}\n"
        )
        self.config.write_text(
            f"""
base_dir = {self.folder}/run
state_dir = {self.folder}/state
log_path = {self.folder}/dovecot.log
info_log_path = {self.folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{home}/Maildir
first_valid_uid = 1
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = {self.folder}/users
}}
userdb {{
  driver = passwd-file
  args = {self.folder}/users
}}
"""
        )

    def start(self) -> None:
        """Start (again) and wait until the port answers."""
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise ImapServerError(f"dovecot exited: {error[-1000:]} {self.log()[-1000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as probe:
                    if probe.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ImapServerError(f"dovecot did not answer on port {self.port}: {self.log()[-1000:]}")

    def stop(self) -> None:
        """Stop it; the mailbox stays for the next start."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None
        # Dovecot's children may hold the port for a moment after the master has gone.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                time.sleep(0.05)
            except OSError:
                return

    def log(self) -> str:
        path = self.folder / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def connect(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(self.user, self.password)
        return client

    def deliver(self, raw: bytes, seen: bool = False) -> int:
        """Put a raw mail into INBOX by IMAP APPEND; returns its UID."""
        client = self.connect()
        try:
            status, data = client.append("INBOX", "(\\Seen)" if seen else "", None, raw)
            assert status == "OK", data
            # Dovecot answers [APPENDUID <uidvalidity> <uid>] (UIDPLUS).
            code = data[0].decode() if data and data[0] else ""
            return int(code.split("APPENDUID", 1)[1].split()[1].rstrip("]"))
        finally:
            client.logout()

    def flags(self, uid: int) -> str:
        client = self.connect()
        try:
            client.select("INBOX")
            status, data = client.uid("FETCH", str(uid), "(FLAGS)")
            assert status == "OK", data
            return str(data[0])
        finally:
            client.logout()

    def uidvalidity(self) -> int:
        client = self.connect()
        try:
            status, data = client.status("INBOX", "(UIDVALIDITY)")
            assert status == "OK", data
            return int(data[0].decode().split("UIDVALIDITY", 1)[1].strip(" )"))
        finally:
            client.logout()

    def change_uidvalidity(self, value: int) -> None:
        """What a mail server does when a mailbox is rebuilt: every UID starts over."""
        update = ["mailbox", "update", "-u", self.user, "--uid-validity", str(value), "INBOX"]
        subprocess.run(
            [DOVEADM, "-c", str(self.config), *update],
            check=True,
            capture_output=True,
        )


@contextmanager
def running_imap_server() -> Iterator[ImapServer]:
    """A started Dovecot, stopped and removed at the end. Its folder is its own under /tmp,
    readable by the mailbox's owner (pytest's are root's alone)."""
    ensure_dovecot()
    if shutil.which(DOVEADM) is None:
        raise ImapServerError("doveadm is missing: apt-get install dovecot-core")
    folder = Path(tempfile.mkdtemp(prefix="kefu-dovecot-"))
    folder.chmod(0o755)
    server = ImapServer(folder=folder, port=free_port())
    try:
        server.write_config()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def imap_server() -> Iterator[ImapServer]:
    """``running_imap_server`` as a generator, for a fixture: ``yield from imap_server()``."""
    with running_imap_server() as server:
        yield server
