"""Benchmark the secrets and personal-data scan: `finetune check` with it on against `scan: off`.

Run: python bench/scan_speed.py [--megabytes 200] [--workdir /tmp/finetune-bench] [--repeats 3]

Both runs check the same generated chat file (bench/generate.py) through a finetune.yaml in
the work directory, alternately, in subprocesses: wall time, CPU time (user + system of the
process and its workers: steadier than wall time when other work shares the machine) and the
peak RSS of every finetune process (sampled VmHWM), each figure the best of its rounds. The file holds no
secret and no personal data, so every finding would be a false positive: their count is
printed too. Not a test: the machine may be shared, so read the ratio, not the seconds.
"""
from __future__ import annotations

import resource
import sys
from pathlib import Path

import yaml

from bench.check_speed import MODEL, prepare, run_ours


def write_config(workdir: Path, data: Path, scan: object) -> Path:
    config = workdir / ("finetune.yaml" if scan is None else "finetune-scan-off.yaml")
    document = {"version": 1, "name": "bench", "model": MODEL, "data": {"train": data.name}}
    if scan is not None:
        document["scan"] = scan
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    return config


def main() -> None:
    args, path, size_mb = prepare(__doc__)
    on_config, off_config = write_config(args.workdir, path, None), write_config(args.workdir, path, "off")

    best = {"on": float("inf"), "off": float("inf")}
    cpu = {"on": float("inf"), "off": float("inf")}
    peaks: dict[str, list[float]] = {"on": [], "off": []}
    findings = 0
    for round in range(args.repeats):
        # Alternate which goes first: other work on the machine comes and goes.
        for mode in (("off", "on") if round % 2 == 0 else ("on", "off")):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds, per_process, report = run_ours(path, [str(on_config if mode == "on" else off_config)])
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers' time reaches us through their parent
            used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            best[mode] = min(best[mode], seconds)
            cpu[mode] = min(cpu[mode], used)
            peaks[mode].extend(per_process.values())
            if mode == "on":
                counts = report["configs"][0]["problem_counts"]
                findings = counts.get("secret-in-data", 0) + counts.get("personal-data", 0)
            print(f"  round {round + 1}: scan {mode} {seconds:.2f} s, CPU {used:.2f} s", file=sys.stderr)
    for mode in ("off", "on"):
        top = ", ".join(f"{p:.0f}" for p in sorted(peaks[mode], reverse=True)[:3])
        print(f"  check with scan {mode:<3} {best[mode]:8.2f} s {size_mb / best[mode]:8.1f} MB/s   CPU {cpu[mode]:8.2f} s   peak RSS per process (MB): {top}")
    print(f"  scan on / scan off throughput: {best['off'] / best['on']:.2f}x by wall time, {cpu['off'] / cpu['on']:.2f}x by CPU time (target >= 0.7)")
    print(f"  findings in the benchmark file (all false positives): {findings}")


if __name__ == "__main__":
    main()
