"""Chat benchmark: widget-to-reply latency over the WebSocket on the real stack.

Run with ``make bench`` (after the Rasa model is trained). It starts Rasa, the action server
and the service on free ports over a fresh copy of the demo knowledge base, then measures:

- the baseline, in the same run: Rasa's own reply time for a plain greeting, asked directly
  on its REST channel (no gateway, no knowledge base);
- a knowledge-base answer as the widget sees it: from sending the frame on the WebSocket to
  receiving the bot's answer, with 1, 10 and 50 conversations at once, each asking four
  questions in turn (new conversations follow until a level has 20 answers);
- messages per second sustained at each level (answers received / wall time): the closed loop,
  each customer asking again as soon as answered, which measures saturation;
- the open loop, which is how customers behave: N conversations each sending a message at
  random moments (Poisson arrivals, R messages a second in all) whether or not the last one
  was answered, the reply time as the widget sees it (p50/p90/p99) and the messages never
  answered within 60 s;
- the resident memory of each process of the stack after the run.

``--json`` prints one JSON object (the keys issue 15 names, and a few more) instead of tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bot.stack import Stack, demo_stack_config

QUESTIONS = [
    "How long does a refund take?",
    "我想退货",
    "How do I track my order?",
    "发票怎么开",
    "My card was declined",
    "忘记密码了怎么办",
    "Can I change my delivery address?",
    "优惠券用不了",
]
GREETINGS = ["hello", "你好"]


@dataclass(frozen=True)
class Latencies:
    label: str
    seconds: list[float]
    wall_s: float

    def percentile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def per_second(self) -> float:
        return len(self.seconds) / self.wall_s


async def rasa_direct(
    rasa_url: str, messages: list[str], count: int, label: str, answers_from_kb: bool = False
) -> Latencies:
    """Rasa alone, on its REST channel, one message after the other (no gateway)."""
    times = []
    async with httpx.AsyncClient(base_url=rasa_url, timeout=30) as client:
        started = time.perf_counter()
        for i in range(count):
            sender = f"bench-{uuid.uuid4()}"
            t0 = time.perf_counter()
            response = await client.post(
                "/webhooks/rest/webhook",
                json={"sender": sender, "message": messages[i % len(messages)]},
            )
            response.raise_for_status()
            times.append(time.perf_counter() - t0)
            if answers_from_kb and not any(r.get("custom") for r in response.json()):
                raise RuntimeError(f"no knowledge-base answer: {response.json()}")
        wall = time.perf_counter() - started
    return Latencies(label, times, wall)


async def _open(client: httpx.AsyncClient, ws_base: str) -> ClientConnection:
    opened = (await client.post("/api/v1/conversations", json={})).json()
    ws = await connect(f"{ws_base}/api/v1/conversations/{opened['id']}/ws?token={opened['token']}")
    ready = json.loads(await ws.recv())
    assert ready["type"] == "ready", ready
    return ws


async def _ask(ws: ClientConnection, question: str) -> float:
    """Send one question; seconds until the bot's answer with an article arrives."""
    frame = {"type": "message", "text": question, "client_message_id": str(uuid.uuid4())}
    t0 = time.perf_counter()
    await ws.send(json.dumps(frame))
    while True:
        received = json.loads(await asyncio.wait_for(ws.recv(), timeout=120))
        message = received.get("message") or {}
        if message.get("sender") in ("bot", "system") and message.get("articles"):
            return time.perf_counter() - t0
        if message.get("sender") == "system":
            raise RuntimeError(f"the assistant was not available: {message['text']}")


async def widget_answers(
    service_url: str, conversations: int, per_conversation: int, rounds: int = 1
) -> Latencies:
    """``conversations`` at once, each asking ``per_conversation`` questions in turn; then the
    same again with new conversations, ``rounds`` times."""
    ws_base = service_url.replace("http://", "ws://")
    times: list[float] = []

    async def customer(index: int, ws: ClientConnection) -> None:
        for turn in range(per_conversation):
            times.append(await _ask(ws, QUESTIONS[(index + turn) % len(QUESTIONS)]))

    wall = 0.0
    for _ in range(rounds):
        async with httpx.AsyncClient(base_url=service_url, timeout=30) as client:
            sockets = [await _open(client, ws_base) for _ in range(conversations)]
        started = time.perf_counter()
        await asyncio.gather(*(customer(i, ws) for i, ws in enumerate(sockets)))
        wall += time.perf_counter() - started
        for ws in sockets:
            await ws.close()
    label = f"KB answer over WebSocket, {conversations} at once"
    return Latencies(label, times, wall)


