"""Scale benchmark: what a second service worker and a second Rasa process buy on this
machine, and how fast the widget is answered again after a service worker is killed.

Run on a quiet machine (``make bench``); it starts PostgreSQL and Redis with the test
harnesses (tests/servers/: Debian's packages, free loopback ports, temporary folders) unless
``--database-url`` (a server where this login may create databases) and ``--redis-url`` name
running ones, then one stack after another, each over a fresh copy of the demo knowledge base:

- **answers per second**, closed loop as bench/chat.py measures it (``widget_answers``: N
  conversations at once, each asking again as soon as answered, through the public port), for
  1 or 2 service workers × 1 or 2 Rasa processes, all on PostgreSQL and Redis so that only the
  number of processes changes;
- **failover**: a widget connected through the public port to a worker (found from
  ``/proc``), that worker gets ``kill -9``, the widget asks at once (its outbox is sent again
  when it has reconnected, 0.5 s later, as widget.js does); the time from the kill to the
  answer, p50 and max over ``--kills`` kills (target: p50 ≤ 3 s).

    python -m bench.scale [--conversations 20] [--turns 3] [--kills 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.chat import QUESTIONS, rasa_direct, widget_answers
from bench.faults import WidgetCustomer, supervised
from bot.stack import RestartPolicy, Stack, demo_stack_config, numbered

LAYOUTS = ((1, 1), (2, 1), (1, 2), (2, 2))  # (service workers, Rasa processes)
FAILOVER_TARGET_S = 3.0
ANSWER_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Engines:
    database_server: Any  # tests.servers.postgres.PostgresServer, or None for --database-url
    database_url: str | None
    redis_url: str

    def fresh_database(self, name: str) -> str:
        if self.database_server is not None:
            url: str = self.database_server.create_database(name)
            return url
        assert self.database_url is not None
        import psycopg

        from db.engine import driver_url, masked_url

        admin = driver_url(self.database_url).replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = self.database_url.rpartition("/")
        print(f"created {name} on {masked_url(base)}")
        return f"{base}/{name}"


@contextlib.contextmanager
def engines(database_url: str | None, redis_url: str | None) -> Iterator[Engines]:
    """The given engines, or the test harnesses' PostgreSQL and Redis for the run."""
    # The harnesses live with the tests (imported by name: the type checker covers the
    # packages, not the tests).
    with contextlib.ExitStack() as started:
        server = None
        if database_url is None:
            server = importlib.import_module("tests.servers.postgres").PostgresServer()
            started.callback(server.close)
        if redis_url is None:
            harness = importlib.import_module("tests.servers.redis")
            redis_url = started.enter_context(harness.RedisServer()).url
        assert redis_url is not None
        yield Engines(server, database_url, redis_url)


@contextlib.contextmanager
def scale_stack(engines: Engines, workers: int, rasa: int) -> Iterator[Stack]:
    name = f"kefu_bench_{workers}w{rasa}r_{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="kefu-bench-scale-") as folder:
        config = demo_stack_config(
            Path(folder),
            rasa_workers=rasa,
            workers=workers,
            database_url=engines.fresh_database(name),
            redis_url=engines.redis_url,
        )
        with Stack(config) as stack:
            yield stack


async def throughput(stack: Stack, conversations: int, turns: int) -> dict[str, Any]:
    url = stack.config.service_url
    # Warm-up of every process (lazily built parts, pools): each Rasa directly, each worker
    # through its own port, each action server through the conversations spread over them.
    for rasa_url in stack.config.rasa_urls:
        await rasa_direct(rasa_url, QUESTIONS, 4, "warm-up", answers_from_kb=True)
    for worker_url in stack.config.worker_urls:
        await widget_answers(worker_url, 4, 2)
    measured = await widget_answers(url, conversations, turns)
    return {
        "answers_per_s": round(measured.per_second, 2),
        "p50_ms": round(statistics.median(measured.seconds) * 1000),
        "p99_ms": round(measured.percentile(0.99) * 1000),
        "answers": len(measured.seconds),
    }


