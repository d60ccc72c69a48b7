"""Faults: `kill -9` of one process of the real stack while customers type, and what the
database says afterwards.

Customers behave as the widget does: every message keeps its `client_message_id` in an outbox
until the service echoes it, a dropped socket is opened again (`after=` the last message seen)
and the outbox is sent again on `ready`. A supervisor (bot.stack.Supervisor, as `kefu stack up`
runs it) starts the killed process again. Once the load is over and the bot has caught up, the
database is read: every message sent is stored once (none lost, none doubled), every one has
the bot's answer, and no answer was stored twice.

Recovery is the time from the kill to the first answer to a message sent after it. With
several Rasa processes (`--rasa-workers`, 2 as `kefu stack up` runs them), which share the
conversations, the victim "rasa" is the first customer's Rasa; with several service workers,
"service" is the first worker.

    python -m bench.faults [--kills 5] [--rasa-workers 2] [--json]

prints, per process, the recovery p50/max over the kills and the totals lost / doubled /
unanswered (each must be 0). The end-to-end test tests/e2e/test_faults.py runs one kill of
each process with the same code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from bench.chat import QUESTIONS
from bot.conversations.models import Message
from bot.conversations.rasa_client import first_rasa
from bot.stack import RestartPolicy, Stack, Supervisor, demo_stack_config, rasa_names
from db.engine import create_engine_for, session_factory

VICTIMS = ("service", "actions", "rasa")
SETTLE_TIMEOUT_S = 120.0  # for the bot to answer everything once the load is over
RECONNECT_EVERY_S = 0.5


@dataclass
class WidgetCustomer:
    """One conversation, typed the way the widget sends it (see bot/web/static/widget.js)."""

    service_url: str
    id: str
    token: str
    outbox: dict[str, str] = field(default_factory=dict)  # client_message_id → text, unechoed
    sent: list[str] = field(default_factory=list)  # every client_message_id, in order
    last_id: int = 0
    on_frame: Callable[[dict[str, Any]], None] | None = None  # sees every frame received
    _ws: ClientConnection | None = None

    @classmethod
    async def open(cls, client: httpx.AsyncClient, service_url: str) -> WidgetCustomer:
        response = await client.post(f"{service_url}/api/v1/conversations", json={"language": "en"})
        response.raise_for_status()
        return cls(service_url, response.json()["id"], response.json()["token"])

    async def stay_connected(self, until: asyncio.Event) -> None:
        """Keep a socket open (again and again when it drops) until ``until`` is set."""
        ws_base = self.service_url.replace("http://", "ws://")
        while not until.is_set():
            url = f"{ws_base}/api/v1/conversations/{self.id}/ws?token={self.token}"
            try:
                async with connect(f"{url}&after={self.last_id}", open_timeout=5) as ws:
                    await self._read(ws, until)
            except (OSError, WebSocketException, TimeoutError):
                pass
            self._ws = None
            await asyncio.sleep(RECONNECT_EVERY_S)

    async def _read(self, ws: ClientConnection, until: asyncio.Event) -> None:
        while not until.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=0.5))
            except TimeoutError:
                continue
            if self.on_frame is not None:
                self.on_frame(frame)
            if frame.get("type") == "ready":
                self._ws = ws
                for client_message_id, text in list(self.outbox.items()):
                    await self._transmit(client_message_id, text)
            message = frame.get("message")
            if frame.get("type") == "message" and message:
                self.last_id = max(self.last_id, message["id"])
                self.outbox.pop(message.get("client_message_id") or "", None)

    async def say(self, text: str) -> None:
        client_message_id = str(uuid.uuid4())
        self.sent.append(client_message_id)
        self.outbox[client_message_id] = text
        await self._transmit(client_message_id, text)

    async def _transmit(self, client_message_id: str, text: str) -> None:
        if self._ws is None:
            return  # sent on the next ready
        frame = {"type": "message", "text": text, "client_message_id": client_message_id}
        with contextlib.suppress(WebSocketException, OSError):
            await self._ws.send(json.dumps(frame))


@dataclass(frozen=True)
class Audit:
    """What the database holds for the customers' messages."""

    sent: int
    lost: int  # sent, never stored
    doubled: int  # stored more than once, or answered twice
    unanswered: int  # stored, no answer from the bot
    apologies: int  # "the assistant is not available" said before the answer followed
    answered_at: dict[str, datetime]  # client_message_id → when its answer was stored
    stored_at: dict[str, datetime]  # client_message_id → when it was stored
    problems: list[str]  # one line per message lost, doubled or unanswered

    @property
    def clean(self) -> bool:
        return self.lost == self.doubled == self.unanswered == 0


