"""Scanning files: parallel workers give exactly what one process gives; memory-bounded problem lists."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_action.dataset import validate

RULES = validate.Rules("chat", "supervised", "o200k_base", False, 40)


def write(path: Path, count: int) -> Path:
    lines = []
    for i in range(count):
        if i % 97 == 5:
            lines.append("{not json")
        elif i % 89 == 7:
            lines.append("")
        else:
            messages = [{"role": "user", "content": f"question {i} " + "word " * (i % 40)}, {"role": "assistant", "content": f"answer {i}"}]
            lines.append(json.dumps({"messages": messages}, ensure_ascii=i % 2 == 0))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_parallel_scan_equals_single_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "data.jsonl", 3000)
    single = validate.scan_file(path, RULES, workers=1)
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(validate, "RANGE_MIN_BYTES", 4096)
    parallel = validate.scan_file(path, RULES, workers=2)
    assert parallel.lines == single.lines == 3000
    assert parallel.hashes == single.hashes
    assert parallel.example_lines == single.example_lines
    assert parallel.tokens == single.tokens
    assert parallel.assistant_tokens == single.assistant_tokens
    assert parallel.messages == single.messages
    assert parallel.problems == single.problems
    assert parallel.counts == single.counts
    assert single.counts["invalid-json"] == 31 and single.counts["blank-line"] == 34
    assert single.counts["example-truncated"] > 0


def test_problems_kept_per_code_are_capped_but_all_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("[]\n" * 50)
    monkeypatch.setattr(validate, "MAX_KEPT_PER_CODE", 10)
    scan = validate.scan_file(path, RULES, workers=1)
    assert len(scan.problems) == 10 and scan.counts["not-an-object"] == 50


def test_bom_only_on_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    example = json.dumps({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]})
    path.write_bytes(b"\xef\xbb\xbf" + example.encode() + b"\n" + b"\xef\xbb\xbf" + example.encode() + b"\n")
    scan = validate.scan_file(path, RULES, workers=1)
    assert [(p[0], p[2]) for p in scan.problems if p[2] != "missing-system"] == [(2, "invalid-json")]
