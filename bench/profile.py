"""Where a knowledge-base answer's time goes: py-spy on each process under bench.chat load.

``python -m bench.profile [--seconds 20] [--conversations 10]`` starts the real stack (as
bench.chat does), puts a closed-loop load of knowledge-base questions on it over the
WebSocket, and meanwhile samples Rasa, the action server and the service with py-spy (a
sampling profiler outside the process: the code runs unchanged). For each process it prints
the share of its busy samples spent under each part of the path (a sample counts for every
part on its stack, so shares overlap where parts nest), and the functions with the most
samples of their own. Idle time (waiting for a socket or a lock) is not sampled.

``--json`` prints the parts' shares as one JSON object; ``--keep DIR`` keeps py-spy's raw
(collapsed-stack) files, which speedscope or inferno turn into flame graphs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.chat import widget_answers
from bot.stack import Stack, demo_stack_config

# The parts of a knowledge-base answer, by a piece of the frames they run in (py-spy's frames
# read "function (path/to/file.py:line)"). Checked against every frame of a sample's stack.
PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "rasa": {
        "HTTP server (sanic)": ("sanic/",),
        "NLU: parse the message": ("parse_message (rasa/core/processor.py",),
        "NLU: tokenizer (jieba)": ("jieba/",),
        "NLU: count vectors": ("count_vectors_featurizer.py",),
        "NLU: sentence encoder (USE)": ("addons/sentence_encoder.py",),
        "NLU: classifier": ("logistic_regression_classifier.py",),
        "policies: predict the next action": ("_predict_next_action",),
        "policy: TED": ("ted_policy.py",),
        "policy: rules": ("rule_policy.py",),
        "policy: memoization": ("memoization.py",),
        "tracker store: read": ("retrieve (rasa/core/tracker_store.py", "retrieve_full_tracker"),
        "tracker store: save": ("save (rasa/core/tracker_store.py",),
        "action server call": ("RemoteAction.run", "run (rasa/core/actions/action.py"),
        "action result validation (jsonschema)": ("jsonschema/",),
        "events and trackers": ("rasa/shared/core/events.py", "rasa/shared/core/trackers.py"),
    },
    "actions": {
        "HTTP server (sanic)": ("sanic/",),
        "executor: run an action": ("rasa_sdk/executor.py",),
        "tracker from JSON": ("from_dict (rasa_sdk/interfaces.py",),
        "the knowledge-base action": ("actions/faq.py",),
        "client of the service (httpx)": ("httpx/", "httpcore/"),
    },
    "service": {
        "HTTP and WebSocket server (uvicorn, starlette)": ("uvicorn/", "starlette/"),
        "gateway: a customer message": ("bot/chat/gateway.py",),
        "gateway: store messages": ("bot/conversations/store.py",),
        "gateway: ask Rasa": ("bot/conversations/rasa_client.py",),
        "KB search endpoint": ("search (bot/api/routes/internal_kb.py",),
        "retrieval: embed the question": ("retrieval/embedder.py", "encode"),
        "retrieval: FAISS and BM25": ("retrieval/index.py", "faiss/", "retrieval/lexical.py"),
        "retrieval: whole search": ("retrieval/retriever.py",),
        "article snapshots (DB reads)": ("from_result (bot/api/schemas/kb.py",),
        "sentiment and topics": ("bot/handoff/signals.py",),
        "record the lookup": ("record_lookup",),
        "authentication": ("bot/api/deps.py",),
        "SQLAlchemy": ("sqlalchemy/",),
        "pydantic": ("pydantic/",),
    },
}


@dataclass
class Profile:
    """One process's samples: collapsed stacks and how many samples each had."""

    process: str
    stacks: Counter[str]

    @property
    def samples(self) -> int:
        return sum(self.stacks.values())

    def share(self, needles: tuple[str, ...]) -> float:
        hit = sum(n for stack, n in self.stacks.items() if any(x in stack for x in needles))
        return hit / self.samples if self.samples else 0.0

    def top_own(self, count: int) -> list[tuple[str, float]]:
        own: Counter[str] = Counter()
        for stack, n in self.stacks.items():
            own[stack.rsplit(";", 1)[-1]] += n
        return [(frame, n / self.samples) for frame, n in own.most_common(count)]


def read_raw(path: Path, process: str) -> Profile:
    """py-spy's raw format: one line per distinct stack, its frames ``;``-joined, then a count."""
    stacks: Counter[str] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[stack] += int(count)
    return Profile(process, stacks)


def record(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    argv += ["--rate", "100", "--format", "raw", "--output", str(output), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def load(service_url: str, conversations: int, seconds: float) -> int:
    """Closed-loop knowledge-base questions until ``seconds`` have passed; answers received."""
    answered, until = 0, time.monotonic() + seconds
    while time.monotonic() < until:
        answered += len((await widget_answers(service_url, conversations, 4)).seconds)
    return answered


def profile(seconds: float, conversations: int, keep: Path) -> tuple[list[Profile], float]:
    with (
        tempfile.TemporaryDirectory(prefix="kefu-profile-") as folder,
        Stack(demo_stack_config(Path(folder))) as stack,
    ):
        asyncio.run(widget_answers(stack.config.service_url, 2, 2))  # warm-up
        names = ("rasa", "actions", "service")
        files = {name: keep / f"{name}.txt" for name in names}
        spies = [record(stack.pid(name), seconds, files[name]) for name in names]
        started = time.monotonic()
        answered = asyncio.run(load(stack.config.service_url, conversations, seconds))
        rate = answered / (time.monotonic() - started)
        for spy in spies:
            _, error = spy.communicate(timeout=seconds + 60)
            if spy.returncode != 0:
                raise RuntimeError(f"py-spy failed: {error.decode(errors='replace')[-500:]}")
    return [read_raw(files[name], name) for name in names], rate


def report(profiles: list[Profile], rate: float) -> str:
    lines = [f"Load: {rate:.1f} knowledge-base answers/s (closed loop)", ""]
    for p in profiles:
        lines += [
            f"## {p.process}: {p.samples} busy samples",
            "",
            "| part | share |",
            "| --- | ---: |",
        ]
        lines += [f"| {label} | {p.share(n):.0%} |" for label, n in PARTS[p.process].items()]
        lines += ["", "Most samples of their own:", ""]
        lines += [f"- {share:.1%} {frame}" for frame, share in p.top_own(8)]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="keep py-spy's raw files in this folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kefu-spy-") as scratch:
        keep = args.keep or Path(scratch)
        keep.mkdir(parents=True, exist_ok=True)
        profiles, rate = profile(args.seconds, args.conversations, keep)
    if args.json:
        shares = {
            p.process: {label: round(p.share(n), 3) for label, n in PARTS[p.process].items()}
            for p in profiles
        }
        print(json.dumps({"answers_per_s": round(rate, 1), "shares": shares}))
    else:
        print(report(profiles, rate))


if __name__ == "__main__":
    main()
