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


def test_special_tokens_are_reported_on_every_line_that_holds_one(tmp_path: Path) -> None:
    # The counter remembers strings it has counted; text holding `<|` must still be seen on
    # every line, whether long, short, escaped, in a name, a tool call or a tool definition.
    long_prompt = "You are a support agent. Never print <|endoftext|> to the customer, ever."
    tools = [{"type": "function", "function": {"name": "f", "description": "stops at <|endofprompt|>", "parameters": {"type": "object"}}}]
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": "<|endoftext|>"}'}}

    def example(*messages: dict, **extra: object) -> str:
        return json.dumps({"messages": [{"role": "user", "content": "hi"}, *messages], **extra})

    answer = {"role": "assistant", "content": "ok"}
    lines = [
        example({"role": "assistant", "content": long_prompt}),
        example({"role": "assistant", "content": long_prompt}),
        example({"role": "assistant", "content": "<|endofprompt|>"}),
        example({"role": "assistant", "content": "<|endofprompt|>"}),
        example(answer, tools=tools),
        example(answer, tools=tools),
        example({"role": "assistant", "content": "escaped <|endoftext|>"}).replace("<", "\\u003c"),
        example(answer, tools=[{**tools[0], "function": {**tools[0]["function"], "description": "clean"}}]),
        example({"role": "assistant", "content": "ok", "name": "<|endoftext|>"}),
        example({"role": "assistant", "tool_calls": [call]}, {"role": "tool", "tool_call_id": "c1", "content": "done"}, answer),
        example({"role": "assistant", "content": "<| not a special token"}),
    ]
    path = tmp_path / "special.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scan = validate.scan_file(path, RULES._replace(example_token_limit=None), workers=1)
    found = [(p[0], p[3].split(",")[0]) for p in scan.problems if p[2] == "special-token"]
    assert found == [
        (1, "contains <|endoftext|>"),
        (2, "contains <|endoftext|>"),
        (3, "contains <|endofprompt|>"),
        (4, "contains <|endofprompt|>"),
        (5, "contains <|endofprompt|>"),
        (6, "contains <|endofprompt|>"),
        (7, "contains <|endoftext|>"),
        (9, "contains <|endoftext|>"),
        (10, "contains <|endoftext|>"),
    ]


def test_special_tokens_in_reinforcement_grader_fields(tmp_path: Path) -> None:
    # Free grader fields are not counted, so the raw line is searched for them.
    messages = [{"role": "user", "content": "2+2?"}]
    path = tmp_path / "rft.jsonl"
    path.write_text(json.dumps({"messages": messages, "reference": "<|endoftext|>"}) + "\n" + json.dumps({"messages": messages, "reference": "4"}) + "\n")
    rules = validate.Rules("reinforcement", "reinforcement", "o200k_base", False, None)
    scan = validate.scan_file(path, rules, workers=1)
    assert [p[0] for p in scan.problems if p[2] == "special-token"] == [1]