def serving_worker(stack: Stack, client_port: int) -> str:
    """The service worker holding the server side of the client's connection to the public
    port, found from /proc: the socket's inode, then the process with it open."""
    public = stack.config.ports.service
    wanted = f"0100007F:{public:04X}", f"0100007F:{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            inode = fields[9]
    if inode is None:
        raise RuntimeError(f"no server socket for the client port {client_port}")
    for name in numbered("service", stack.config.workers):
        pid = stack.pid(name)
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return name
    raise RuntimeError(f"no worker holds the socket {inode}")


async def one_failover(stack: Stack) -> float:
    """Seconds from kill -9 of the widget's worker to the answer to its next question."""
    answered = asyncio.Event()
    asked: dict[str, int] = {}  # client_message_id → stored id, once echoed

    def see(frame: dict[str, Any]) -> None:
        message = frame.get("message") or {}
        if message.get("sender") == "customer" and message.get("client_message_id"):
            asked[message["client_message_id"]] = message["id"]
        if message.get("sender") in ("bot", "system") and message.get("reply_to") in set(
            asked.values()
        ):
            answered.set()

    async with httpx.AsyncClient(timeout=30) as client:
        widget = await WidgetCustomer.open(client, stack.config.service_url)
    widget.on_frame = see
    done = asyncio.Event()
    connection = asyncio.create_task(widget.stay_connected(done))
    try:
        while widget._ws is None:
            await asyncio.sleep(0.05)
        victim = serving_worker(stack, widget._ws.local_address[1])
        killed_at = time.perf_counter()
        os.kill(stack.pid(victim), signal.SIGKILL)
        await widget.say(QUESTIONS[0])
        await asyncio.wait_for(answered.wait(), ANSWER_TIMEOUT_S)
        return time.perf_counter() - killed_at
    finally:
        done.set()
        await connection


async def failovers(stack: Stack, kills: int) -> list[float]:
    seconds = []
    for _ in range(kills):
        seconds.append(await one_failover(stack))
        await asyncio.to_thread(stack.wait_until_healthy)  # the killed one is back
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--turns", type=int, default=3, help="questions per conversation")
    parser.add_argument("--kills", type=int, default=10, help="kills of a service worker")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: the harness's)")
    parser.add_argument("--redis-url", help="a Redis (default: the harness's)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    report: dict[str, Any] = {"cores": os.cpu_count(), "throughput": [], "failover": None}
    with engines(args.database_url, args.redis_url) as found:
        for workers, rasa in LAYOUTS:
            with scale_stack(found, workers, rasa) as stack:
                measured = asyncio.run(throughput(stack, args.conversations, args.turns))
                report["throughput"].append({"workers": workers, "rasa": rasa, **measured})
                if (workers, rasa) == (2, 2) and args.kills:
                    # Each kill is a crash of its own (as in bench.faults): the backoff for
                    # repeated crashes does not grow from kill to kill.
                    with supervised(stack, RestartPolicy(window_s=5.0)):
                        seconds = asyncio.run(failovers(stack, args.kills))
                    report["failover"] = {
                        "kills": len(seconds),
                        "p50_s": round(statistics.median(seconds), 2),
                        "max_s": round(max(seconds), 2),
                        "target_s": FAILOVER_TARGET_S,
                    }
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"\nAnswers per second, closed loop ({args.conversations} conversations × "
        f"{args.turns} questions; {report['cores']} cores, PostgreSQL and Redis local)"
    )
    print("| service workers | Rasa processes | answers/s | p50 ms | p99 ms |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for row in report["throughput"]:
        print(
            f"| {row['workers']} | {row['rasa']} | {row['answers_per_s']} | {row['p50_ms']} "
            f"| {row['p99_ms']} |"
        )
    if report["failover"]:
        f = report["failover"]
        print(
            f"\nkill -9 of the widget's service worker → its next answer: p50 {f['p50_s']} s, "
            f"max {f['max_s']} s over {f['kills']} kills (target p50 ≤ {f['target_s']} s)"
        )


if __name__ == "__main__":
    main()
