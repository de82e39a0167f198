"""The secrets and personal-data scan inside the check: every trained field, the right line and path, nothing echoed."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from finetune_action.dataset import personal, scan, secrets, validate
from testing import planted

PLANTED = {**planted.secrets(), **planted.personal()}


def value_of(text: str) -> str:
    """The value the scan finds in a planted sentence (what must never be shown)."""
    found = secrets.find(text) or personal.find(text)
    assert found, text
    return found[0].value


def _chat(value: str) -> list[tuple[dict, str]]:
    base = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]

    def at(index: int, **fields) -> list[dict]:
        messages = [dict(m) for m in base]
        messages[index].update(fields)
        return messages

    call = {"id": "call_1", "type": "function", "function": {"name": "save_note", "arguments": json.dumps({"note": value})}}
    tool = {"type": "function", "function": {"name": "save_note", "description": value, "parameters": {"type": "object", "properties": {"note": {"type": "string", "description": value}}}}}
    return [
        ({"messages": at(0, content=value)}, "messages[0].content"),
        ({"messages": at(1, content=value)}, "messages[1].content"),
        ({"messages": at(2, content=value)}, "messages[2].content"),
        ({"messages": at(1, content=[{"type": "text", "text": value}])}, "messages[1].content[0].text"),
        ({"messages": at(2, content=[{"type": "refusal", "refusal": value}])}, "messages[2].content[0].refusal"),
        ({"messages": at(1, name=value)}, "messages[1].name"),
        ({"messages": [*base[:2], {"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "tool", "tool_call_id": "call_1", "content": "ok"}, base[2]]}, "messages[2].tool_calls[0].function.arguments"),
        ({"messages": [*base[:2], {"role": "assistant", "tool_calls": [call]}, {"role": "tool", "tool_call_id": "call_1", "content": value}, base[2]]}, "messages[3].content"),
        ({"messages": at(2, content=None, function_call={"name": "save_note", "arguments": json.dumps({"note": value})})}, "messages[2].function_call.arguments"),
        ({"messages": base, "tools": [tool]}, "tools[0].function.description"),
        ({"messages": base, "tools": [tool]}, "tools[0].function.parameters.properties.note.description"),
        ({"messages": base, "functions": [tool["function"]]}, "functions[0].description"),
    ]


def _preference(value: str) -> list[tuple[dict, str]]:
    given = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
    good, bad = [{"role": "assistant", "content": "Hello."}], [{"role": "assistant", "content": "Go away."}]
    tool = {"type": "function", "function": {"name": "save_note", "description": value, "parameters": {}}}
    return [
        ({"input": {"messages": [given["messages"][0], {"role": "user", "content": value}]}, "preferred_output": good, "non_preferred_output": bad}, "input.messages[1].content"),
        ({"input": given, "preferred_output": [{"role": "assistant", "content": value}], "non_preferred_output": bad}, "preferred_output[0].content"),
        ({"input": given, "preferred_output": good, "non_preferred_output": [{"role": "assistant", "content": value}]}, "non_preferred_output[0].content"),
        ({"input": {**given, "tools": [tool]}, "preferred_output": good, "non_preferred_output": bad}, "input.tools[0].function.description"),
    ]


def _reinforcement(value: str) -> list[tuple[dict, str]]:
    messages = [{"role": "developer", "content": "Answer with a number."}, {"role": "user", "content": "2 + 2?"}]
    return [
        ({"messages": [messages[0], {"role": "user", "content": value}]}, "messages[1].content"),
        ({"messages": messages, "reference_answer": value}, "reference_answer"),
        ({"messages": messages, "grading": {"notes": ["fine", value]}}, "grading.notes[1]"),
    ]


def _completion(value: str) -> list[tuple[dict, str]]:
    return [({"prompt": value, "completion": " ok"}, "prompt"), ({"prompt": "Say hi", "completion": value}, "completion")]


FIELDS: dict[str, tuple[str, Callable[[str], list[tuple[dict, str]]]]] = {
    "chat": ("supervised", _chat),
    "preference": ("dpo", _preference),
    "reinforcement": ("reinforcement", _reinforcement),
    "completion": ("supervised", _completion),
}


def scan_lines(tmp_path: Path, format: str, examples: list[dict], rules: scan.ScanRules = scan.ScanRules(), workers: int = 1, extra: tuple[str, ...] = ()) -> validate.Scan:
    path = tmp_path / f"{format}.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), encoding="utf-8")
    method = FIELDS[format][0]
    return validate.scan_file(path, validate.Rules(format, method, "o200k_base", False, None, rules, extra), workers=workers)


def scan_problems(found: validate.Scan) -> list[tuple]:
    return [p for p in found.problems if p[2] in (scan.SECRET_CODE, scan.PERSONAL_CODE)]


@pytest.mark.parametrize("format", FIELDS)
def test_every_planted_value_is_found_in_every_field_at_its_line_and_path(tmp_path: Path, format: str) -> None:
    expected = []
    examples = []
    for label, text in PLANTED.items():
        for example, path in FIELDS[format][1](text):
            examples.append(example)
            expected.append((len(examples), path, label))
    found = scan_problems(scan_lines(tmp_path, format, examples))
    got = {(line, message.split(": ", 1)[0]) for line, _column, _code, message, _level in found}
    missing = [(line, path, label) for line, path, label in expected if (line, path) not in got]
    assert missing == [], missing
    for line, path, label in expected:
        messages = [m for n, _c, _code, m, _l in found if n == line and m.startswith(path + ":")]
        assert len(messages) == 1 and (f"({label}," in messages[0] or label in messages[0] or scan._NAMES.get(label, "?") in messages[0]), (path, label, messages)
    levels = {label: level for _n, _c, code, _m, level in found for label in [code]}
    assert levels == {scan.SECRET_CODE: "error", scan.PERSONAL_CODE: "warning"}
    shown = "\n".join(m for *_rest, m, _l in found)
    for text in PLANTED.values():
        assert value_of(text) not in shown


def test_look_alikes_are_not_flagged_false_positives_counted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    examples = [{"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]} for text in planted.LOOK_ALIKES]
    flagged = scan_problems(scan_lines(tmp_path, "chat", examples))
    with capsys.disabled():
        print(f"\nscan false positives: {len(flagged)} of {len(planted.LOOK_ALIKES)} look-alikes")
    assert [planted.LOOK_ALIKES[line - 1] for line, *_ in flagged] == []


@pytest.mark.parametrize("extra", [(), ("o200k_harmony",), ("llama3",)])
def test_a_value_repeated_in_every_example_is_reported_on_every_line(tmp_path: Path, extra: tuple[str, ...]) -> None:
    # The counter remembers strings and tool definitions: a flagged one must reach the scan each time,
    # also when another tokenizer counts the same examples (compare:, suggestions), alike or not.
    secret = planted.secrets()["github-pat"]
    tool = {"type": "function", "function": {"name": "save_note", "description": secret, "parameters": {}}}
    examples = [{"messages": [{"role": "system", "content": "System prompt. " + secret}, {"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": "ok"}], "tools": [tool]} for i in range(30)]
    found = scan_problems(scan_lines(tmp_path, "chat", examples, extra=extra))
    assert sorted({(line, m.split(":")[0]) for line, _c, _code, m, _l in found}) == sorted({(i, p) for i in range(1, 31) for p in ("messages[0].content", "tools[0].function.description")})


def test_levels_and_allowlist(tmp_path: Path) -> None:
    email, card, key = PLANTED["email"], PLANTED["payment-card"], PLANTED["github-pat"]
    examples = [{"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]} for text in (email, card, key, "ops@acme.io")]
    levels = dict(scan.DEFAULT_LEVELS, secret="warning", email="error", **{"payment-card": "off"})
    rules = scan.ScanRules(tuple(levels.items()))
    found = scan_problems(scan_lines(tmp_path, "chat", examples, rules))
    assert [(line, code, level) for line, _c, code, _m, level in found] == [(1, "personal-data", "error"), (3, "secret-in-data", "warning"), (4, "personal-data", "error")]
    allowed = rules._replace(allow_sha256=(scan.value_hash(value_of(key)),), allow_patterns=(r"[^@]+@acme\.io",))
    assert [line for line, *_ in scan_problems(scan_lines(tmp_path, "chat", examples, allowed))] == [1]
    off = scan.ScanRules(tuple((kind, "off") for kind in scan.KINDS))
    assert scan.finder(off) is None and scan_problems(scan_lines(tmp_path, "chat", examples, off)) == []


def test_parallel_scan_finds_the_same_at_the_same_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = list(PLANTED.values())
    examples = [{"messages": [{"role": "user", "content": texts[i % len(texts)] if i % 7 == 0 else f"question {i}"}, {"role": "assistant", "content": "ok"}]} for i in range(3000)]
    single = scan_lines(tmp_path, "chat", examples)
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(validate, "RANGE_MIN_BYTES", 4096)
    parallel = scan_lines(tmp_path, "chat", examples, workers=2)
    assert scan_problems(parallel) == scan_problems(single) and len(scan_problems(single)) == len(range(0, 3000, 7))
    assert parallel.findings == single.findings


def test_keys_of_tool_definitions_are_scanned_and_never_shown_in_paths(tmp_path: Path) -> None:
    secret = value_of(PLANTED["github-pat"])
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {secret: {"type": "string", "description": "x"}}}}}
    found = scan_problems(scan_lines(tmp_path, "chat", [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "ok"}], "tools": [tool]}]))
    assert [m.split(": ")[0] for *_r, m, _l in found] == ["tools[0].function.parameters.properties (a key)"]
    assert secret not in found[0][3]


def test_mask_shows_at_most_the_first_and_last_character() -> None:
    assert scan.mask("ana.lima@fastmail.fm") == "a…m"
    assert scan.mask("1.2.3") == "…"


def test_other_problems_on_the_line_do_not_quote_the_value(tmp_path: Path) -> None:
    text = PLANTED["github-pat"]
    broken = {"id": "call_1", "type": "function", "function": {"name": "save_note", "arguments": '{"note": "' + text}}  # not JSON: its message quotes the first 40 characters
    example = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "tool_calls": [broken]}, {"role": "assistant", "content": "ok"}]}
    found = scan_lines(tmp_path, "chat", [example]).problems
    codes = {p[2]: p[3] for p in found}
    assert codes["invalid-tool-arguments"] == "messages[1].tool_calls[0]: arguments is not valid JSON: (quote withheld: it holds a secret or personal data)"
    assert codes["secret-in-data"].startswith("messages[1].tool_calls[0].function.arguments: a secret (github-pat")
    secret = value_of(text)
    assert not any(secret[i : i + 8] in p[3] for p in found for i in range(len(secret) - 8))


def test_lone_surrogates_are_scanned_not_a_crash(tmp_path: Path) -> None:
    # orjson refuses "\ud800" and json reads it as a lone surrogate, which RE2 cannot take as UTF-8.
    line = '{"messages": [{"role": "user", "content": "\\ud800 ' + PLANTED["github-pat"] + '"}, {"role": "assistant", "content": "ok"}]}\n'
    path = tmp_path / "surrogate.jsonl"
    path.write_text(line, encoding="utf-8")
    found = scan_problems(validate.scan_file(path, validate.Rules("chat", "supervised", "o200k_base", False, None), workers=1))
    assert [(n, m.split(": ")[0]) for n, _c, _code, m, _l in found] == [(1, "messages[0].content")]


@pytest.mark.parametrize("where", ["role", "unknown key", "part type"])
def test_a_secret_quoted_by_another_problem_is_withheld_even_where_nothing_trains_on_it(tmp_path: Path, where: str) -> None:
    # A role, an unknown key or a content part's type holding a token was quoted by its
    # problem's message (all but a character of it, or all of it): a role is scanned but its cut
    # quote ended in ";", and keys and part types nothing trains on are not scanned at all.
    secret = value_of(PLANTED["github-pat"])
    example = {
        "role": {"messages": [{"role": secret, "content": "hi"}, {"role": "assistant", "content": "x"}]},
        "unknown key": {secret: 1, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]},
        "part type": {"messages": [{"role": "user", "content": [{"type": secret, "text": "a"}]}, {"role": "assistant", "content": "x"}]},
    }[where]
    found = scan_lines(tmp_path, "chat", [example]).problems
    assert any("(quote withheld: it holds a secret or personal data)" in p[3] for p in found), found
    assert not any(secret[i : i + 8] in p[3] for p in found for i in range(len(secret) - 8)), found
    assert all(p[3] == "no system message in messages" for p in found if p[2] == "missing-system")  # a message quoting nothing is left whole
