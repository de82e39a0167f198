"""Scanning files: parallel workers give exactly what one process gives; memory-bounded problem lists."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_action.dataset import validate
from finetune_action.tokens import tokenizers

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
    kept = [line.encode() for line in path.read_text("utf-8").splitlines() if line and line != "{not json"]
    assert single.hashes == b"".join(validate.example_hash(line) for line in kept)


def test_problems_kept_per_code_are_capped_but_all_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("[]\n" * 50)
    monkeypatch.setattr(validate, "MAX_KEPT_PER_CODE", 10)
    scan = validate.scan_file(path, RULES, workers=1)
    assert len(scan.problems) == 10 and scan.counts["not-an-object"] == 50


def test_merge_shifts_example_lines_and_keeps_the_cap_across_problem_free_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    # A warm review merges a part per run of known lines: most have no problems (not recounted)
    # and every line an example (shifted as a range); both must give what the general path gives.
    from array import array

    monkeypatch.setattr(validate, "MAX_KEPT_PER_CODE", 3)
    every = validate.empty_scan(0)._replace(lines=4)
    every.example_lines.extend([1, 2, 3, 4])
    gaps = validate.empty_scan(0)._replace(lines=4)
    gaps.example_lines.extend([1, 2, 4])  # line 3 blank
    last_not_an_example = validate.empty_scan(0)._replace(lines=3)
    last_not_an_example.example_lines.extend([1, 2])
    bad = validate.empty_scan(0)._replace(lines=2)
    bad.problems.extend([(1, "error", "invalid-json", "m"), (2, "error", "invalid-json", "m")])
    merged = validate.empty_scan(0)
    for part in (every, bad, gaps, bad, last_not_an_example, every):
        merged = validate._merge(merged, part)
    assert merged.lines == 19
    assert merged.example_lines == array("I", [1, 2, 3, 4, 7, 8, 10, 13, 14, 16, 17, 18, 19])
    assert [p[0] for p in merged.problems] == [5, 6, 11]  # the fourth is over the cap of 3


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


def test_common_chat_shortcut_equals_the_general_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # validate._common_chat checks and counts the common example shapes in one pass; every
    # shape at or near its edges must come out exactly as formats.check + count.example_tokens say.
    system, user, assistant = ({"role": r, "content": f"{r} text, with some words"} for r in ("system", "user", "assistant"))
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Find it.", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]

    def call(call_id: str = "call_1", arguments: object = '{"q": "x"}', **changes: object) -> dict:
        return {"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": arguments}, **changes}

    def calling(*calls: dict) -> dict:
        return {"role": "assistant", "tool_calls": list(calls)}

    def answer(call_id: str = "call_1", content: object = '{"found": true}', **changes: object) -> dict:
        return {"role": "tool", "tool_call_id": call_id, "content": content, **changes}

    conversations = [
        # shortcut shapes
        [system, user, assistant],
        [user, assistant, user, assistant],
        [system, user],
        [system, assistant],
        [assistant],
        [system, user, calling(call()), answer(), assistant],
        [system, user, calling(call("a"), call("b")), answer("b"), answer("a", content=""), assistant],
        [system, user, calling(call(arguments='{"q": "<|endoftext|>"}')), answer()],
        # general path: not the shapes, or problems in them
        [system, {"role": "user", "content": ""}, assistant],
        [system, user, {"role": "assistant", "content": "x", "weight": 0}],
        [system, user, {"role": "assistant", "content": None}],
        [system, user, {"role": "assistant", "content": [{"type": "text", "text": "part"}]}],
        [system, {"role": "developer", "content": "d"}, user, assistant],
        [system, {"role": "user", "content": "u", "name": "n"}, assistant],
        [system, {"content": "no role"}, assistant],
        [system, "not a message", assistant],
        [],
        [system, user, answer(), assistant],
        [system, user, calling(call()), answer("other"), assistant],
        [system, user, calling(call()), answer(content=["part"]), assistant],
        [system, user, calling(call()), answer(name="lookup"), assistant],
        [system, user, calling(call()), {"role": "tool", "content": "no id"}, assistant],
        [system, user, {**calling(call()), "content": "and text"}, answer(), assistant],
        [system, user, calling(), assistant],
        [system, user, {"role": "user", "tool_calls": [call()]}, assistant],
        [system, user, calling(call(extra=1)), answer(), assistant],
        [system, user, calling(call(type="code")), answer(), assistant],
        [system, user, calling(call(call_id=7)), assistant],
        [system, user, calling({**call(), "function": {"name": "", "arguments": "{}"}}), answer(), assistant],
        [system, user, calling({**call(), "function": {"name": "lookup", "arguments": "{}", "strict": True}}), answer(), assistant],
        [system, user, calling(call(arguments="{not json")), answer(), assistant],
        [system, user, calling(call(arguments={"q": "x"})), answer(), assistant],
        [system, user, calling(call(arguments="NaN")), answer(), assistant],  # json's leniency decides
        [system, user, calling(call(arguments=str(2**70))), answer(), assistant],  # valid: the shortcut takes it
        [system, user, calling(call(arguments="[" * 5000 + "]" * 5000)), answer(), assistant],
    ]
    lines = [json.dumps({"messages": messages}) for messages in conversations]
    tooled = [system, user, calling(call()), answer(), assistant]
    lines += [
        json.dumps({"messages": tooled, "tools": tools}),  # shortcut
        json.dumps({"messages": tooled, "tools": tools, "parallel_tool_calls": True}),  # shortcut
        json.dumps({"messages": [system, user, assistant], "tools": []}),  # shortcut
        json.dumps({"messages": [system, user, assistant], "tools": None}),  # shortcut
        json.dumps({"messages": tooled, "tools": [{"type": "function", "function": {"name": "stop <|endofprompt|>"}}]}),  # shortcut
        json.dumps({"messages": tooled, "tools": [{"type": "function", "function": {"description": "no name"}}]}),
        json.dumps({"messages": tooled, "tools": {"not": "a list"}}),
        json.dumps({"messages": tooled, "tools": tools, "parallel_tool_calls": "yes"}),
        json.dumps({"messages": tooled, "functions": [{"name": "lookup"}]}),
        json.dumps({"messages": tooled, "metadata": {}}),
        json.dumps({"messages": "text"}),
        json.dumps({"prompt": "p", "completion": "c"}),
    ]
    path = tmp_path / "edges.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rules = RULES._replace(example_token_limit=40)
    shortcut = validate.scan_file(path, rules, workers=1)
    counter = validate._counter(tokenizers.get(rules.encoding))
    taken = [validate._common_chat(json.loads(line), counter) is not None for line in lines]
    assert sum(taken) == 8 + 1 + 5
    only_shortcut = tmp_path / "tooled.jsonl"
    only_shortcut.write_text(json.dumps({"messages": tooled, "tools": tools}) + "\n", encoding="utf-8")
    assert validate.scan_file(only_shortcut, rules, workers=1).features == {"tools"}
    monkeypatch.setattr(validate, "_common_chat", lambda example, count: None)
    general = validate.scan_file(path, rules, workers=1)
    assert shortcut == general
    codes = {code for _line, _column, code, _message in general.problems}
    assert codes >= {"missing-system", "missing-user", "no-trainable-assistant", "mixed-formats", "example-truncated", "special-token",
                     "unknown-tool-call-id", "invalid-tool-call", "invalid-tool-arguments", "invalid-tool", "unknown-key", "wrong-type"}
    assert general.features == {"tools", "functions"}


def test_a_simple_templates_count_is_arithmetic_on_the_chat_rules_for_every_template() -> None:
    # validate.alike_tokens stands in for count.templated_chat_tokens where a template over the
    # configured vocabulary counts a common example; held equal for every simple template we
    # have (o200k_harmony is the one over an OpenAI vocabulary today), on each vocabulary's own counter.
    from bench import generate
    from finetune_action.tokens import count
    import random

    rng = random.Random(3)
    systems = [generate.paragraph(rng, 1, 3) for _ in range(4)]
    examples = [generate.example(rng, systems, n) for n in range(300)]
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    examples += [
        {"messages": [{"role": "user", "content": "no system"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "last"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call]}, {"role": "tool", "tool_call_id": "c1", "content": "r"}]},
    ]
    simple = [name for name in tokenizers.names() if validate.alike_simple(tokenizers.get(name).template)]
    assert "o200k_harmony" in simple
    checked = 0
    for name in simple:
        tokenizer = tokenizers.get(name)
        counter = count.make_counter(tokenizer.encoding, normalize=tokenizer.normalize)
        for example in examples:
            common = validate._common_chat(example, counter)
            if common is None or (tokenizer.template.leads and common[4].system_space):
                continue
            expected = count.templated_chat_tokens(example["messages"], example.get("tools"), counter, tokenizer.template).total
            assert validate.alike_tokens(common[0], example["messages"], common[4], tokenizer.template) == expected, (name, example)
            checked += 1
    assert checked > 300


BAD_SHAPES = [
    '{"messages":[{"role":["user"],"content":"hi"},{"role":"assistant","content":"x"}]}',
    '{"messages":[{"role":{"a":1},"content":"hi"},{"role":"assistant","content":"x"}]}',
    '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},'
    '{"role":"tool","tool_call_id":{"a":1},"content":"x"},{"role":"assistant","content":"ok"}]}',
    '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"x"}],"x":1' + "0" * 4400 + "}",
]


@pytest.mark.parametrize("model", ["gpt-4.1-mini-2025-04-14", "openai/gpt-oss-20b --provider together", "Qwen/Qwen3-8B --provider together"])
def test_values_of_the_wrong_shape_are_problems_for_every_tokenizer(tmp_path: Path, model: str) -> None:
    # A list or object role with a chat-template model, a tool_call_id that is an object, and an
    # integer of more than 4,300 digits were each an "unexpected TypeError/ValueError" that ended the check.
    from testing.repo import run_finetune

    (tmp_path / "data.jsonl").write_text("\n".join(BAD_SHAPES) + "\n")
    result = run_finetune("check", "--data", "data.jsonl", "--model", *model.split(), "--format", "json", cwd=tmp_path, env={"FINETUNE_TODAY": "2026-07-01"})
    assert result.returncode == 1 and "unexpected" not in result.stderr, result.stderr
    found = {(e["line"], e["code"]) for e in json.loads(result.stdout)["configs"][0]["errors"]}
    assert {(1, "invalid-role"), (2, "invalid-role"), (3, "wrong-type"), (4, "invalid-json")} <= found
