"""The stack at scale without a Rasa model: processes sharing a port through the stack's
socket (cheap real children), the processes and endpoints.yml of the layout, and the engines
checked before anything starts (real PostgreSQL and Redis from tests/servers/)."""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from bot.engines import (
    EngineUnavailableError,
    check_redis,
    ensure_rasa_database,
    rasa_lock_store,
    rasa_tracker_url,
    redis_address,
)
from bot.shared.redis import masked_redis_url
from bot.stack import Stack, StackConfig, StackError, StackPorts, StackProcess, free_port
from db.engine import DatabaseUnavailable
from tests.servers.postgres import PostgresServer

# Serves the listening socket it inherits (--fd N, added by the stack), answering each GET
# with its process id.
SHARED_CHILD = """
import os, socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Pid(BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Pid, bind_and_activate=False)
server.socket = socket.socket(fileno=int(sys.argv[sys.argv.index("--fd") + 1]))
server.serve_forever()
"""


def sharing(name: str, port: int) -> StackProcess:
    return StackProcess(
        name,
        [sys.executable, "-c", SHARED_CHILD],
        dict(os.environ),
        f"http://127.0.0.1:{port}/",
        lambda r: r.status_code == 200,
        shared_port=port,
    )


@pytest.fixture
def two_sharing(tmp_path: Path) -> Iterator[tuple[Stack, int]]:
    port = free_port()
    processes = [sharing("service", port), sharing("service-2", port)]
    with Stack(StackConfig(var_dir=tmp_path), processes) as stack:
        yield stack, port


def answering_pids(port: int, requests: int = 60) -> list[int]:
    return [int(httpx.get(f"http://127.0.0.1:{port}/").text) for _ in range(requests)]


def test_workers_sharing_a_port_both_answer_on_it(two_sharing: tuple[Stack, int]) -> None:
    stack, port = two_sharing
    pids = set(answering_pids(port))
    assert pids <= {stack.pid("service"), stack.pid("service-2")}
    # The kernel hands connections to whichever worker waits in accept(): over 60, both.
    assert len(pids) == 2


def test_a_killed_worker_leaves_its_port_served_by_the_other(
    two_sharing: tuple[Stack, int],
) -> None:
    stack, port = two_sharing
    os.kill(stack.pid("service"), signal.SIGKILL)
    stack._process("service").popen.wait()  # type: ignore[union-attr]
    assert set(answering_pids(port, 30)) == {stack.pid("service-2")}
    # Started again, it serves the same socket: nothing was bound anew.
    assert stack.respawn("service")
    stack.wait_until_healthy(10)


def test_the_port_is_free_once_the_stack_stops(tmp_path: Path) -> None:
    port = free_port()
    with Stack(StackConfig(var_dir=tmp_path), [sharing("service", port)]):
        pass
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/")


# -- the layout ------------------------------------------------------------------------------


PASSWORD = "s3cret-pass"


@pytest.fixture
def scale_stack(tmp_path: Path) -> Stack:
    model = tmp_path / "kefu.tar.gz"
    model.write_bytes(b"not opened")
    ports = StackPorts(
        service=8100, rasa=5105, actions=5155, more_rasa=(5106,), service_workers=(8101, 8102)
    )
    return Stack(
        StackConfig(
            var_dir=tmp_path,
            model=model,
            ports=ports,
            database_url=f"postgresql://kefu:{PASSWORD}@db.internal:5432/kefu",
            redis_url=f"redis://:{PASSWORD}@cache.internal:6380/2",
            actions_workers=2,
        )
    )


def test_the_scale_layout_is_workers_rasa_processes_and_action_servers(
    scale_stack: Stack,
) -> None:
    processes = {p.name: p for p in scale_stack.kefu_processes()}
    assert list(processes) == ["rasa", "rasa-2", "actions", "actions-2", "service", "service-2"]
    for name, own in (("service", "8101"), ("service-2", "8102")):
        service = processes[name]
        assert service.argv[service.argv.index("--port") + 1] == own
        assert service.shared_port == 8100
        assert service.health_url == f"http://127.0.0.1:{own}/api/v1/health"
        assert service.env["REDIS_URL"] == scale_stack.config.redis_url
        assert service.env["KEFU_ACTION_SERVER_URL"] == "http://127.0.0.1:5155"
    assert processes["actions"].shared_port == processes["actions-2"].shared_port == 5155
    assert scale_stack.config.worker_urls == ["http://127.0.0.1:8101", "http://127.0.0.1:8102"]


def test_rasa_locks_on_redis_and_tracks_on_its_own_postgresql_database_no_password_on_disk(
    scale_stack: Stack,
) -> None:
    [rasa, rasa_2] = [p for p in scale_stack.kefu_processes() if p.name.startswith("rasa")]
    path = Path(rasa.argv[rasa.argv.index("--endpoints") + 1])
    written = path.read_text(encoding="utf-8")
    endpoints = yaml.safe_load(written)
    assert endpoints["lock_store"] == {
        "type": "redis",
        "url": "cache.internal",
        "port": 6380,
        "db": 2,
        "key_prefix": "kefurasa",
        "use_ssl": False,
        "password": "${KEFU_RASA_REDIS_PASSWORD}",
    }
    assert endpoints["tracker_store"] == {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "${KEFU_RASA_TRACKER_URL}",
    }
    assert PASSWORD not in written
    assert not any(PASSWORD in arg for p in (rasa, rasa_2) for arg in p.argv)
    # Rasa reads them from its environment (it expands ${…} in endpoints.yml).
    assert rasa.env["KEFU_RASA_REDIS_PASSWORD"] == PASSWORD
    assert rasa.env["KEFU_RASA_TRACKER_URL"] == (
        f"postgresql://kefu:{PASSWORD}@db.internal:5432/kefu_rasa"
    )


