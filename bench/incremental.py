"""A review whose cost follows the change: a big dataset whose pull request changes 1% of its lines.

Run: python -m bench.incremental [--megabytes 1000] [--rounds 2] [--workdir /tmp/finetune-incremental]

Setup (kept in the workdir for later runs): the benchmark's chat data (bench/generate.py), a
git repository whose base commit has it as data/train.jsonl and whose `feature` branch changes
every 100th line, and the results cache the base branch's own run leaves (a review run in a
worktree of the base commit, as the check of the pull request that made it, or of a push to
main, would leave it for actions/cache to save).

Measured, alternately, each in its own process with the peak RSS of every process sampled:
- head alone: `check` of the head's config without any results layer (the check as it was);
- review cold: head and base reviewed with no cache to restore (the base's unchanged lines
  are still not scanned twice: the head's run already knows them);
- review warm: the same with the base branch's cache restored;
- changed lines alone: `check` of a file holding only the head's edited lines, no cache: what
  no cache can spare a warm review (their tokenizing and scanning, the tokenizer and scan rules
  loaded for them, the process's start), beside which the warm review's own overhead shows.
Also measured: how fast the head's chunks of 8 lines hash with sha256 and with keyed BLAKE3
(what the cache keys chunks with), side by side in one process; and how long merging a warm
review's runs of known lines takes when the dataset already has problems at their cap.
Not a test: read the ratios. Targets: warm at least 20x faster than cold; cold at most 1.2x
the head alone; every process under 200 MB.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.check_speed import descendants, high_water_mb
from bench.generate import generate

CONFIG = "version: 1\nname: big\nmodel: gpt-4.1-mini-2025-04-14\ndata:\n  train: data/train.jsonl\n"
CHANGE_EVERY = 100


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "core.compression=1", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def changed(line: bytes) -> bytes:
    """The example with its last message's text edited, as a pull request would."""
    example = json.loads(line)
    last = example["messages"][-1]
    last["content"] = f"{last.get('content') or ''} (revised)"
    return json.dumps(example, ensure_ascii=False).encode() + b"\n"


