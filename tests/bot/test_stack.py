"""The stack's supervisor on cheap real child processes (tiny HTTP servers and a process that
dies at once), with an injected clock for the backoff; and how the stack hands its tokens to
Rasa, the action server and the service (no Rasa model needed)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings
from bot.stack import (
    RASA_SERVER_MODULE,
    ROOT,
    RestartPolicy,
    Stack,
    StackConfig,
    StackError,
    StackPorts,
    StackProcess,
    Supervisor,
    free_port,
    stack_config,
)

# Counts its starts in a file, then answers 200 to every GET until it is killed. Given a third
# argument, it dies that many seconds after its first health check (the stack's start waits for
# it), or after a start again.
WEB_CHILD = """
import os, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer

def die_soon():
    print("boom: out of memory", flush=True)
    threading.Timer(float(sys.argv[3]), os._exit, [3]).start()

class Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        if first_start and len(sys.argv) > 3:
            die_soon()

    def log_message(self, *args):
        pass

with open(sys.argv[1], "a") as starts:
    starts.write("started\\n")
with open(sys.argv[1]) as starts:
    first_start = starts.read().count("started") == 1
if not first_start and len(sys.argv) > 3:
    die_soon()
HTTPServer(("127.0.0.1", int(sys.argv[2])), Ok).serve_forever()
"""
CRASHING_CHILD = "import sys; print('boom: no database', flush=True); sys.exit(3)"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def web(name: str, tmp_path: Path, dies_after_s: float | None = None) -> StackProcess:
    port = free_port()
    starts = tmp_path / f"{name}.starts"
    dies = [] if dies_after_s is None else [str(dies_after_s)]
    return StackProcess(
        name,
        [sys.executable, "-c", WEB_CHILD, str(starts), str(port), *dies],
        dict(os.environ),
        f"http://127.0.0.1:{port}/",
        lambda r: r.status_code == 200,
    )


def crashing(name: str) -> StackProcess:
    return StackProcess(
        name, [sys.executable, "-c", CRASHING_CHILD], dict(os.environ), "", lambda r: True
    )


def starts(tmp_path: Path, name: str) -> int:
    return (tmp_path / f"{name}.starts").read_text().count("started")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: only its parent has not read its exit code yet.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(") ")[1][0] != "Z"


def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def has_exited(stack: Stack, name: str) -> Callable[[], bool]:
    return lambda: name in dict(stack.exited())


@pytest.fixture
def two_web(tmp_path: Path) -> Iterator[Stack]:
    processes = [web("service", tmp_path), web("rasa", tmp_path)]
    with Stack(StackConfig(var_dir=tmp_path), processes) as stack:
        yield stack


def seconds_until_started_again(
    stack: Stack, supervisor: Supervisor, clock: Clock, name: str, step_s: float = 0.25
) -> float:
    """The process has just exited; the clock's time until the supervisor starts it again."""
    crashed_pid, crashed_at = stack.pid(name), clock.now
    until(has_exited(stack, name))
    while stack.pid(name) == crashed_pid:
        assert clock.now - crashed_at < 120, "never started again"
        supervisor.check()
        if stack.pid(name) == crashed_pid:
            clock.now += step_s
    return clock.now - crashed_at


def test_a_killed_process_alone_starts_again_after_a_second(two_web: Stack, tmp_path: Path) -> None:
    clock = Clock()
    supervisor = Supervisor(two_web, RestartPolicy(), clock)
    rasa_pid = two_web.pid("rasa")

    os.kill(two_web.pid("service"), signal.SIGKILL)

    assert seconds_until_started_again(two_web, supervisor, clock, "service") == 1.0
    two_web.wait_until_healthy(10)  # it answers again
    assert starts(tmp_path, "service") == 2
    assert two_web.pid("rasa") == rasa_pid and starts(tmp_path, "rasa") == 1


