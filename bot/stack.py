"""The whole system on one machine: the Rasa server, the action server and the service.

Used by ``kefu stack up`` (``make run``), the end-to-end tests and the chat benchmark, so all
three start the processes the same way. Rasa and the action server listen on loopback only, and
answer only Kefu's own processes: Rasa's HTTP API wants its auth token (``?token=``), the action
server the service token (``Authorization: Bearer``, which Rasa sends as the endpoints.yml
written here asks). Both tokens are fresh for every run and travel in the environment, never in
a process's arguments.

``kefu stack up`` keeps the stack up with a Supervisor: a process that dies is started again,
alone, after a backoff; one that keeps dying stops the stack.

A stack holds its ``var_dir`` (databases, Rasa's tracker, logs) with a lock file while it runs,
so a second stack on the same folder is refused instead of sharing them.

At scale (docs/scaling.md) the stack runs several service workers and several Rasa processes,
each Rasa with an action server: the service workers share the public port and the action
servers theirs through one listening socket the stack opens and hands to each (the kernel gives
every connection to one of them, so a worker that dies leaves its address served); each
service worker also listens on a loopback port of its own. Rasa's tracker store is then on
PostgreSQL and its lock store on Redis, derived from ``DATABASE_URL`` and ``REDIS_URL``, which
are checked before anything starts.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import yaml

from bot.engines import (
    check_database,
    check_redis,
    ensure_rasa_database,
    is_postgres,
    rasa_lock_store,
    rasa_tracker_store,
)
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 10.0
LOCK_FILE = "stack.lock"

log = logging.getLogger(__name__)

# Rasa's server with its API token from the environment (never in `ps`), a compiled check of
# the action server's answers and a pooled WAL tracker store on SQLite (addons/rasa_server.py).
RASA_SERVER_MODULE = "addons.rasa_server"


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
    """A process of the stack exited or did not become healthy in time, or its var_dir is
    another running stack's."""


class VarDirLock:
    """An exclusive lock on ``var_dir/stack.lock`` (flock: the system drops it when the holder
    dies, so a crash leaves no stale lock); the file names the holder's process id."""

    def __init__(self, var_dir: Path) -> None:
        self.path = var_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        if self._file is not None:
            return
        file = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise StackError(
                f"{self.path.parent} is in use by another kefu stack (process {holder}): two "
                "stacks would share its databases, Rasa's tracker and logs. Stop that one, or "
                "give this one a folder of its own (--var-dir or KEFU_VAR_DIR)."
            ) from None
        file.truncate(0)
        file.write(f"{os.getpid()}\n")
        file.flush()
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None


@dataclass(frozen=True)
class StackPorts:
    service: int = 8000
    rasa: int = 5005
    actions: int = 5055
    more_rasa: tuple[int, ...] = ()  # further Rasa processes over the same tracker store
    # Several service workers: each one's own loopback port; the stack then holds the public
    # ``service`` port and shares it with all of them. Empty: one service on ``service``.
    service_workers: tuple[int, ...] = ()

    @property
    def all_rasa(self) -> tuple[int, ...]:
        return (self.rasa, *self.more_rasa)


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
    log_format: str = "text"  # KEFU_LOG_FORMAT of the service and the action server
    echo: bool = False  # print every process's output, prefixed with its name
    # Shared state between service workers, and Rasa's lock store (docs/scaling.md).
    redis_url: str | None = None
    # Action servers sharing the actions port (one per Rasa process at scale).
    actions_workers: int = 1

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.service}"

    @property
    def service_database_url(self) -> str:
        """The service's database: ``database_url``, or the SQLite file in ``var_dir``."""
        return self.database_url or f"sqlite:///{self.var_dir / 'kefu.db'}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.rasa}"

    @property
    def rasa_urls(self) -> list[str]:
        """Every Rasa process's address: the first is "rasa", the others "rasa-2", "rasa-3" …"""
        return [f"http://127.0.0.1:{port}" for port in self.ports.all_rasa]

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.actions}"

    @property
    def workers(self) -> int:
        """Service processes."""
        return max(1, len(self.ports.service_workers))

    @property
    def worker_urls(self) -> list[str]:
        """Each service worker's own address ("service", "service-2" …); with one worker, the
        service's."""
        if not self.ports.service_workers:
            return [self.service_url]
        return [f"http://127.0.0.1:{port}" for port in self.ports.service_workers]


