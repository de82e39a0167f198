"""Benchmark `finetune check` against the cookbook approach and the tokenizer floor.

Run: python bench/check_speed.py [--megabytes 200] [--workdir /tmp/finetune-bench]

Measured in one run on the same generated chat file:
- ours: `finetune check --data FILE --model gpt-4o-mini-2024-07-18 --format json` in a subprocess
  (wall time; peak RSS of the largest process among it and its workers, via wait4);
- cookbook: one thread, json.loads each line and tiktoken `encode` every string value
  (streamed line by line; the notebook itself loads the whole file into memory);
- floor: tokenizing exactly the strings the cookbook encodes, as the faster of
  `encode_ordinary_batch(num_threads=2)` and an `encode_ordinary` loop counted as if it scaled
  perfectly to two cores (half its time). Parsing is not timed for the floor.
Not a test: the machine may be shared, so read the ratios, not the absolute figures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.generate import generate
from finetune_action.tokens import encodings

MODEL = "gpt-4o-mini-2024-07-18"
BATCH_EXAMPLES = 5000


def strings_of(value: object, into: list[str]) -> None:
    if type(value) is str:
        into.append(value)
    elif type(value) is dict:
        for item in value.values():
            strings_of(item, into)
    elif type(value) is list:
        for item in value:
            strings_of(item, into)


def run_ours(path: Path) -> tuple[float, float, dict]:
    """(seconds, peak RSS in MB of the largest process, the JSON report)."""
    out = path.with_suffix(".report.json")
    with open(out, "wb") as stdout:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "finetune_action", "check", "--data", str(path), "--model", MODEL, "--format", "json"],
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )
        # wait4 reports the max RSS over the child and every descendant it reaped (the workers).
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    report = json.loads(out.read_text("utf-8"))
    return seconds, usage.ru_maxrss / 1024, report


def run_cookbook(path: Path) -> tuple[float, int]:
    """(seconds, tokens): json.loads + encode of every string value, one thread."""
    encoding = encodings.get("o200k_base")
    tokens = 0
    start = time.perf_counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            found: list[str] = []
            strings_of(json.loads(line), found)
            for text in found:
                tokens += len(encoding.encode(text))
    return time.perf_counter() - start, tokens


def run_floor(path: Path) -> tuple[float, float]:
    """(seconds of the encode_ordinary loop, seconds of encode_ordinary_batch on 2 threads)."""
    encoding = encodings.get("o200k_base")
    loop = batch = 0.0
    with open(path, encoding="utf-8") as f:
        while True:
            found: list[str] = []
            for _ in range(BATCH_EXAMPLES):
                line = f.readline()
                if not line:
                    break
                strings_of(json.loads(line), found)
            if not found:
                break
            start = time.perf_counter()
            for text in found:
                encoding.encode_ordinary(text)
            loop += time.perf_counter() - start
            start = time.perf_counter()
            encoding.encode_ordinary_batch(found, num_threads=2)
            batch += time.perf_counter() - start
    return loop, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/finetune-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"chat-{args.megabytes:g}mb.jsonl"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        generate(path, args.megabytes)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path} ({size_mb:.1f} MB), cores available: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.2f}")

    ours, rss, report = run_ours(path)
    config = report["configs"][0]
    cookbook, cookbook_tokens = run_cookbook(path)
    loop, batch = run_floor(path)
    floor = min(batch, loop / 2)
    floor_how = "encode_ordinary_batch on 2 threads" if batch <= loop / 2 else "encode_ordinary loop / 2"

    rows = [
        ("finetune check", ours),
        ("cookbook approach (1 thread)", cookbook),
        ("floor: encode_ordinary loop (1 core)", loop),
        ("floor: encode_ordinary_batch (2 threads)", batch),
        (f"floor used: {floor_how}", floor),
    ]
    for name, seconds in rows:
        print(f"  {name:<44} {seconds:8.2f} s {size_mb / seconds:8.1f} MB/s")
    print(f"  examples: {config['examples']}, billed tokens/epoch: {config['billed_tokens_per_epoch']}, string tokens (cookbook): {cookbook_tokens}")
    print(f"  ours / floor speed:    {floor / ours:.2f}x (target >= 0.8)")
    print(f"  ours / cookbook speed: {cookbook / ours:.2f}x (target >= 1.5)")
    print(f"  peak RSS of the largest finetune process: {rss:.0f} MB (target < 200)")


if __name__ == "__main__":
    main()
