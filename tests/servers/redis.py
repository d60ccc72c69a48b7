"""A real Redis for the tests: Debian's ``redis-server`` on a free loopback port.

Each server lives in a temporary folder, keeps nothing on disk (no RDB, no AOF) and runs as
``nobody`` when the tests run as root. ``stop()`` then ``start()`` brings it back on the same
port, empty, which is what the fault tests need: the service's clients see the connection drop
and must reconnect to the same URL.

``redis-server`` comes from Debian's package: installed with apt when missing and we are root,
else the harness fails with a message saying how to install it (never a silent skip).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from bot.stack import free_port

REDIS_SERVER = "/usr/bin/redis-server"
START_TIMEOUT_S = 10.0


class RedisHarnessError(RuntimeError):
    """redis-server is missing and cannot be installed, or it did not start."""


def ensure_redis_server() -> str:
    """The path of ``redis-server``, installing Debian's package first when we are root."""
    if os.access(REDIS_SERVER, os.X_OK):
        return REDIS_SERVER
    if os.geteuid() != 0:
        raise RedisHarnessError(
            f"{REDIS_SERVER} is missing and these tests do not run as root: install Redis "
            "with `sudo apt-get install -y redis-server`"
        )
    install = ["apt-get", "install", "-y", "-qq", "redis-server"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        # A fresh machine has no package lists yet.
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RedisHarnessError(f"apt-get could not install redis-server:\n{done.stderr}")
    if not os.access(REDIS_SERVER, os.X_OK):
        raise RedisHarnessError(f"redis-server was installed but {REDIS_SERVER} is missing")
    return REDIS_SERVER


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process in ``folder``; ``url`` stays the same across restarts."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        # Its own folder under /tmp by default: pytest's tmp_path sits in a folder only root
        # may enter, where nobody could not work.
        self._owns_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="kefu-redis-"))
        self.port = port or free_port()
        self.log_path = self.folder / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        if self.running:
            return self
        binary = ensure_redis_server()
        self.folder.mkdir(parents=True, exist_ok=True)
        # as_root: redis-server runs as nobody, which must be able to write its folder.
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(self.folder, "nobody", "nogroup")
        # setpriv execs redis-server as nobody (Popen's user= forks a threaded process and can
        # deadlock in the child before exec).
        drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        command = [
            *(drop if as_root else []),
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RedisHarnessError(
                    f"redis-server did not start on port {self.port}:\n"
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            time.sleep(0.02)
        return self

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM, or SIGKILL with ``kill``); the port is free afterwards."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """The server stopped in its tracks (SIGSTOP) for the block, as behind a network
        partition: connections stay open and nothing answers; SIGCONT at the end."""
        process = self._process
        assert process is not None and process.poll() is None, "the server is not running"
        process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and remove its folder when the harness made it."""
        self.stop()
        if self._owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def flush(url: str) -> None:
    """Empty every database of the server at ``url`` (between tests sharing one server)."""
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
        connection.sendall(b"FLUSHALL\r\n")
        if not connection.recv(64).startswith(b"+OK"):
            raise RedisHarnessError(f"FLUSHALL failed on {url}")