def audit(database_url: str, customers: list[WidgetCustomer]) -> Audit:
    engine = create_engine_for(database_url)
    try:
        with session_factory(engine)() as session:
            ids = [c.id for c in customers]
            rows = session.scalars(
                select(Message).where(Message.conversation_id.in_(ids)).order_by(Message.id)
            ).all()
    finally:
        engine.dispose()
    customer_rows: dict[str, list[Message]] = {}
    replies: dict[int, list[Message]] = {}
    apologies = 0
    for row in rows:
        if row.sender == "customer" and row.client_message_id:
            customer_rows.setdefault(row.client_message_id, []).append(row)
        elif row.reply_to is not None and row.sender == "bot":
            replies.setdefault(row.reply_to, []).append(row)
        elif row.reply_to is not None and row.sender == "system":
            apologies += 1
    sent = [cmid for c in customers for cmid in c.sent]
    lost = doubled = unanswered = 0
    answered_at: dict[str, datetime] = {}
    stored_at: dict[str, datetime] = {}
    problems: list[str] = []
    for cmid in sent:
        stored = customer_rows.get(cmid, [])
        if not stored:
            lost += 1
            problems.append(f"lost: {cmid}")
            continue
        message = stored[0]
        about = f"message {message.id} {message.text!r} at {message.created_at:%H:%M:%S.%f}"
        if len(stored) > 1:
            doubled += 1
            problems.append(f"stored {len(stored)} times: {about}")
        stored_at[cmid] = message.created_at
        answer = replies.get(message.id, [])
        if not answer or message.awaiting_bot:
            unanswered += 1
            problems.append(
                f"unanswered: {about}, awaiting_bot={message.awaiting_bot}, "
                f"bot_attempts={message.bot_attempts}, {len(answer)} answers"
            )
            continue
        texts = [r.text for r in answer]
        if len(texts) != len(set(texts)):  # the same answer stored twice
            doubled += 1
            problems.append(f"answered twice: {about}: {texts}")
        answered_at[cmid] = answer[0].created_at
    return Audit(len(sent), lost, doubled, unanswered, apologies, answered_at, stored_at, problems)