def test_the_wait_doubles_with_every_crash_and_the_fifth_stops_the_stack(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    stack = Stack(StackConfig(var_dir=tmp_path), [crashing("actions")])
    stack.start()
    try:
        supervisor = Supervisor(stack, RestartPolicy(max_crashes=5, window_s=300), clock)
        waits = [seconds_until_started_again(stack, supervisor, clock, "actions") for _ in "1234"]
        assert waits == [1.0, 2.0, 4.0, 8.0]

        until(has_exited(stack, "actions"))
        given_up = pytest.raises(StackError, match="actions crashed 5 times within 300 s")
        with caplog.at_level(logging.ERROR, "bot.stack"), given_up:
            supervisor.check()
    finally:
        stack.stop()
    [given_up] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "actions exited with 3" in given_up.getMessage()
    assert "boom: no database" in given_up.getMessage()  # its last log lines


def test_the_wait_is_capped() -> None:
    policy = RestartPolicy(first_backoff_s=1, max_backoff_s=30)
    assert [policy.backoff_s(n) for n in (1, 2, 3, 5, 6, 20)] == [1, 2, 4, 16, 30, 30]


def test_crashes_outside_the_window_are_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    stack = Stack(StackConfig(var_dir=tmp_path), [crashing("rasa")])
    stack.start()
    try:
        supervisor = Supervisor(stack, RestartPolicy(max_crashes=3, window_s=60), clock)
        for _ in range(6):  # one crash a minute and more: never given up, never a longer wait
            assert seconds_until_started_again(stack, supervisor, clock, "rasa") == 1.0
            clock.now += 61
    finally:
        stack.stop()


def test_given_up_the_stack_stops_every_process(tmp_path: Path) -> None:
    processes = [web("service", tmp_path), web("rasa", tmp_path, dies_after_s=0.1)]
    stack = Stack(StackConfig(var_dir=tmp_path), processes)
    # As `kefu stack up` runs it.
    with pytest.raises(StackError, match="rasa crashed 3 times"), stack:
        service_pid = stack.pid("service")
        Supervisor(stack, RestartPolicy(first_backoff_s=0.01, max_crashes=3)).run(0.01)
    assert not alive(service_pid)
    assert starts(tmp_path, "rasa") == 3 and starts(tmp_path, "service") == 1


def test_stop_starts_nothing_again(two_web: Stack, tmp_path: Path) -> None:
    pids = [two_web.pid("service"), two_web.pid("rasa")]
    supervisor = Supervisor(two_web, RestartPolicy(first_backoff_s=0))
    watching = threading.Thread(target=supervisor.run, args=(0.01,))
    watching.start()

    two_web.stop()
    watching.join(timeout=15)

    assert not watching.is_alive()
    time.sleep(0.3)  # a start the supervisor made after stop would have counted itself by now
    assert (starts(tmp_path, "service"), starts(tmp_path, "rasa")) == (1, 1)
    assert not any(alive(pid) for pid in pids)


def test_a_deliberate_restart_is_not_a_crash(two_web: Stack, tmp_path: Path) -> None:
    clock = Clock()
    supervisor = Supervisor(two_web, RestartPolicy(), clock)
    restarting = threading.Thread(target=two_web.restart, args=("service",), kwargs={"down_s": 1})
    restarting.start()
    while restarting.is_alive():  # the supervisor keeps looking while the service is down
        supervisor.check()
        clock.now += 1
        time.sleep(0.02)
    restarting.join()

    assert starts(tmp_path, "service") == 2  # the restart's start, none of the supervisor
    assert two_web.exited() == []


# -- the state folder ----------------------------------------------------------------------


def test_a_second_stack_on_the_same_var_dir_is_refused(tmp_path: Path) -> None:
    first = Stack(StackConfig(var_dir=tmp_path), [web("service", tmp_path)])
    second = Stack(StackConfig(var_dir=tmp_path), [web("rasa", tmp_path)])
    with first:
        with pytest.raises(StackError, match="in use by another kefu stack") as refused, second:
            pass
        assert f"(process {os.getpid()})" in str(refused.value)
        assert "--var-dir or KEFU_VAR_DIR" in str(refused.value)
        assert not (tmp_path / "rasa.starts").exists()  # nothing of it was started
        assert first.running and first.exited() == []
    with second:  # the folder is free once the first has stopped
        assert starts(tmp_path, "rasa") == 1


def test_stacks_in_folders_of_their_own_run_side_by_side(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        Stack(StackConfig(var_dir=tmp_path / "a"), [web("service", tmp_path / "a")]),
        Stack(StackConfig(var_dir=tmp_path / "b"), [web("service", tmp_path / "b")]),
    ):
        assert starts(tmp_path / "a", "service") == starts(tmp_path / "b", "service") == 1


def test_kefu_stack_up_keeps_its_state_in_the_projects_var_wherever_it_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("KEFU_VAR_DIR", "DATABASE_URL", "KEFU_INDEX_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    config = stack_config(Settings(), StackPorts())
    var = ROOT / "var"
    assert (config.var_dir, config.model) == (var, ROOT / "models" / "kefu.tar.gz")
    assert config.database_url == f"sqlite:///{var / 'kefu.db'}"
    assert config.service_env["KEFU_INDEX_DIR"] == str(var / "index")
    # KEFU_VAR_DIR (or --var-dir) gives a stack a folder of its own.
    monkeypatch.setenv("KEFU_VAR_DIR", str(tmp_path / "second"))
    config = stack_config(Settings(), StackPorts())
    assert config.var_dir == tmp_path / "second"
    assert config.database_url == f"sqlite:///{tmp_path / 'second' / 'kefu.db'}"


def test_rasas_tracker_and_the_logs_are_in_the_stacks_var_dir(kefu_stack: Stack) -> None:
    var_dir = kefu_stack.config.var_dir
    path, _ = kefu_stack._write_endpoints()
    endpoints = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert endpoints["tracker_store"]["db"] == str(var_dir / "rasa_tracker.db")
    assert kefu_stack.log_dir == var_dir / "logs"
    service = {p.name: p for p in kefu_stack.kefu_processes()}["service"]
    assert service.env["KEFU_VAR_DIR"] == str(var_dir)


# -- the tokens ----------------------------------------------------------------------------


@pytest.fixture
def kefu_stack(tmp_path: Path) -> Stack:
    model = tmp_path / "kefu.tar.gz"
    model.write_bytes(b"not opened")
    stack = Stack(StackConfig(var_dir=tmp_path, model=model))
    stack.log_dir.mkdir(parents=True)
    return stack


def test_no_token_is_in_any_process_arguments(kefu_stack: Stack) -> None:
    processes = {p.name: p for p in kefu_stack.kefu_processes()}
    tokens = (kefu_stack.rasa_token, kefu_stack.service_token)
    for process in processes.values():
        assert not any(token in arg for token in tokens for arg in process.argv)
    rasa, actions, service = processes["rasa"], processes["actions"], processes["service"]
    assert rasa.env["KEFU_RASA_TOKEN"] == kefu_stack.rasa_token
    assert rasa.health_params == {"token": kefu_stack.rasa_token}
    assert rasa.env["KEFU_SERVICE_TOKEN"] == kefu_stack.service_token  # for endpoints.yml
    assert actions.argv[1:3] == ["-m", "actions.server"]
    assert actions.env["KEFU_SERVICE_TOKEN"] == kefu_stack.service_token
    assert "KEFU_RASA_TOKEN" not in actions.env
    assert service.env["KEFU_RASA_TOKEN"] == kefu_stack.rasa_token
    assert service.env["KEFU_SERVICE_TOKEN"] == kefu_stack.service_token


def test_more_rasa_ports_are_more_rasa_processes_the_service_knows_in_order(
    tmp_path: Path,
) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"not opened")
    ports = StackPorts(service=8100, rasa=5105, actions=5155, more_rasa=(5106, 5107))
    stack = Stack(StackConfig(var_dir=tmp_path, model=model, ports=ports))
    stack.config.var_dir.mkdir(exist_ok=True)
    processes = {p.name: p for p in stack.kefu_processes()}
    assert list(processes) == ["rasa", "rasa-2", "rasa-3", "actions", "service"]
    for name, port in (("rasa", 5105), ("rasa-2", 5106), ("rasa-3", 5107)):
        argv = processes[name].argv
        assert argv[argv.index("--port") + 1] == str(port)
        assert processes[name].health_url == f"http://127.0.0.1:{port}/status"
    assert processes["service"].env["KEFU_RASA_URL"] == (
        "http://127.0.0.1:5105,http://127.0.0.1:5106,http://127.0.0.1:5107"
    )


def test_endpoints_yml_names_the_action_servers_token_without_holding_it(
    kefu_stack: Stack,
) -> None:
    [rasa] = [p for p in kefu_stack.kefu_processes() if p.name == "rasa"]
    endpoints = Path(rasa.argv[rasa.argv.index("--endpoints") + 1])
    written = endpoints.read_text(encoding="utf-8")
    assert kefu_stack.service_token not in written
    action_endpoint = yaml.safe_load(written)["action_endpoint"]
    assert action_endpoint["url"] == f"{kefu_stack.config.actions_url}/webhook"
    # Unquoted: Rasa expands ${…} in plain scalars only.
    assert "Authorization: Bearer ${KEFU_SERVICE_TOKEN}\n" in written


RASA_PYTHON = Path(__file__).resolve().parents[2] / ".venv-rasa" / "bin" / "python"
READ_AS_RASA = (
    "import sys; from rasa.utils.endpoints import read_endpoint_config; "
    "print(read_endpoint_config(sys.argv[1], 'action_endpoint').headers['Authorization'])"
)


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa environment (.venv-rasa)")
def test_rasa_reads_the_action_servers_token_from_its_environment(kefu_stack: Stack) -> None:
    [rasa] = [p for p in kefu_stack.kefu_processes() if p.name == "rasa"]
    endpoints = rasa.argv[rasa.argv.index("--endpoints") + 1]
    read = subprocess.run(
        [str(RASA_PYTHON), "-c", READ_AS_RASA, endpoints],
        env=rasa.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert read.stdout.splitlines()[-1] == f"Bearer {kefu_stack.service_token}"


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa environment (.venv-rasa)")
def test_rasa_gets_its_auth_token_from_the_environment(tmp_path: Path) -> None:
    # A stand-in for Rasa's entry point that parses its arguments as the real one does, and
    # the modules addons/rasa_server.py adjusts.
    fake = tmp_path / "rasa"
    (fake / "core" / "actions").mkdir(parents=True)
    (fake / "utils").mkdir()
    for package in (fake, fake / "core", fake / "core" / "actions", fake / "utils"):
        (package / "__init__.py").write_text("")
    (fake / "core" / "actions" / "action.py").write_text(
        "class RemoteAction:\n"
        "    @staticmethod\n"
        "    def action_response_format_spec():\n"
        "        return {'type': 'object'}\n"
        "    def _validate_action_result(self, result):\n"
        "        return True\n"
    )
    (fake / "utils" / "endpoints.py").write_text(
        "class EndpointConfig:\n    def session(self):\n        return None\n"
    )
    (fake / "core" / "tracker_store.py").write_text(
        "def create_engine_kwargs(url):\n    return {}\n"
    )
    (fake / "__main__.py").write_text(
        "import argparse, json, os, sys\n"
        "def main():\n"
        "    parser = argparse.ArgumentParser()\n"
        "    parser.add_argument('command')\n"
        "    parser.add_argument('--enable-api', action='store_true')\n"
        "    parser.add_argument('-t', '--auth-token', type=str)\n"
        "    args = parser.parse_args(sys.argv[1:])\n"
        "    print(json.dumps([sys.argv[0], args.auth_token, os.environ.get('KEFU_RASA_TOKEN')]))\n"
        "    return 0\n"
    )
    token = "-t0ken"  # URL-safe base64 begins with "-" one time in 64: not an option
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}:{ROOT}", KEFU_RASA_TOKEN=token)
    argv = [str(RASA_PYTHON), "-m", RASA_SERVER_MODULE, "run", "--enable-api"]
    finished = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    program, given, left_in_environment = json.loads(finished.stdout)
    assert (program, given) == ("rasa", token)
    assert left_in_environment is None
