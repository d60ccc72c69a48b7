"""Where a knowledge-base answer's wall time goes, hop by hop, on the real stack.

``python -m bench.hops [--count 40] [--json]`` starts the stack as bench.chat does and times,
one request at a time (p50 of ``--count``), each hop of a knowledge-base answer called on its
own, so the differences say what each layer adds:

- ``greeting_rest``: Rasa's own reply to a greeting on its REST channel (the baseline);
- ``kb_rest``: Rasa answering a knowledge-base question on its REST channel (NLU, the
  policies, the tracker store, the action call and everything behind it);
- ``search``: the service's search endpoint as the action calls it (HTTP, the service token,
  the search, the sentiment, the hits' articles, recording the lookup on a conversation);
- ``action``: the action server's webhook with the tracker Rasa sends for such a question
  (without the domain, as Rasa now sends it), the search included;
- ``ws``: the answer as the widget sees it, over the WebSocket, in conversations of four
  questions (bench.chat's one-at-a-time level).

Derived: ``rasa_action_call`` = kb_rest - greeting_rest - action (Rasa's side of calling
the action: the tracker's state, the HTTP call, checking and reading the answer); ``actions``
= action - search (the action server and the action around the search); ``gateway`` = ws -
kb_rest (storing the message and the answer, the WebSocket frames, the service's call to Rasa).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.chat import GREETINGS, QUESTIONS, rasa_direct, widget_answers
from bot.stack import Stack, demo_stack_config


async def _p50_ms(count: int, call: Callable[[int], Awaitable[None]]) -> float:
    times = []
    for i in range(count):
        started = time.perf_counter()
        await call(i)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2)


async def _action_call(stack: Stack, client: httpx.AsyncClient) -> dict[str, Any]:
    """An action call as Rasa makes it for a knowledge-base question: the tracker after one."""
    config = stack.config
    sender = f"bench-{uuid.uuid4()}"
    asked = {"sender": sender, "message": QUESTIONS[0]}
    (await client.post(f"{config.rasa_url}/webhooks/rest/webhook", json=asked)).raise_for_status()
    tracker = await client.get(
        f"{config.rasa_url}/conversations/{sender}/tracker", params={"token": stack.rasa_token}
    )
    tracker.raise_for_status()
    return {
        "next_action": "action_answer_from_kb",
        "sender_id": sender,
        "tracker": tracker.json(),
        "version": "3.6.21",
    }


async def measure(stack: Stack, count: int) -> dict[str, float]:
    config = stack.config
    auth = {"Authorization": f"Bearer {stack.service_token}"}
    await widget_answers(config.service_url, 2, 2)  # warm-up, as bench.chat
    await rasa_direct(config.rasa_url, GREETINGS, 5, "warm-up")
    greeting = await rasa_direct(config.rasa_url, GREETINGS, count, "greeting")
    kb = await rasa_direct(config.rasa_url, QUESTIONS, count, "kb", answers_from_kb=True)
    async with httpx.AsyncClient(base_url=config.service_url, headers=auth, timeout=30) as client:
        conversation = (await client.post("/api/v1/conversations", json={})).json()["id"]

        async def search(i: int) -> None:
            asked = {
                "text": QUESTIONS[i % len(QUESTIONS)],
                "conversation_id": conversation,
                "intent": "ask_question",
                "intent_confidence": 0.9,
            }
            (await client.post("/api/v1/internal/kb/search", json=asked)).raise_for_status()

        search_ms = await _p50_ms(count, search)
    async with httpx.AsyncClient(timeout=30) as client:
        call = await _action_call(stack, client)

        async def action(_: int) -> None:
            answer = await client.post(f"{config.actions_url}/webhook", json=call, headers=auth)
            answer.raise_for_status()

        action_ms = await _p50_ms(count, action)
    ws = await widget_answers(config.service_url, 1, 4, -(-count // 4))
    hops = {
        "greeting_rest": round(statistics.median(greeting.seconds) * 1000, 2),
        "kb_rest": round(statistics.median(kb.seconds) * 1000, 2),
        "search": search_ms,
        "action": action_ms,
        "ws": round(statistics.median(ws.seconds) * 1000, 2),
    }
    return hops | {
        "rasa_action_call": round(hops["kb_rest"] - hops["greeting_rest"] - action_ms, 2),
        "actions": round(action_ms - search_ms, 2),
        "gateway": round(hops["ws"] - hops["kb_rest"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="requests per hop")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="kefu-bench-") as folder,
        Stack(demo_stack_config(Path(folder))) as stack,
    ):
        hops = asyncio.run(measure(stack, args.count))
    if args.json:
        print(json.dumps(hops))
        return
    print("\n| hop | p50 ms |\n| --- | ---: |")
    for name, ms in hops.items():
        print(f"| {name} | {ms} |")


if __name__ == "__main__":
    main()
