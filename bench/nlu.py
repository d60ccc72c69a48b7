"""What the sentence featurizer costs a reply: Rasa's ``/model/parse`` with and without it.

Run with ``python -m bench.nlu`` (in ``make bench``). In one run it trains two NLU-only models
from ``data/nlu``: the project's ``config.yml``, and the baseline, the same pipeline without
``addons.sentence_encoder.UseSentenceFeaturizer``. Each is served by ``rasa run --enable-api``
on loopback in turn and asked to parse the held-out dialogue messages (``tests/data/dialogue``,
both sets) one at a time, after a warm-up; it prints one JSON object with the p50 and p90 of
each, the p50 added by the featurizer, and the training time of each model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from bot.stack import ROOT, free_port

FEATURIZER = "addons.sentence_encoder.UseSentenceFeaturizer"
DIALOGUE_SETS = ROOT / "tests" / "data" / "dialogue"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
WARM_UP = 10


def rasa_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def baseline_config(folder: Path) -> Path:
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    config["pipeline"] = [c for c in config["pipeline"] if c["name"] != FEATURIZER]
    path = folder / "baseline.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def train(config: Path, out: Path, name: str) -> tuple[Path, float]:
    started = time.perf_counter()
    subprocess.run(
        [
            *(str(RASA), "train", "nlu", "--config", str(config), "--nlu", "data/nlu"),
            *("--out", str(out), "--fixed-model-name", name),
        ],
        cwd=ROOT,
        env=rasa_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return out / f"{name}.tar.gz", time.perf_counter() - started


def parse_times(model: Path, texts: list[str]) -> list[float]:
    port = free_port()
    server = subprocess.Popen(
        [
            *(str(RASA), "run", "--enable-api", "--interface", "127.0.0.1"),
            *("--port", str(port), "--model", str(model)),
        ],
        cwd=ROOT,
        env=rasa_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if client.get("/status").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"rasa did not start for {model.name}")
                time.sleep(0.5)
            for text in texts[:WARM_UP]:
                client.post("/model/parse", json={"text": text}).raise_for_status()
            times = []
            for text in texts:
                started = time.perf_counter()
                client.post("/model/parse", json={"text": text}).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            return times
    finally:
        server.terminate()
        server.wait(timeout=30)


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100)[int(share * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    texts = [
        json.loads(line)["text"]
        for name in ("dev", "test")
        for line in (DIALOGUE_SETS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with tempfile.TemporaryDirectory(prefix="kefu-bench-nlu-") as folder:
        out = Path(folder)
        baseline, baseline_train_s = train(baseline_config(out), out, "baseline")
        featurized, train_s = train(ROOT / "config.yml", out, "featurized")
        # Baseline first, then the featurized model, over the same messages.
        baseline_ms = parse_times(baseline, texts)
        featurized_ms = parse_times(featurized, texts)
    p50_base, p50 = statistics.median(baseline_ms), statistics.median(featurized_ms)
    print(
        json.dumps(
            {
                "messages": len(texts),
                "parse_p50_ms_baseline": round(p50_base, 2),
                "parse_p90_ms_baseline": round(percentile(baseline_ms, 0.9), 2),
                "parse_p50_ms": round(p50, 2),
                "parse_p90_ms": round(percentile(featurized_ms, 0.9), 2),
                "featurizer_added_p50_ms": round(p50 - p50_base, 2),
                "nlu_train_s_baseline": round(baseline_train_s, 1),
                "nlu_train_s": round(train_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