@dataclass
class OpenLoop:
    """Messages sent at random moments, whether or not the last was answered."""

    conversations: int
    rate_per_s: float
    sent: list[float] = field(default_factory=list)  # when each message left, per message id
    seconds: list[float] = field(default_factory=list)  # reply times of the answered
    apologies: int = 0  # answered by the "assistant not available" note

    @property
    def lost(self) -> int:
        return len(self.sent) - len(self.seconds)

    def percentile(self, q: float) -> float | None:
        if not self.seconds:
            return None
        return Latencies("", self.seconds, 1.0).percentile(q)


async def _customer_open_loop(
    ws: ClientConnection, rng: random.Random, rate: float, until: float, run: OpenLoop
) -> None:
    """One customer: a question at each Poisson arrival; each reply matched by ``reply_to``."""
    sent_at: dict[str, float] = {}  # client_message_id → when it left
    asked: dict[int, float] = {}  # stored message id → when it left
    answered: set[int] = set()

    async def read() -> None:
        async for raw in ws:
            message = json.loads(raw).get("message") or {}
            if message.get("sender") == "customer" and message.get("client_message_id") in sent_at:
                asked[message["id"]] = sent_at[message["client_message_id"]]
            reply_to = message.get("reply_to")
            if reply_to in asked and reply_to not in answered:
                answered.add(reply_to)
                run.seconds.append(time.perf_counter() - asked[reply_to])
                run.apologies += message.get("sender") == "system"

    reader = asyncio.create_task(read())
    at = time.perf_counter()
    while (at := at + rng.expovariate(rate)) < until:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        client_message_id = str(uuid.uuid4())
        sent_at[client_message_id] = time.perf_counter()
        run.sent.append(sent_at[client_message_id])
        frame = {
            "type": "message",
            "text": rng.choice(QUESTIONS),
            "client_message_id": client_message_id,
        }
        await ws.send(json.dumps(frame))
    # Whatever is not answered 60 s after the last message left is lost.
    deadline = time.perf_counter() + 60
    while len(answered) < len(sent_at) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    reader.cancel()


async def open_loop(
    service_url: str, conversations: int, rate_per_s: float, duration_s: float, seed: int = 7
) -> OpenLoop:
    ws_base = service_url.replace("http://", "ws://")
    async with httpx.AsyncClient(base_url=service_url, timeout=30) as client:
        sockets = [await _open(client, ws_base) for _ in range(conversations)]
    run = OpenLoop(conversations, rate_per_s)
    until = time.perf_counter() + duration_s
    rng = random.Random(seed)
    await asyncio.gather(
        *(
            _customer_open_loop(
                ws, random.Random(rng.random()), rate_per_s / conversations, until, run
            )
            for ws in sockets
        )
    )
    for ws in sockets:
        await ws.close()
    return run


