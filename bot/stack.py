"""The whole system on one machine: the Rasa server, the action server and the service.

Used by ``kefu stack up`` (``make run``), the end-to-end tests and the chat benchmark, so all
three start the processes the same way. Rasa and the action server listen on loopback only.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 10.0


def seed_demo_database(database_url: str) -> None:
    """A database at the latest schema holding the demo knowledge base (tests, benchmarks)."""
    from bot.database import upgrade_database
    from db.engine import create_engine_for, session_factory
    from kb.importer import import_path
    from kb.store import ArticleStore

    upgrade_database(database_url)
    engine = create_engine_for(database_url)
    try:
        with session_factory(engine)() as session:
            import_path(ROOT / "kb" / "demo" / "articles.jsonl", ArticleStore(session))
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class StackError(RuntimeError):
    """A process of the stack exited or did not become healthy in time."""


@dataclass(frozen=True)
class StackPorts:
    service: int = 8000
    rasa: int = 5005
    actions: int = 5055


@dataclass(frozen=True)
class StackConfig:
    """Where everything lives; ``var_dir`` holds the databases, the index and the logs."""

    var_dir: Path
    model: Path = ROOT / "models" / "kefu.tar.gz"
    ports: StackPorts = field(default_factory=StackPorts)
    rasa_venv: Path = ROOT / ".venv-rasa"
    database_url: str | None = None  # default: a SQLite file in var_dir
    secret_key: str | None = None  # default: the service's own setting
    service_env: Mapping[str, str] = field(default_factory=dict)
    echo: bool = False  # print every process's output, prefixed with its name

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.service}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.rasa}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.actions}"


def demo_stack_config(var_dir: Path, **settings: Any) -> StackConfig:
    """A stack on free loopback ports over a fresh copy of the demo knowledge base in
    ``var_dir`` (the end-to-end tests and the benchmarks)."""
    database_url = f"sqlite:///{var_dir / 'kefu.db'}"
    seed_demo_database(database_url)
    ports = StackPorts(service=free_port(), rasa=free_port(), actions=free_port())
    return StackConfig(var_dir=var_dir, ports=ports, database_url=database_url, **settings)


@dataclass
class _Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str
    healthy: Callable[[httpx.Response], bool]
    popen: subprocess.Popen[bytes] | None = None


class Stack:
    """Start with ``with Stack(config) as stack:``; leaving the block stops every process."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.log_dir = config.var_dir / "logs"
        # Only Kefu's own processes hold it: a fresh one per run is never a default secret.
        self.service_token = secrets.token_urlsafe(32)
        self._processes: list[_Process] = []
        self._pumps: list[threading.Thread] = []

    def __enter__(self) -> Stack:
        try:
            self.start()
            self.wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _processes_to_start(self) -> list[_Process]:
        config = self.config
        if not config.model.exists():
            raise StackError(f"{config.model}: no trained Rasa model (run `make rasa-train`)")
        rasa_bin = config.rasa_venv / "bin"
        base = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
        rasa_env = base | {
            "PYTHONPATH": str(ROOT),
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        service_env = base | {
            "DATABASE_URL": config.database_url or f"sqlite:///{config.var_dir / 'kefu.db'}",
            "KEFU_INDEX_DIR": str(config.var_dir / "index"),
            "KEFU_RASA_URL": config.rasa_url,
            "KEFU_ACTION_SERVER_URL": config.actions_url,
            "KEFU_SERVICE_TOKEN": self.service_token,
            **({"KEFU_SECRET_KEY": config.secret_key} if config.secret_key else {}),
            **config.service_env,
        }
        return [
            _Process(
                "rasa",
                [
                    str(rasa_bin / "rasa"),
                    "run",
                    "--enable-api",  # /status, for the health checks; loopback only
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(config.ports.rasa),
                    "--model",
                    str(config.model),
                    "--endpoints",
                    str(self._write_endpoints()),
                    "--credentials",
                    str(ROOT / "credentials.yml"),
                ],
                rasa_env,
                f"{config.rasa_url}/status",
                lambda r: r.status_code == 200,
            ),
            _Process(
                "actions",
                [
                    str(rasa_bin / "python"),
                    "-m",
                    "rasa_sdk",
                    "--actions",
                    "actions",
                    "--port",
                    str(config.ports.actions),
                ],
                # `rasa run actions` has no interface option; rasa_sdk reads SANIC_HOST.
                rasa_env
                | {
                    "SANIC_HOST": "127.0.0.1",
                    "KEFU_SERVICE_URL": config.service_url,
                    "KEFU_SERVICE_TOKEN": self.service_token,
                },
                f"{config.actions_url}/health",
                lambda r: r.status_code == 200,
            ),
            _Process(
                "service",
                [
                    sys.executable,
                    "-m",
                    "bot.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(config.ports.service),
                ],
                service_env,
                f"{config.service_url}/api/v1/health",
                lambda r: r.status_code == 200 and r.json().get("status") == "ok",
            ),
        ]

    def _write_endpoints(self) -> Path:
        """endpoints.yml with this stack's action server port and tracker database."""
        endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
        endpoints["action_endpoint"]["url"] = f"{self.config.actions_url}/webhook"
        if endpoints.get("tracker_store", {}).get("dialect") == "sqlite":
            endpoints["tracker_store"]["db"] = str(self.config.var_dir / "rasa_tracker.db")
        path = self.config.var_dir / "endpoints.yml"
        path.write_text(yaml.safe_dump(endpoints), encoding="utf-8")
        return path

    def start(self) -> None:
        self.config.var_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._processes = self._processes_to_start()
        for process in self._processes:
            self._spawn(process)

    def _spawn(self, process: _Process) -> None:
        # A session of its own: Ctrl-C reaches only this supervisor, which then stops
        # every process in order instead of each dying half-way through a request.
        process.popen = subprocess.Popen(
            process.argv,
            cwd=ROOT,
            env=process.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert process.popen.stdout is not None
        pump = threading.Thread(
            target=self._pump, args=(process.name, process.popen.stdout), daemon=True
        )
        pump.start()
        self._pumps.append(pump)

    def restart(self, name: str, down_s: float = 0.0, timeout_s: float = 120.0) -> None:
        """Stop one process, stay down ``down_s`` seconds, start it again and wait until it is
        healthy (the end-to-end tests use it to drop every connection of the service)."""
        process = next(p for p in self._processes if p.name == name)
        assert process.popen is not None
        self._terminate([process.popen])
        time.sleep(down_s)
        self._spawn(process)
        self.wait_until_healthy(timeout_s, [process])

    @staticmethod
    def _terminate(popens: list[subprocess.Popen[bytes]]) -> None:
        """SIGTERM to each process group in order, SIGKILL for any still running after the
        grace period."""
        for popen in popens:
            if popen.poll() is None:
                os.killpg(popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for popen in popens:
            try:
                popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()

    def _pump(self, name: str, output: IO[bytes]) -> None:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            for line in iter(output.readline, b""):
                log.write(line)
                log.flush()
                if self.config.echo:
                    text = line.decode("utf-8", "replace").rstrip()
                    sys.stdout.write(f"{name:>8} | {text}\n")
                    sys.stdout.flush()

    def exited(self) -> list[tuple[str, int]]:
        """The processes that stopped on their own, with their exit codes."""
        return [
            (p.name, p.popen.returncode)
            for p in self._processes
            if p.popen is not None and p.popen.poll() is not None
        ]

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def wait_until_healthy(
        self, timeout_s: float = 240.0, processes: list[_Process] | None = None
    ) -> None:
        """Poll each process's health URL (all of them by default); a process that exits fails
        at once, with its log."""
        deadline = time.monotonic() + timeout_s
        waiting = list(self._processes if processes is None else processes)
        with httpx.Client(timeout=2.0) as client:
            while waiting:
                for process in list(waiting):
                    assert process.popen is not None
                    if process.popen.poll() is not None:
                        raise StackError(
                            f"{process.name} exited with {process.popen.returncode}:\n"
                            + self.log_tail(process.name)
                        )
                    try:
                        if process.healthy(client.get(process.health_url)):
                            waiting.remove(process)
                    except (httpx.HTTPError, ValueError):
                        pass
                if waiting and time.monotonic() > deadline:
                    names = ", ".join(p.name for p in waiting)
                    raise StackError(f"not healthy after {timeout_s:.0f} s: {names}")
                if waiting:
                    time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM to every process (the service first, so no request reaches a stopped Rasa),
        then SIGKILL for any still running after the grace period."""
        self._terminate([p.popen for p in reversed(self._processes) if p.popen is not None])
        for pump in self._pumps:
            pump.join(timeout=2)
        self._processes, self._pumps = [], []
