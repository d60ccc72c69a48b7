"""Chat benchmark: widget-to-reply latency over the WebSocket on the real stack.

Run with ``make bench`` (after the Rasa model is trained). It starts Rasa, the action server
and the service on free ports over a fresh copy of the demo knowledge base, then measures:

- the baseline, in the same run: Rasa's own reply time for a plain greeting, asked directly
  on its REST channel (no gateway, no knowledge base);
- a knowledge-base answer as the widget sees it: from sending the frame on the WebSocket to
  receiving the bot's answer, with 1, 10 and 50 conversations at once, each asking in turn;
- messages per second sustained at each level (answers received / wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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


async def widget_answers(service_url: str, conversations: int, per_conversation: int) -> Latencies:
    ws_base = service_url.replace("http://", "ws://")
    async with httpx.AsyncClient(base_url=service_url, timeout=30) as client:
        sockets = [await _open(client, ws_base) for _ in range(conversations)]
    times: list[float] = []

    async def customer(index: int, ws: ClientConnection) -> None:
        for turn in range(per_conversation):
            times.append(await _ask(ws, QUESTIONS[(index + turn) % len(QUESTIONS)]))

    started = time.perf_counter()
    await asyncio.gather(*(customer(i, ws) for i, ws in enumerate(sockets)))
    wall = time.perf_counter() - started
    for ws in sockets:
        await ws.close()
    label = f"KB answer over WebSocket, {conversations} at once"
    return Latencies(label, times, wall)


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


async def measure(stack: Stack, levels: list[int], turns: int, greetings: int) -> str:
    # Warm-up: the first messages load lazily built parts (NLU caches, encoder, pools).
    await widget_answers(stack.config.service_url, 2, 2)
    rasa_url = stack.config.rasa_url
    await rasa_direct(rasa_url, GREETINGS, 5, "warm-up")
    baseline = await rasa_direct(rasa_url, GREETINGS, greetings, "Rasa alone, greeting (baseline)")
    # The same KB answers without the gateway and WebSocket: what they add is the difference.
    direct = await rasa_direct(
        rasa_url, QUESTIONS, greetings, "Rasa alone, KB answer (REST)", answers_from_kb=True
    )
    # At least 20 answers per level, so one conversation alone still gives a p99.
    results = [
        await widget_answers(stack.config.service_url, n, max(turns, -(-20 // n))) for n in levels
    ]
    return table([direct, *results], baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--turns", type=int, default=4, help="questions per conversation")
    parser.add_argument("--greetings", type=int, default=40)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="kefu-bench-") as folder,
        Stack(demo_stack_config(Path(folder))) as stack,
    ):
        report = asyncio.run(measure(stack, args.levels, args.turns, args.greetings))
    print("\nChat latency (real stack; one process each for Rasa, the actions and the service)")
    print(report)


if __name__ == "__main__":
    main()