def stack_config(
    settings: Settings, ports: StackPorts, model: Path | None = None, actions_workers: int = 1
) -> StackConfig:
    """``kefu stack up``'s stack: in the settings' var_dir (the project's var/ unless
    KEFU_VAR_DIR or --var-dir says otherwise), with their database, Redis, index and secret
    key."""
    return StackConfig(
        var_dir=settings.var_dir,
        model=model or ROOT / "models" / "kefu.tar.gz",
        ports=ports,
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        service_env={
            "KEFU_INDEX_DIR": str(settings.index_dir.resolve()),
            **({"KEFU_METRICS_TOKEN": settings.metrics_token} if settings.metrics_token else {}),
        },
        log_format=settings.log_format,
        echo=True,
        redis_url=settings.redis_url,
        actions_workers=actions_workers,
    )


def numbered(name: str, count: int) -> list[str]:
    """``name``, ``name-2``, ``name-3`` … (``count`` of them)."""
    return [name] + [f"{name}-{n}" for n in range(2, count + 1)]


def rasa_names(count: int) -> list[str]:
    return numbered("rasa", count)


def demo_stack_config(
    var_dir: Path,
    rasa_workers: int = 1,
    workers: int = 1,
    database_url: str | None = None,
    redis_url: str | None = None,
    **settings: Any,
) -> StackConfig:
    """A stack on free loopback ports over a fresh copy of the demo knowledge base (the
    end-to-end tests and the benchmarks), with ``rasa_workers`` Rasa processes (and as many
    action servers when there is Redis) and ``workers`` service workers. The database is a
    SQLite file in ``var_dir`` unless ``database_url`` names an empty one (PostgreSQL)."""
    database_url = database_url or f"sqlite:///{var_dir / 'kefu.db'}"
    seed_demo_database(database_url)
    ports = StackPorts(
        service=free_port(),
        rasa=free_port(),
        actions=free_port(),
        more_rasa=tuple(free_port() for _ in range(rasa_workers - 1)),
        service_workers=tuple(free_port() for _ in range(workers)) if workers > 1 else (),
    )
    return StackConfig(
        var_dir=var_dir,
        ports=ports,
        database_url=database_url,
        redis_url=redis_url,
        actions_workers=rasa_workers if redis_url else 1,
        **settings,
    )


