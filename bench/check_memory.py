"""Peak memory of `finetune check` on the data shapes that grow it: the target is < 200 MB per process.

Run: python -m bench.check_memory [--workdir /tmp/finetune-bench]

Two files, each checked by `finetune check` in a subprocess while VmHWM of it and its workers
is sampled from /proc (bench.check_speed.run_ours):
- long documents: 8,000 examples whose user message is a distinct ~30,000-character document
  (RAG-style data, about 270 MB): what the token counter remembers must stay bounded;
- repeated: the 200 MB benchmark file written five times over (1 GB, 384k examples, 307k of
  them duplicates): per-example figures, duplicate detection and the kept problems.
Not a test: the figures depend on the machine; the target does not.
"""
from __future__ import annotations

import argparse
import compileall
import json
import random
import sys
from pathlib import Path

import finetune_action
from bench.check_speed import run_ours
from bench.generate import generate

TARGET_MB = 200
WORDS = "the a of to and in contract clause section party payment term notice invoice delivery warranty liability".split()


def long_documents(path: Path, examples: int = 8000, words: int = 5000) -> None:
    rng = random.Random(7)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(examples):
            document = " ".join(rng.choices(WORDS, k=words))
            messages = [
                {"role": "system", "content": "Answer from the document only."},
                {"role": "user", "content": f"Document {i}:\n{document}\n\nWho pays the invoice?"},
                {"role": "assistant", "content": f"The party named in section {i % 17}."},
            ]
            f.write(json.dumps({"messages": messages}) + "\n")


def repeated(path: Path, source: Path, times: int = 5) -> None:
    with open(path, "wb") as f:
        for _ in range(times):
            f.write(source.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/finetune-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    compileall.compile_dir(Path(finetune_action.__file__).parent, quiet=1)  # as pip installs it

    source = args.workdir / "chat-200mb.jsonl"
    if not source.exists():
        print(f"generating {source} ...", file=sys.stderr)
        generate(source, 200)
    files = {"long documents": args.workdir / "long-documents.jsonl", "repeated 5x": args.workdir / "repeated-1gb.jsonl"}
    if not files["long documents"].exists():
        long_documents(files["long documents"])
    if not files["repeated 5x"].exists():
        repeated(files["repeated 5x"], source)

    worst = 0.0
    for name, path in files.items():
        seconds, peaks, report = run_ours(path)
        config = report["configs"][0]
        ordered = sorted(peaks.values(), reverse=True)
        worst = max(worst, ordered[0])
        print(
            f"  {name:<15} {path.stat().st_size / 1e6:7.0f} MB, {config['examples']:>7} examples, {seconds:6.2f} s; "
            f"peak RSS per process (MB): {', '.join(f'{p:.0f}' for p in ordered)}; "
            f"problems counted: {sum(config['problem_counts'].values())}, kept: {len(config['errors']) + len(config['warnings'])}"
        )
    print(f"  worst process: {worst:.0f} MB (target: each < {TARGET_MB} MB) -> {'met' if worst < TARGET_MB else 'NOT MET'}")


if __name__ == "__main__":
    main()