def test_the_embedded_layout_keeps_its_sqlite_tracker_and_in_memory_lock(tmp_path: Path) -> None:
    model = tmp_path / "kefu.tar.gz"
    model.write_bytes(b"not opened")
    stack = Stack(StackConfig(var_dir=tmp_path, model=model))
    path, env = stack._write_endpoints()
    endpoints = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert endpoints["lock_store"] == {"type": "in_memory"}
    assert endpoints["tracker_store"]["dialect"] == "sqlite"
    assert env == {}
    names = [p.name for p in stack.kefu_processes()]
    assert names == ["rasa", "actions", "service"]
    assert all(p.shared_port is None for p in stack.kefu_processes())


# -- the engines -----------------------------------------------------------------------------


def test_redis_addresses_are_shown_with_the_password_masked() -> None:
    assert masked_redis_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert masked_redis_url("redis://user:pw@h/1") == "redis://user:***@h/1"
    assert masked_redis_url("rediss://user:pw@h") == "rediss://user:***@h"
    assert masked_redis_url("redis://h:6379/0") == "redis://h:6379/0"


def test_a_redis_address_in_parts_as_rasas_lock_store_takes_it() -> None:
    address = redis_address("rediss://u:p%40ss@cache:6390/3")
    assert (address.host, address.port, address.db, address.ssl) == ("cache", 6390, 3, True)
    assert (address.username, address.password) == ("u", "p@ss")
    assert redis_address("redis://cache").port == 6379
    store, env = rasa_lock_store("redis://cache/0")
    assert "password" not in store and env == {"TICKET_LOCK_LIFETIME": "5"}
    with pytest.raises(ValueError, match="redis://"):
        redis_address("http://cache:6379")


def test_rasas_tracker_database_is_the_services_with_a_suffix() -> None:
    url = rasa_tracker_url("postgresql+psycopg://kefu:pw@db:5432/shop")
    assert (url.drivername, url.database, url.host, url.password) == (
        "postgresql",
        "shop_rasa",
        "db",
        "pw",
    )


def test_an_unreachable_redis_is_named_with_its_password_masked() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    with pytest.raises(EngineUnavailableError) as error:
        check_redis(url)
    assert str(error.value).startswith(f"Redis at {masked_redis_url(url)} is unavailable: ")
    assert PASSWORD not in str(error.value)


def test_a_stack_whose_engines_are_down_starts_nothing_and_names_them(tmp_path: Path) -> None:
    model = tmp_path / "kefu.tar.gz"
    model.write_bytes(b"not opened")
    redis = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    database = f"postgresql://kefu:{PASSWORD}@127.0.0.1:{free_port()}/kefu"
    for database_url, redis_url, named in (
        (None, redis, "Redis at redis://:***@127.0.0.1"),
        (database, None, "postgresql+psycopg://kefu:***@127.0.0.1"),
    ):
        config = StackConfig(
            var_dir=tmp_path, model=model, database_url=database_url, redis_url=redis_url
        )
        stack = Stack(config)
        with pytest.raises(StackError, match=re.escape(named)) as error:
            stack.__enter__()
        assert PASSWORD not in str(error.value)
        assert not (tmp_path / "logs" / "rasa.log").exists()  # nothing started


def test_kefu_stack_up_names_an_unreachable_redis_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kefu.tar.gz").write_bytes(b"not opened")
    monkeypatch.setenv("REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0")
    model = str(tmp_path / "kefu.tar.gz")
    port = str(free_port())
    arguments = ["--workers", "2", "--var-dir", str(tmp_path), "--model", model, "--port", port]
    result = CliRunner().invoke(app, ["stack", "up", *arguments])
    assert result.exit_code == 1
    assert "Redis at redis://:***@127.0.0.1" in result.output
    assert PASSWORD not in result.output


def test_kefu_stack_up_refuses_several_workers_without_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["stack", "up", "--workers", "2", "--var-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--workers 2 needs REDIS_URL" in result.output
    assert not (tmp_path / "logs").exists()


def test_rasas_tracker_database_is_created_once_next_to_the_services(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database("kefu_engines")
    try:
        ensure_rasa_database(url)
        ensure_rasa_database(url)  # there already: nothing to do
        with psycopg.connect(
            rasa_tracker_url(url).render_as_string(hide_password=False)
        ) as connection:
            assert connection.execute("SELECT current_database()").fetchone() == (
                "kefu_engines_rasa",
            )
    finally:
        postgres_server.drop_database("kefu_engines_rasa")
        postgres_server.drop_database("kefu_engines")


def test_an_unreachable_database_is_named_with_its_password_masked() -> None:
    from bot.engines import check_database

    url = f"postgresql://kefu:{PASSWORD}@127.0.0.1:{free_port()}/kefu"
    with pytest.raises(DatabaseUnavailable) as error:
        check_database(url)
    assert "kefu:***@127.0.0.1" in str(error.value) and PASSWORD not in str(error.value)