def changed_alone(workdir: Path, repo: Path) -> Path:
    """A directory whose finetune.yaml names a file of only the head's edited lines (made once)."""
    alone = workdir / "changed"
    if not (alone / "finetune.yaml").exists():
        (alone / "data").mkdir(parents=True, exist_ok=True)
        with open(repo / "data" / "train.jsonl", "rb") as f, open(alone / "data" / "train.jsonl", "wb") as out:
            out.writelines(line for number, line in enumerate(f) if number % CHANGE_EVERY == CHANGE_EVERY // 2)
        (alone / "finetune.yaml").write_text(CONFIG)
    return alone


def prepare(workdir: Path, megabytes: float) -> tuple[Path, Path, str]:
    """(the pull request's checkout, the base commit's checkout, the base sha)."""
    repo, base_tree = workdir / "repo", workdir / "base"
    if (workdir / "ready").exists():
        return repo, base_tree, (workdir / "ready").read_text().strip()
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(base_tree, ignore_errors=True)
    (repo / "data").mkdir(parents=True)
    print(f"generating {megabytes:.0f} MB ...", file=sys.stderr)
    generate(repo / "data" / "train.jsonl", megabytes)
    (repo / "finetune.yaml").write_text(CONFIG)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    source = repo / "data" / "train.jsonl"
    edited = repo / "data" / "train.jsonl.new"
    with open(source, "rb") as f, open(edited, "wb") as out:
        for number, line in enumerate(f):
            out.write(changed(line) if number % CHANGE_EVERY == CHANGE_EVERY // 2 else line)
    edited.replace(source)
    git(repo, "add", ".")
    git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "1% of the lines edited")
    git(repo, "worktree", "add", "-q", "--detach", str(base_tree), base)
    (workdir / "ready").write_text(base)
    return repo, base_tree, base


def measure(command: list[str]) -> tuple[float, float, list[float], str]:
    """(seconds, the measured process's peak RSS in MB, that of each process it started, stdout).

    The processes it started are its workers and git (the base's data file written out of git).
    """
    peaks: dict[int, float] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while proc.poll() is None:
        for pid in descendants(proc.pid):
            peaks[pid] = max(peaks.get(pid, 0.0), high_water_mb(pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-3000:]}")
    parent = peaks.pop(proc.pid, 0.0)
    return seconds, parent, sorted(peaks.values(), reverse=True), out.decode()


def driver(kind: str, repo: Path, base: str, cache: str | None) -> None:
    """What one measured process does (run as `python -m bench.incremental --driver ...`)."""
    from finetune_action import check, config, git as gitmod, review
    from finetune_action.dataset import results

    if kind == "head":
        report = check.check_config(config.load(repo / "finetune.yaml", root=repo))
        print(json.dumps({"examples": report.examples, "billed_tokens": report.billed_tokens}))
        return
    with results.session(cache, log=lambda line: print(line, file=sys.stderr)):
        built = review.build(["finetune.yaml"], repo, base=gitmod.Base(base, "bench"))
    [entry] = built["configs"]
    print(json.dumps({"examples": entry["head"]["examples"], "billed_tokens": entry["head"]["billed_tokens"], "changed": entry["diff"]["examples_changed"]}))


def chunk_hashing(path: Path, megabytes: float = 256) -> dict[str, float]:
    """GB/s of each hash the results cache could key the head's chunks with (8 lines each, as
    dataset/results.py cuts them), over the first `megabytes` of `path`, side by side."""
    import hashlib

    import blake3

    from finetune_action.dataset import results

    with open(path, "rb") as f:
        data = f.read(int(megabytes * 1e6))
    lines = data.splitlines(keepends=True)
    chunks = [b"".join(lines[at : at + results.CHUNK_LINES]) for at in range(0, len(lines), results.CHUNK_LINES)]
    key = results.chunk_digest_key(b"rules")
    seed = hashlib.sha256(b"rules")

    def with_sha256(chunk: bytes) -> bytes:
        hashing = seed.copy()
        hashing.update(chunk)
        return hashing.digest()

    ways = {"sha256": with_sha256, "blake3 (keyed)": lambda chunk: blake3.blake3(chunk, key=key).digest(results.KEY_BYTES)}
    size = sum(map(len, chunks))
    best = dict.fromkeys(ways, 0.0)
    for _round in range(3):  # alternately, best of 3
        for name, digest in ways.items():
            start = time.perf_counter()
            for chunk in chunks:
                digest(chunk)
            best[name] = max(best[name], size / (time.perf_counter() - start) / 1e9)
    return best


def merging(runs: int = 8000, codes: int = 5) -> float:
    """Seconds to merge `runs` problem-free runs of 100 example lines each (what a warm review
    merges for the benchmark's 1% edit) into a scan already holding MAX_KEPT_PER_CODE kept
    problems for each of `codes` codes: a dirty dataset's warm review."""
    from finetune_action.dataset import validate

    into = validate.empty_scan(0)
    into.problems.extend((line, "error", f"code-{line % codes}", "m") for line in range(validate.MAX_KEPT_PER_CODE * codes))
    part = validate.empty_scan(0)._replace(lines=100)
    part.example_lines.extend(range(1, 101))
    start = time.perf_counter()
    for _run in range(runs):
        into = validate._merge(into, part)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/finetune-incremental"))
    parser.add_argument("--driver", choices=("head", "review"), help=argparse.SUPPRESS)
    parser.add_argument("--repo", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        driver(args.driver, args.repo, args.base, args.cache)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    repo, base_tree, base = prepare(args.workdir, args.megabytes)
    alone = changed_alone(args.workdir, repo)
    me = [sys.executable, "-m", "bench.incremental", "--base", base]
    base_cache = args.workdir / "base-branch.cache"
    from finetune_action.dataset import results

    if results.load(base_cache, None) is None:  # none yet, or written by other scanning code (its fingerprint)
        print("the base branch's own run, leaving its results cache ...", file=sys.stderr)
        measure([*me, "--driver", "review", "--repo", str(base_tree), "--cache", str(base_cache)])
    size = (repo / "data" / "train.jsonl").stat().st_size
    print(f"{size / 1e6:.0f} MB, every {CHANGE_EVERY}th line edited; base-branch cache {base_cache.stat().st_size / 1e6:.1f} MB")
    speeds = chunk_hashing(repo / "data" / "train.jsonl")
    print("hashing the head's chunks of 8 lines: " + ", ".join(f"{name} {speed:.2f} GB/s" for name, speed in speeds.items()))
    print(f"merging 8,000 problem-free runs into a scan holding 5 codes' kept problems: {merging():.3f} s")
    best: dict[str, float] = {}
    peak = 0.0
    for round_number in range(1, args.rounds + 1):
        for name in ("head alone", "review cold", "review warm", "changed alone"):
            cache = args.workdir / "restored.cache"
            cache.unlink(missing_ok=True)
            if name == "review warm":
                shutil.copy(base_cache, cache)  # what actions/cache restores from the base branch
            reviewed = name.startswith("review")
            command = [*me, "--driver", "review" if reviewed else "head", "--repo", str(alone if name == "changed alone" else repo)]
            if reviewed:
                command += ["--cache", str(cache)]
            seconds, parent, children, out = measure(command)
            best[name] = min(best.get(name, seconds), seconds)
            peak = max(peak, parent, *children)
            with open("/proc/loadavg") as load:
                loads = " / ".join(load.read().split()[:3])
            print(
                f"round {round_number}  {name:12s} {seconds:7.2f} s  peak RSS {parent:.0f} MB, its processes {', '.join(f'{p:.0f}' for p in children)} MB"
                f"  load {loads}  {out.strip()}"
            )
    print(f"\nbest: head alone {best['head alone']:.2f} s, review cold {best['review cold']:.2f} s, review warm {best['review warm']:.2f} s, changed lines alone {best['changed alone']:.2f} s")
    print(f"cold / warm {best['review cold'] / best['review warm']:.1f}x (target >= 20x); cold / head alone {best['review cold'] / best['head alone']:.2f}x (target <= 1.2x); peak RSS {peak:.0f} MB (target < 200)")
    print(
        f"20x needs the warm review in {best['review cold'] / 20:.2f} s; the changed lines alone take {best['changed alone']:.2f} s, "
        f"so the warm review's own overhead (reading and hashing the head, the cache, the checks of every example on both sides) is {best['review warm'] - best['changed alone']:.2f} s"
    )


if __name__ == "__main__":
    main()
