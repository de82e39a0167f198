"""Benchmark the check with compare: alternatives against the single-model check.

Run: python -m bench.check_compare [--megabytes 200] [--repeats 3]

On the benchmark file of bench/check_speed.py (generated if missing), alternately in one run:
- single: check.check_data for gpt-4o-mini (o200k_base), in a subprocess with its workers;
- the same call with extra_tokenizers of three alternatives, in two sets:
  gpt-oss + Qwen3 + Llama 3 (o200k_harmony shares o200k_base's vocabulary, so its strings are
  remembered once for both) and Qwen3 + Llama 3 + Mistral (three vocabularies new to the run);
- the tokenizer floor of each vocabulary: an encode_ordinary loop over every string value,
  halved for the two cores, so the floor of a set is the sum of its vocabularies' floors.
Each figure is the best of --repeats rounds (wall time; peak RSS per process from /proc).
Not a test: read the ratios.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import finetune_action
from bench.check_speed import descendants, high_water_mb, strings_of
from bench.generate import generate
from finetune_action.tokens import tokenizers

MODEL = "gpt-4o-mini-2024-07-18"
SETS = {
    "single (o200k_base)": (),
    "+ gpt-oss, Qwen3, Llama 3": ("o200k_harmony", "qwen3", "llama3"),
    "+ Qwen3, Llama 3, Mistral": ("qwen3", "llama3", "mistral-tekken"),
}
RUN = r"""
import json, sys
from pathlib import Path
from typing import NamedTuple
from finetune_action import check, config, models
path = Path(sys.argv[1])
report = check.check_data(config="", name="bench", model=models.resolve(sys.argv[2]), method="supervised",
                          train=(config.DataFile(path, path.name),), extra_tokenizers=tuple(sys.argv[3:]))
print(json.dumps({name: sum(c.training_tokens) for name, c in report.by_tokenizer.items()}))
"""


class Run(NamedTuple):
    seconds: float  # wall time
    cpu: float  # user + system seconds of the check and its workers
    peak_mb: float  # the highest peak RSS of any of its processes
    tokens: dict  # training tokens per tokenizer


def run_check(path: Path, extra: tuple[str, ...]) -> Run:
    peaks: dict[int, float] = {}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(path), MODEL, *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while True:
        for pid in descendants(proc.pid):
            peaks[pid] = max(peaks.get(pid, 0.0), high_water_mb(pid))
        # wait4 gives the CPU time of the check and of the workers it waited for.
        pid, _status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    return Run(seconds, usage.ru_utime + usage.ru_stime, max(peaks.values(), default=0.0), json.loads(proc.stdout.read()))


def floors(path: Path, names: dict[str, str]) -> dict[str, float]:
    """Seconds of an encode_ordinary loop over every string value, per vocabulary, halved for two cores."""
    found: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            strings_of(json.loads(line), found)
    seconds = {}
    for vocabulary, name in sorted(names.items()):
        encode = tokenizers.get(name).encoding.encode_ordinary
        start = time.perf_counter()
        for text in found:
            encode(text)
        seconds[vocabulary] = (time.perf_counter() - start) / 2
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/finetune-bench"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"chat-{args.megabytes:g}mb.jsonl"
    if not path.exists():
        generate(path, args.megabytes)
    print(f"file: {path} ({path.stat().st_size / 1e6:.1f} MB), cores: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.2f}")
    compileall.compile_dir(Path(finetune_action.__file__).parent, quiet=1)

    # One tokenizer per vocabulary: tokenizers with the same counter tokenize alike.
    vocabularies = {tokenizers.get(n).counter: n for n in ("o200k_base", *(n for extra in SETS.values() for n in extra))}
    best = dict.fromkeys(SETS, float("inf"))
    cpu = dict.fromkeys(SETS, float("inf"))
    peak = dict.fromkeys(SETS, 0.0)
    floor = dict.fromkeys(vocabularies, float("inf"))
    totals: dict = {}
    for round in range(args.repeats):
        for label, extra in SETS.items():
            run = run_check(path, extra)
            best[label], cpu[label], peak[label] = min(best[label], run.seconds), min(cpu[label], run.cpu), max(peak[label], run.peak_mb)
            totals[label] = run.tokens
            print(f"  round {round + 1}: {label} {run.seconds:.2f} s, {run.cpu:.2f} s CPU, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        for name, seconds in floors(path, vocabularies).items():
            floor[name] = min(floor[name], seconds)

    single, single_cpu = best["single (o200k_base)"], cpu["single (o200k_base)"]
    for label, extra in SETS.items():
        vocabulary_floor = sum(floor[n] for n in {"o200k_base", *(tokenizers.get(n).counter for n in extra)})
        print(f"  {label:<28} {best[label]:6.2f} s = {best[label] / single:4.2f}x the single check (target <= 2.5); "
              f"CPU {cpu[label]:6.2f} s = {cpu[label] / single_cpu:4.2f}x; floor of its vocabularies {vocabulary_floor:5.2f} s, "
              f"ours / floor {vocabulary_floor / best[label]:.2f}x; peak RSS {peak[label]:.0f} MB")
        print(f"    training tokens per tokenizer (no limit): {totals[label]}")
    print(f"  floor per vocabulary (loop / 2): {', '.join(f'{n} {s:.2f} s' for n, s in sorted(floor.items()))}")


if __name__ == "__main__":
    main()
