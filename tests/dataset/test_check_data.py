"""The orchestrator in-process: what the PR diff needs (hashes) and what the CLI cannot reach."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from finetune_action import check, config, models

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def run(train: list[Path], split: config.Split | None = None, model: str = "gpt-4o-mini") -> check.ConfigReport:
    return check.check_data(
        config="",
        name="t",
        model=models.resolve(model),
        method="supervised",
        train=tuple(config.DataFile(p, p.name) for p in train),
        split=split,
        workers=1,
    )


def test_hashes_are_the_first_8_bytes_of_sha256_of_each_example_line_in_order() -> None:
    path = DATA / "good" / "chat.jsonl"
    report = run([path])
    lines = path.read_bytes().splitlines()
    assert list(report.files[0].hashes()) == [hashlib.sha256(line).digest()[:8] for line in lines]
    assert len(report.files[0].example_hashes) == 8 * len(lines)


def test_unreadable_file_is_a_data_error(tmp_path: Path) -> None:
    report = run([tmp_path])  # a directory where a file should be
    assert [p.code for p in report.errors] == ["unreadable-file", "too-few-examples"]
    assert report.files[0].examples == 0


def test_split_is_deterministic_and_by_content(tmp_path: Path) -> None:
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}) for i in range(200)]
    first = tmp_path / "a.jsonl"
    first.write_text("\n".join(lines) + "\n")
    second = tmp_path / "b.jsonl"
    second.write_text("\n".join(reversed(lines)) + "\n")
    split = config.Split(0.2, 11)
    a, b = run([first], split), run([second], split)
    assert a.validation_examples == b.validation_examples
    assert 20 < a.validation_examples < 60
    assert a.examples + a.validation_examples == 200
    assert a.billed_tokens_per_epoch == b.billed_tokens_per_epoch
    moved = [h for h in a.files[0].hashes() if check.in_validation(h, split)]
    assert len(moved) == a.validation_examples


def test_unknown_models_are_not_refused_images() -> None:
    report = run([DATA / "good" / "vision.jsonl"], model="my-vision-model")
    assert report.errors == ()
    assert [w.code for w in report.warnings] == ["unknown-model", "few-examples"]
    assert report.estimated_cost_usd is None and report.price is None
