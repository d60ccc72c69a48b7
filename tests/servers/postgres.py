"""A real PostgreSQL server for tests: Debian's package, a fresh cluster in a temporary folder.

The cluster belongs to an unprivileged user (the ``postgres`` system user Debian creates, when
the tests run as root; the current user otherwise: PostgreSQL refuses to run as root). It
listens on a free loopback port with its unix socket in the same folder, trades durability for
speed (``fsync=off``: a test cluster is thrown away), and has one login role with a password.
Databases come from a migrated template (``CREATE DATABASE … TEMPLATE``, tens of milliseconds)
so every test can have its own. ``stop()`` and ``start()`` let fault tests take it away and
bring it back; ``close()`` removes everything.

The ``postgres_server`` fixture is session-scoped: one cluster per test run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.stack import free_port

ADMIN = "postgres"
ROLE = "kefu"
# Settings for a throw-away cluster: no disk syncs, few resources, quick to start and stop.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "32MB",
    "max_connections": "200",
    "checkpoint_timeout": "30min",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be installed or started here; the message says why."""


def postgres_binaries() -> Path:
    """The bin folder of the newest installed PostgreSQL; installs Debian's ``postgresql``
    package when none is (as root only)."""
    found = _installed_binaries()
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and installing it "
            "needs root: run `apt-get install -y postgresql` first"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "postgresql"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    found = _installed_binaries()
    if found is None:
        raise PostgresUnavailable("apt-get installed postgresql but no initdb was found")
    return found


def _installed_binaries() -> Path | None:
    folders = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if not folders:
        return None
    return max(folders, key=lambda folder: int(folder.parent.name))


class PostgresServer:
    """One throw-away PostgreSQL cluster on loopback; see the module's docstring."""

    def __init__(self) -> None:
        self.binaries = postgres_binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="kefu-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.port = free_port()
        self.admin_password = secrets.token_hex(12)
        self.password = secrets.token_hex(12)
        # PostgreSQL refuses to run as root: the cluster belongs to Debian's postgres user then.
        self.owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self.owner is not None:
            os.chown(self.folder, self.owner.pw_uid, self.owner.pw_gid)
        self._initdb()
        self.start()
        self.admin_execute(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{self.password}'")

    # -- the cluster's life --------------------------------------------------------------

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self.owner is not None else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, check=False, cwd=self.folder
        )
        if check and done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}\n{log}"
            )
        return done

    def _initdb(self) -> None:
        password_file = self.folder / "admin-password"
        password_file.write_text(self.admin_password)
        if self.owner is not None:
            os.chown(password_file, self.owner.pw_uid, self.owner.pw_gid)
        self._run(
            str(self.binaries / "initdb"),
            "--pgdata", str(self.data),
            "--username", ADMIN,
            "--pwfile", str(password_file),
            "--auth-local", "trust",
            "--auth-host", "scram-sha-256",
            "--encoding", "UTF8",
            "--locale", "C.UTF-8",
            "--no-sync",
        )  # fmt: skip
        password_file.unlink()
        settings = {
            **FAST_SETTINGS,
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.folder}'",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# kefu test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        """Start (or start again after ``stop``) and wait until it accepts connections."""
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop: ``fast`` disconnects clients cleanly, ``immediate`` is like a crash."""
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", mode,
                  "-w", "-t", "60", "stop")  # fmt: skip

    def is_running(self) -> bool:
        done = self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "status",
                         check=False)  # fmt: skip
        return done.returncode == 0

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the cluster stopped in its tracks (SIGSTOP) for the block, as behind
        a network partition: connections stay open, new ones are accepted by the kernel, and
        nothing answers. SIGCONT at the end."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        processes = [postmaster, *children_of(postmaster)]
        for pid in processes:  # the postmaster first: it forks no new backend meanwhile
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in processes:
                os.kill(pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop the cluster and remove its folder."""
        if self.data.exists() and self.is_running():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- roles, databases and URLs -------------------------------------------------------

    def url(self, database: str = "postgres", *, admin: bool = False) -> str:
        """The SQLAlchemy URL (psycopg 3 driver) of a database, as the kefu role or the admin."""
        user, password = (ADMIN, self.admin_password) if admin else (ROLE, self.password)
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def admin_execute(self, *statements: str) -> None:
        """Run statements as the superuser, outside a transaction (CREATE DATABASE needs it)."""
        import psycopg  # only the PostgreSQL runs need the driver

        conninfo = (
            f"host=127.0.0.1 port={self.port} dbname=postgres user={ADMIN} "
            f"password={self.admin_password}"
        )
        with psycopg.connect(conninfo, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database owned by the kefu role (a copy of ``template`` if given); its URL."""
        clause = f" TEMPLATE {template}" if template else ""
        self.admin_execute(f"CREATE DATABASE {name} OWNER {ROLE}{clause}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections are still open to it."""
        self.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def wait_until_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self._run(str(self.binaries / "pg_isready"), "-h", "127.0.0.1",
                             "-p", str(self.port), check=False)  # fmt: skip
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise PostgresUnavailable(f"PostgreSQL on port {self.port} did not come up")


def children_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole test run, removed at the end."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()