def resident_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB, from /proc."""
    total_kb = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total_kb += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        pids += [int(child) for child in children]
    return round(total_kb / 1024, 1)


def table(results: list[Latencies], baseline: Latencies) -> str:
    base = statistics.median(baseline.seconds)
    lines = [
        "| measurement | messages | p50 ms | p99 ms | p50 vs baseline | messages/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in [baseline, *results]:
        p50 = statistics.median(r.seconds)
        lines.append(
            f"| {r.label} | {len(r.seconds)} | {p50 * 1000:.0f} | {r.percentile(0.99) * 1000:.0f}"
            f" | {p50 / base:.2f}× | {r.per_second:.1f} |"
        )
    return "\n".join(lines)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


@dataclass
class ChatReport:
    baseline: Latencies
    direct: Latencies
    closed: list[Latencies]
    opened: OpenLoop
    rss_mb: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        one = self.closed[0]
        greeting = statistics.median(self.baseline.seconds)
        return {
            "rasa_greeting_p50_ms": _ms(greeting),
            "kb_answer_rest_p50_ms": _ms(statistics.median(self.direct.seconds)),
            "kb_answer_ws_p50_ms": _ms(statistics.median(one.seconds)),
            "kb_answer_ws_p99_ms": _ms(one.percentile(0.99)),
            "kb_answer_ws_vs_greeting": round(statistics.median(one.seconds) / greeting, 2),
            "closed_loop_answers_per_s": round(max(r.per_second for r in self.closed), 1),
            "closed_loop": [
                {
                    "conversations": int(r.label.rsplit(", ", 1)[1].split()[0]),
                    "p50_ms": _ms(statistics.median(r.seconds)),
                    "p99_ms": _ms(r.percentile(0.99)),
                    "answers_per_s": round(r.per_second, 1),
                }
                for r in self.closed
            ],
            "open_loop": {
                "conversations": self.opened.conversations,
                "rate": self.opened.rate_per_s,
                "messages": len(self.opened.sent),
                "p50": _ms(self.opened.percentile(0.5)),
                "p90": _ms(self.opened.percentile(0.9)),
                "p99": _ms(self.opened.percentile(0.99)),
                "lost": self.opened.lost,
                "apologies": self.opened.apologies,
            },
            "rss_mb": self.rss_mb,
        }

    def tables(self) -> str:
        o = self.as_json()["open_loop"]
        return (
            table([self.direct, *self.closed], self.baseline)
            + "\n\nOpen loop (Poisson arrivals)\n"
            + "| conversations | messages/s | messages | p50 ms | p90 ms | p99 ms | lost |\n"
            + "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
            + f"| {o['conversations']} | {o['rate']:g} | {o['messages']} | {o['p50']} | {o['p90']}"
            + f" | {o['p99']} | {o['lost']} |\n\nResident memory (MiB): "
            + ", ".join(f"{name} {mb:,.0f}" for name, mb in self.rss_mb.items())
        )


async def measure(stack: Stack, args: argparse.Namespace) -> ChatReport:
    # Warm-up: the first messages load lazily built parts (NLU caches, encoder, pools).
    await widget_answers(stack.config.service_url, 2, 2)
    rasa_url = stack.config.rasa_url
    await rasa_direct(rasa_url, GREETINGS, 5, "warm-up")
    greetings = args.greetings
    baseline = await rasa_direct(rasa_url, GREETINGS, greetings, "Rasa alone, greeting (baseline)")
    # The same KB answers without the gateway and WebSocket: what they add is the difference.
    direct = await rasa_direct(
        rasa_url, QUESTIONS, greetings, "Rasa alone, KB answer (REST)", answers_from_kb=True
    )
    # Conversations of --turns questions, as in the widget (a tracker that grows over dozens
    # of turns costs Rasa more each turn); at least 20 answers per level, so one conversation
    # at a time still gives a p99.
    closed = [
        await widget_answers(stack.config.service_url, n, args.turns, -(-20 // (n * args.turns)))
        for n in args.levels
    ]
    opened = await open_loop(
        stack.config.service_url, args.open_conversations, args.open_rate, args.open_seconds
    )
    rss = {name: resident_mb(stack.pid(name)) for name in ("service", "actions", "rasa")}
    return ChatReport(baseline, direct, closed, opened, rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--turns", type=int, default=4, help="questions per conversation")
    parser.add_argument("--greetings", type=int, default=40)
    parser.add_argument("--open-conversations", type=int, default=50)
    parser.add_argument("--open-rate", type=float, default=10.0, help="messages/s in all")
    parser.add_argument("--open-seconds", type=float, default=30.0)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="kefu-bench-") as folder,
        Stack(demo_stack_config(Path(folder))) as stack,
    ):
        report = asyncio.run(measure(stack, args))
    if args.json:
        print(json.dumps(report.as_json()))
        return
    print("\nChat latency (real stack; one process each for Rasa, the actions and the service)")
    print(report.tables())


if __name__ == "__main__":
    main()