@contextlib.contextmanager
def supervised(stack: Stack, policy: RestartPolicy | None = None) -> Iterator[None]:
    """The supervisor of `kefu stack up`, in a thread, for the block."""
    stop = threading.Event()
    supervisor = Supervisor(stack, policy)

    def watch() -> None:
        while not stop.is_set():
            supervisor.check()
            stop.wait(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class KillRun:
    victim: str
    killed_at: datetime
    audit: Audit

    @property
    def recovery_s(self) -> float | None:
        """From the kill to the first answer to a message stored after it."""
        after = [
            answered
            for cmid, answered in self.audit.answered_at.items()
            if self.audit.stored_at[cmid] >= self.killed_at
        ]
        return (min(after) - self.killed_at).total_seconds() if after else None


async def kill_under_load(
    stack: Stack,
    victim: str,
    customers: int = 4,
    messages: int = 12,
    gap_s: float = 1.5,
    kill_after_s: float = 4.0,
    seed: int = 0,
) -> KillRun:
    """``customers`` conversations each send ``messages`` questions, a random gap (mean
    ``gap_s``) apart; ``kill_after_s`` into the load, ``victim`` gets SIGKILL. Returns once
    the bot has answered every stored message (or SETTLE_TIMEOUT_S passed)."""
    rng = random.Random(seed)
    assert stack.config.database_url is not None
    async with httpx.AsyncClient(timeout=30) as client:
        url = stack.config.service_url
        people = [await WidgetCustomer.open(client, url) for _ in range(customers)]
    done = asyncio.Event()
    sockets = [asyncio.create_task(c.stay_connected(done)) for c in people]

    async def typing(customer: WidgetCustomer) -> None:
        for turn in range(messages):
            await asyncio.sleep(rng.expovariate(1 / gap_s))
            await customer.say(rng.choice(QUESTIONS) if turn else "How long does a refund take?")

    async def kill() -> datetime:
        await asyncio.sleep(kill_after_s)
        name = rasa_of(stack, people[0].id) if victim == "rasa" else victim
        killed_at = datetime.now(UTC)
        os.kill(stack.pid(name), signal.SIGKILL)
        return killed_at

    killing = asyncio.create_task(kill())
    await asyncio.gather(*(typing(c) for c in people))
    killed_at = await killing
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    result = await asyncio.to_thread(audit, stack.config.database_url, people)
    while not result.clean and time.monotonic() < deadline:
        await asyncio.sleep(1)
        result = await asyncio.to_thread(audit, stack.config.database_url, people)
    done.set()
    await asyncio.gather(*sockets)
    return KillRun(victim, killed_at, result)


def rasa_of(stack: Stack, conversation_id: str) -> str:
    """The name of the Rasa process a conversation goes to while it is up."""
    names = rasa_names(len(stack.config.rasa_urls))
    return names[first_rasa(conversation_id, len(names))]


def summary(runs: list[KillRun]) -> dict[str, Any]:
    by_victim: dict[str, Any] = {}
    for victim in dict.fromkeys(r.victim for r in runs):
        mine = [r for r in runs if r.victim == victim]
        recoveries = [r.recovery_s for r in mine if r.recovery_s is not None]
        by_victim[victim] = {
            "kills": len(mine),
            "recovery_p50_s": round(statistics.median(recoveries), 2) if recoveries else None,
            "recovery_max_s": round(max(recoveries), 2) if recoveries else None,
            "sent": sum(r.audit.sent for r in mine),
            "lost": sum(r.audit.lost for r in mine),
            "doubled": sum(r.audit.doubled for r in mine),
            "unanswered": sum(r.audit.unanswered for r in mine),
            "apologies": sum(r.audit.apologies for r in mine),
        }
    return by_victim


def table(by_victim: dict[str, Any]) -> str:
    lines = [
        "| process killed | kills | messages | lost | doubled | unanswered | apologies "
        "| recovery p50 s | recovery max s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for victim, row in by_victim.items():
        lines.append(
            f"| {victim} | {row['kills']} | {row['sent']} | {row['lost']} | {row['doubled']} "
            f"| {row['unanswered']} | {row['apologies']} | {row['recovery_p50_s']} "
            f"| {row['recovery_max_s']} |"
        )
    return "\n".join(lines)


async def measure(stack: Stack, kills: int) -> list[KillRun]:
    runs = []
    for victim in VICTIMS:
        for index in range(kills):
            runs.append(await kill_under_load(stack, victim, seed=index))
            await asyncio.to_thread(stack.wait_until_healthy)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5, help="kills of each process")
    parser.add_argument(
        "--rasa-workers", type=int, default=2, help="Rasa processes (kefu stack up runs 2)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    # Each kill is measured as a crash on its own: the window is shorter than the time between
    # kills, so the backoff kefu stack up gives repeated crashes (1, 2, 4 … s, its guard against
    # a crash loop) does not grow from kill to kill, and this supervisor never gives up.
    policy = RestartPolicy(window_s=5.0)
    with (
        tempfile.TemporaryDirectory(prefix="kefu-bench-") as folder,
        Stack(demo_stack_config(Path(folder), rasa_workers=args.rasa_workers)) as stack,
        supervised(stack, policy),
    ):
        runs = asyncio.run(measure(stack, args.kills))
    by_victim = summary(runs)
    for run in runs:  # what went wrong, message by message, for whoever looks into it
        for problem in run.audit.problems:
            print(f"{run.victim} killed at {run.killed_at:%H:%M:%S.%f}: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps(by_victim))
        return
    print(
        "\nkill -9 under load (4 customers, 12 questions each, a question every 1.5 s each; "
        f"{args.rasa_workers} Rasa processes)"
    )
    print(table(by_victim))


if __name__ == "__main__":
    main()
