"""Dialogue routing on held-out first messages, on the real stack (Rasa, the actions, the
service over the demo knowledge base, nobody online).

Run with ``python -m bench.dialogue [--set test|dev]`` after the Rasa model is trained. Each
message of ``tests/data/dialogue/<set>.jsonl`` (written apart from the training data; report
``test``, tune on ``dev``) opens a fresh conversation and is sent once; the bot's replies are
sorted into one outcome by what the customer reads:

- ``handoff``: the bot hands over (connecting, nobody online, the contact channels);
- ``form``: the last reply asks for an email address;
- ``answer`` (an article), ``clarify`` (article buttons), ``dont_know``, ``other`` (any other
  reply: a greeting, small talk, "I can help with orders…").

It prints one JSON object: ``wrong_handoff_rate`` (handoffs of messages that should not be
handed over, over those messages), ``questions_in_form`` (questions that landed in the email
form), ``questions_served`` (questions answered, clarified or told "I don't know"),
``handoffs_taken`` (expected handoffs that were handed over), and the outcome counts by kind.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from bot.stack import Stack, demo_stack_config
from texts import LANGUAGES, say

SETS = Path(__file__).resolve().parents[1] / "tests" / "data" / "dialogue"
HANDOFF_TEXTS = [say(key, lang) for key in ("connecting", "nobody_online") for lang in LANGUAGES]
HANDOFF_TEXTS += [say("contact_channels", lang) for lang in LANGUAGES]
FORM_QUESTIONS = {"What's your email address?", "请问您的邮箱地址是？"}  # domain.yml
DONT_KNOW = {say(key, lang) for key in ("dont_know", "dont_know_again") for lang in LANGUAGES}


def outcome(replies: list[dict[str, Any]]) -> str:
    texts = [str(r.get("text") or "") for r in replies]
    if any(text in HANDOFF_TEXTS for text in texts):
        return "handoff"
    if texts and texts[-1] in FORM_QUESTIONS:
        return "form"
    if any(r.get("articles") for r in replies):
        return "answer"
    buttons = [b for r in replies for b in r.get("buttons") or []]
    if any(str(b.get("payload", "")).startswith("/ask_question") for b in buttons):
        return "clarify"
    if any(text in DONT_KNOW for text in texts):
        return "dont_know"
    return "other"


def run(service_url: str, examples: list[dict[str, str]]) -> list[str]:
    outcomes = []
    with httpx.Client(base_url=service_url, timeout=60) as client:
        for example in examples:
            opened = client.post("/api/v1/conversations", json={}).json()
            sent = client.post(
                f"/api/v1/conversations/{opened['id']}/messages",
                json={"text": example["text"]},
                headers={"Authorization": f"Bearer {opened['token']}"},
            )
            sent.raise_for_status()
            outcomes.append(outcome(sent.json()["replies"]))
    return outcomes


def report(examples: list[dict[str, str]], outcomes: list[str]) -> dict[str, Any]:
    not_handoff = [o for e, o in zip(examples, outcomes, strict=True) if e["expect"] != "handoff"]
    questions = [o for e, o in zip(examples, outcomes, strict=True) if e["expect"] == "question"]
    handoffs = [o for e, o in zip(examples, outcomes, strict=True) if e["expect"] == "handoff"]
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for example, result in zip(examples, outcomes, strict=True):
        by_kind[example["kind"]][result] += 1
    served = ("answer", "clarify", "dont_know")
    return {
        "messages": len(examples),
        "wrong_handoff_rate": round(not_handoff.count("handoff") / max(1, len(not_handoff)), 3),
        "questions_in_form": questions.count("form"),
        "questions_served": round(sum(o in served for o in questions) / max(1, len(questions)), 3),
        "handoffs_taken": round(handoffs.count("handoff") / max(1, len(handoffs)), 3),
        "by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["test", "dev"], default="test")
    parser.add_argument(
        "--misses", action="store_true", help="also list, on stderr, each message routed wrong"
    )
    args = parser.parse_args()
    lines = (SETS / f"{args.set}.jsonl").read_text(encoding="utf-8").splitlines()
    examples = [json.loads(line) for line in lines if line.strip()]
    with (
        tempfile.TemporaryDirectory(prefix="kefu-bench-") as folder,
        Stack(demo_stack_config(Path(folder))) as stack,
    ):
        outcomes = run(stack.config.service_url, examples)
    print(json.dumps({"set": args.set, **report(examples, outcomes)}, ensure_ascii=False))
    if args.misses:
        for example, result in zip(examples, outcomes, strict=True):
            if wrong(example["expect"], result):
                print(f"{example['kind']}\t{result}\t{example['text']}", file=sys.stderr)


def wrong(expect: str, result: str) -> bool:
    if expect == "handoff":
        return result != "handoff"
    return result in ("handoff", "form")


if __name__ == "__main__":
    main()