@dataclass
class StackProcess:
    """One process of the stack, how to start it and how to tell it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str
    healthy: Callable[[httpx.Response], bool]
    health_params: dict[str, str] = field(default_factory=dict)  # a token, kept out of the URL
    popen: subprocess.Popen[bytes] | None = None
    held_down: bool = False  # stopped on purpose (Stack.restart): not a crash
    # A port the process serves through the stack's listening socket (``--fd N`` is added to
    # its arguments when it starts), shared with the other processes serving it.
    shared_port: int | None = None


def describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with {code}"


class Stack:
    """Start with ``with Stack(config) as stack:``; leaving the block stops every process.

    ``processes`` replaces Rasa, the action server and the service (the supervisor's tests);
    ``service_only`` starts the service alone, healthy without Rasa (pages that never chat)."""

    def __init__(
        self,
        config: StackConfig,
        processes: Sequence[StackProcess] | None = None,
        service_only: bool = False,
    ) -> None:
        self.config = config
        self.service_only = service_only
        self.log_dir = config.var_dir / "logs"
        # Only Kefu's own processes hold them: fresh ones per run are never default secrets.
        self.service_token = secrets.token_urlsafe(32)
        self.rasa_token = secrets.token_urlsafe(32)
        self._given = list(processes) if processes is not None else None
        self._processes: list[StackProcess] = []
        self._pumps: list[threading.Thread] = []
        # Held while a process is started or stopped, so the supervisor never starts one again
        # while stop() or restart() is taking it down.
        self._lock = threading.Lock()
        self._stopping = False
        self._var_dir_lock = VarDirLock(config.var_dir)
        self._listening: dict[int, socket.socket] = {}  # shared ports: the stack's sockets

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

    def kefu_processes(self) -> list[StackProcess]:
        """Rasa, the action server and the service, as this stack starts them."""
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
        endpoints, engines_env = self._write_endpoints()
        rasas = [
            StackProcess(
                name,
                [
                    str(rasa_bin / "python"),
                    "-m",
                    RASA_SERVER_MODULE,
                    "run",
                    "--enable-api",  # /status and the trackers, behind the token; loopback only
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--model",
                    str(config.model),
                    "--endpoints",
                    str(endpoints),
                    "--credentials",
                    str(ROOT / "credentials.yml"),
                ],
                # The service token goes into endpoints.yml's header for the action server, the
                # engines' passwords into its tracker and lock stores.
                rasa_env
                | engines_env
                | {"KEFU_RASA_TOKEN": self.rasa_token, "KEFU_SERVICE_TOKEN": self.service_token},
                f"http://127.0.0.1:{port}/status",
                lambda r: r.status_code == 200,
                {"token": self.rasa_token},
            )
            for name, port in zip(
                rasa_names(len(config.ports.all_rasa)), config.ports.all_rasa, strict=True
            )
        ]
        shared = config.actions_workers > 1
        actions = [
            StackProcess(
                name,
                [
                    str(rasa_bin / "python"),
                    "-m",
                    "actions.server",
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(config.ports.actions),
                ],
                rasa_env
                | {
                    "KEFU_SERVICE_URL": config.service_url,
                    "KEFU_SERVICE_TOKEN": self.service_token,
                    "KEFU_LOG_FORMAT": config.log_format,
                },
                # Shared: whichever action server takes the check answers it.
                f"{config.actions_url}/health",
                lambda r: r.status_code == 200,
                shared_port=config.ports.actions if shared else None,
            )
            for name in numbered("actions", config.actions_workers)
        ]
        return [*rasas, *actions, *self.service_processes()]

    def service_processes(self, needs_rasa: bool = True) -> list[StackProcess]:
        """The service as this stack starts it, one process per worker: healthy once its health
        check says ok, or, without Rasa (``needs_rasa`` False), once it answers at all
        (degraded)."""
        config = self.config
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")} | {
            "KEFU_VAR_DIR": str(config.var_dir),
            "DATABASE_URL": config.service_database_url,
            "KEFU_INDEX_DIR": str(config.var_dir / "index"),
            "KEFU_RASA_URL": ",".join(config.rasa_urls),
            "KEFU_ACTION_SERVER_URL": config.actions_url,
            "KEFU_SERVICE_TOKEN": self.service_token,
            "KEFU_RASA_TOKEN": self.rasa_token,
            "KEFU_LOG_FORMAT": config.log_format,
            **({"KEFU_SECRET_KEY": config.secret_key} if config.secret_key else {}),
            **config.service_env,
        }
        env.pop("REDIS_URL", None)
        if config.redis_url:
            env["REDIS_URL"] = config.redis_url
        shared = config.ports.service if config.ports.service_workers else None
        processes = []
        for name, url in zip(numbered("service", config.workers), config.worker_urls, strict=True):
            port = url.rpartition(":")[2]
            argv = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", port]
            processes.append(
                StackProcess(
                    name,
                    argv,
                    # Each worker its own index folder: a worker saves the index it built.
                    env | ({"KEFU_INDEX_DIR": f"{env['KEFU_INDEX_DIR']}-{name}"} if shared else {}),
                    f"{url}/api/v1/health",
                    lambda r: (
                        r.status_code == 200 and (not needs_rasa or r.json().get("status") == "ok")
                    ),
                    shared_port=shared,
                )
            )
        return processes

    def service_process(self, needs_rasa: bool = True) -> StackProcess:
        """The (first) service process."""
        return self.service_processes(needs_rasa)[0]

    def check_engines(self) -> None:
        """PostgreSQL and Redis answer (and Rasa's tracker database exists), or StackError
        naming the address, password masked, before anything starts."""
        config = self.config
        try:
            if config.database_url is not None and is_postgres(config.database_url):
                check_database(config.database_url)
                if not self.service_only:
                    ensure_rasa_database(config.database_url)
            if config.redis_url:
                check_redis(config.redis_url)
        except RuntimeError as error:
            raise StackError(str(error)) from error

    def migrate(self) -> None:
        """The database's migrations, once, before several service workers start: each worker
        runs them again at start and finds the schema current (on PostgreSQL concurrent runs
        would take turns anyway, bot/migrations/env.py; on SQLite they must not overlap)."""
        from bot.database import upgrade_database

        try:
            upgrade_database(self.config.service_database_url)
        except RuntimeError as error:  # DatabaseUnavailable, naming it (password masked)
            raise StackError(str(error)) from error

    def _write_endpoints(self) -> tuple[Path, dict[str, str]]:
        """endpoints.yml with this stack's action server port and tracker store, and the
        environment Rasa needs to read it: the action server's token stays a
        ``${KEFU_SERVICE_TOKEN}`` that Rasa expands, and so do the engines' passwords.

        Rasa's tracker store is a SQLite file in var_dir, or, when the service's database is
        PostgreSQL, a database of its own next to it; its lock store is Redis when the stack
        has Redis (several Rasa processes may then serve one conversation), else in memory."""
        endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
        endpoints["action_endpoint"]["url"] = f"{self.config.actions_url}/webhook"
        # The action server answers only with the service token; Rasa expands ${…} from its
        # environment, so the token itself is never written to disk.
        endpoints["action_endpoint"]["headers"] = {"Authorization": "Bearer ${KEFU_SERVICE_TOKEN}"}
        env: dict[str, str] = {}
        database_url = self.config.database_url
        if database_url is not None and is_postgres(database_url):
            endpoints["tracker_store"], tracker_env = rasa_tracker_store(database_url)
            env |= tracker_env
        elif endpoints.get("tracker_store", {}).get("dialect") == "sqlite":
            endpoints["tracker_store"]["db"] = str(self.config.var_dir / "rasa_tracker.db")
        if self.config.redis_url:
            endpoints["lock_store"], lock_env = rasa_lock_store(self.config.redis_url)
            env |= lock_env
        path = self.config.var_dir / "endpoints.yml"
        path.write_text(yaml.safe_dump(endpoints), encoding="utf-8")
        return path, env

    def start(self) -> None:
        self.config.var_dir.mkdir(parents=True, exist_ok=True)
        self._var_dir_lock.acquire()  # before anything in var_dir is written
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        if self._given is not None:
            self._processes = self._given
        else:
            self.check_engines()
            if self.config.workers > 1:
                self.migrate()
            if self.service_only:
                self._processes = self.service_processes(needs_rasa=False)
            else:
                self._processes = self.kefu_processes()
        for process in self._processes:
            self._spawn(process)

    @property
    def running(self) -> bool:
        """Started and not being stopped."""
        return bool(self._processes) and not self._stopping

    def _shared_socket(self, port: int) -> socket.socket:
        """The stack's listening socket on ``port``, opened once and held until the stack
        stops: connections wait in its queue while the processes serving it start again."""
        listening = self._listening.get(port)
        if listening is None:
            listening = self._listening[port] = socket.create_server(
                ("127.0.0.1", port), backlog=2048
            )
        return listening

    def _spawn(self, process: StackProcess) -> None:
        argv, fds = process.argv, []
        if process.shared_port is not None:
            fds = [self._shared_socket(process.shared_port).fileno()]
            argv = [*argv, "--fd", str(fds[0])]
        # A session of its own: Ctrl-C reaches only this supervisor, which then stops
        # every process in order instead of each dying half-way through a request.
        process.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=process.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=fds,
        )
        assert process.popen.stdout is not None
        pump = threading.Thread(
            target=self._pump, args=(process.name, process.popen.stdout), daemon=True
        )
        pump.start()
        self._pumps = [p for p in self._pumps if p.is_alive()] + [pump]

    def _process(self, name: str) -> StackProcess:
        return next(p for p in self._processes if p.name == name)

    def pid(self, name: str) -> int:
        """The process id of the process ``name`` (its latest start)."""
        popen = self._process(name).popen
        assert popen is not None
        return popen.pid

    def respawn(self, name: str) -> bool:
        """Start a process that exited on its own again (the supervisor); nothing while the
        stack stops, or if it runs or is held down. Whether it started."""
        process = self._process(name)
        with self._lock:
            if self._stopping or process.held_down:
                return False
            if process.popen is not None and process.popen.poll() is None:
                return False
            self._spawn(process)
            return True

    def restart(self, name: str, down_s: float = 0.0, timeout_s: float = 120.0) -> None:
        """Stop one process, stay down ``down_s`` seconds, start it again and wait until it is
        healthy (the end-to-end tests use it to drop every connection of the service). The
        supervisor leaves it alone meanwhile: this is no crash."""
        process = self._process(name)
        assert process.popen is not None
        with self._lock:
            process.held_down = True
            self._terminate([process.popen])
        time.sleep(down_s)
        with self._lock:
            process.held_down = False
            if self._stopping:
                return
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
        """The processes that stopped on their own, with their exit codes (none while the
        stack stops, nor one that restart() holds down)."""
        if self._stopping:
            return []
        return [
            (p.name, p.popen.returncode)
            for p in self._processes
            if p.popen is not None and not p.held_down and p.popen.poll() is not None
        ]

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def wait_until_healthy(
        self, timeout_s: float = 240.0, processes: list[StackProcess] | None = None
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
                        answer = client.get(process.health_url, params=process.health_params)
                        if process.healthy(answer):
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
        then SIGKILL for any still running after the grace period. The supervisor starts none
        of them again."""
        with self._lock:
            self._stopping = True
            popens = [p.popen for p in reversed(self._processes) if p.popen is not None]
        self._terminate(popens)
        for pump in self._pumps:
            pump.join(timeout=2)
        self._processes, self._pumps = [], []
        for listening in self._listening.values():
            listening.close()
        self._listening.clear()
        self._var_dir_lock.release()


@dataclass(frozen=True)
class RestartPolicy:
    """How the supervisor answers a process that exits on its own: it alone starts again after
    ``first_backoff_s``, doubled for every crash of it still inside ``window_s``, at most
    ``max_backoff_s``; its ``max_crashes``-th crash inside the window stops the stack."""

    first_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_crashes: int = 5
    # Longer than five of Rasa's starts (it loads the model for tens of seconds), so a Rasa that
    # dies after every start is given up too instead of being started for ever.
    window_s: float = 300.0

    def backoff_s(self, crashes: int) -> float:
        """The wait before a start again after the ``crashes``-th crash in the window."""
        return float(min(self.max_backoff_s, self.first_backoff_s * 2 ** (crashes - 1)))


class Supervisor:
    """Keeps a started stack up (``kefu stack up``): ``run()`` returns once the stack stops and
    raises StackError when a process crashes too often, after logging its last lines."""

    def __init__(
        self,
        stack: Stack,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack = stack
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._crashes: dict[str, deque[float]] = {}  # when each process crashed, in the window
        self._start_at: dict[str, float] = {}  # crashed processes waiting out their backoff

    def run(self, poll_s: float = 0.5) -> None:
        while self.stack.running:
            self.check()
            time.sleep(poll_s)

    def check(self) -> None:
        """One look at every process: count the new crashes, start again those whose backoff
        is over."""
        now = self._clock()
        for name, code in self.stack.exited():
            if name not in self._start_at:
                self._start_at[name] = now + self._backoff_after_crash(name, code, now)
        for name, start_at in list(self._start_at.items()):
            if now >= start_at:
                del self._start_at[name]
                if self.stack.respawn(name):
                    log.info("%s started again", name)

    def _backoff_after_crash(self, name: str, code: int, now: float) -> float:
        crashes = self._crashes.setdefault(name, deque())
        crashes.append(now)
        while crashes[0] <= now - self.policy.window_s:
            crashes.popleft()
        count, window_s = len(crashes), self.policy.window_s
        if count >= self.policy.max_crashes:
            log.error(
                "%s %s: %d crashes within %.0f s, giving up; the stack stops. Its last lines:\n%s",
                name,
                describe_exit(code),
                count,
                window_s,
                self.stack.log_tail(name),
            )
            log_file = self.stack.log_dir / f"{name}.log"
            raise StackError(
                f"{name} crashed {count} times within {window_s:.0f} s; see {log_file}"
            )
        backoff = self.policy.backoff_s(count)
        log.warning(
            "%s %s (crash %d of %d within %.0f s); starting it again in %g s",
            name,
            describe_exit(code),
            count,
            self.policy.max_crashes,
            window_s,
            backoff,
        )
        return backoff
