"""Runner plumbing: outputs and summary files as the runner reads them, workflow commands as it parses them."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from finetune_action.github import actions
from testing.action import parse_outputs


def read_outputs(path: Path) -> dict[str, str]:
    return parse_outputs(path.read_text("utf-8"))


def run_commands(log: str) -> list[tuple[str, dict[str, str], str]]:
    """The workflow commands the runner would act on in `log`, unescaped, honouring stop-commands."""
    def unescape(text: str) -> str:
        return text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")

    acted = []
    resume_token = None
    for line in log.split("\n"):
        if resume_token is not None:
            if line == f"::{resume_token}::":
                resume_token = None
            continue
        match = re.fullmatch(r"::([\w-]+)(?: ([^:]*))?::(.*)", line)
        if not match:
            continue
        name, props, message = match.groups()
        if name == "stop-commands":
            resume_token = message
            continue
        properties = dict(p.split("=", 1) for p in props.split(",")) if props else {}
        acted.append((name, {k: unescape(v) for k, v in properties.items()}, unescape(message)))
    return acted


def test_inputs_keep_hyphens() -> None:
    env = {"INPUT_COMMENT-BEHAVIOR": " hide-and-new \n", "INPUT_CONFIG": "a.yaml"}
    assert actions.get_input(env, "comment-behavior") == "hide-and-new"
    assert actions.get_input(env, "config") == "a.yaml"
    assert actions.get_input(env, "comment-tag") == ""


def test_outputs_round_trip(tmp_path: Path) -> None:
    output = tmp_path / "output"
    output.write_text("earlier=1\n")
    tricky = "line one\nmodel-id<<EOF\nEOF\n  indented\n\nlast"
    actions.set_output(output, "model-id", "ft:gpt-4o-mini-2024-07-18:acme::abc123")
    actions.set_output(output, "report", tricky)
    actions.set_output(output, "empty", "")
    assert read_outputs(output) == {
        "earlier": "1",
        "model-id": "ft:gpt-4o-mini-2024-07-18:acme::abc123",
        "report": tricky,
        "empty": "",
    }


def test_summary_appends_and_stays_under_the_limit(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    assert actions.append_summary(summary, "# Report") is False
    assert actions.append_summary(summary, "more") is False
    assert summary.read_text("utf-8") == "# Report\nmore\n"

    assert actions.append_summary(summary, "é" * actions.SUMMARY_LIMIT) is True
    text = summary.read_text("utf-8")  # still valid UTF-8 where it was cut
    assert summary.stat().st_size <= actions.SUMMARY_LIMIT
    assert text.startswith("# Report\nmore\né")
    assert "Summary truncated" in text


def test_summary_room_is_what_an_earlier_step_left(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    assert actions.summary_room(summary) == actions.SUMMARY_LIMIT - 1024
    summary.write_bytes(b"x" * 300_000)  # another step of the job wrote first
    assert actions.summary_room(summary) == actions.SUMMARY_LIMIT - 300_000 - 1024
    summary.write_bytes(b"x" * actions.SUMMARY_LIMIT)
    assert actions.summary_room(summary) == 0


def test_annotation_escaping() -> None:
    stream = io.StringIO()
    actions.error("100% bad\r\nsecond line", file="data/train, v2.jsonl", line=3, col=5, title="a: b", stream=stream)
    actions.warning("careful", stream=stream)
    actions.notice("fyi", file="x.jsonl", stream=stream)
    log = stream.getvalue()
    assert log.splitlines()[0] == "::error file=data/train%2C v2.jsonl,line=3,col=5,title=a%3A b::100%25 bad%0D%0Asecond line"
    assert run_commands(log) == [
        ("error", {"file": "data/train, v2.jsonl", "line": "3", "col": "5", "title": "a: b"}, "100% bad\r\nsecond line"),
        ("warning", {}, "careful"),
        ("notice", {"file": "x.jsonl"}, "fyi"),
    ]


def test_group_mask_and_stop_commands() -> None:
    stream = io.StringIO()
    actions.add_mask("sk-secret\nline2", stream=stream)
    untrusted = "::error::owned\n::endgroup::\n::add-mask::x\n::stop-commands::guess\n::guess::\n::error::still owned"
    with actions.group("Data check", stream=stream):
        with actions.stop_commands(stream=stream):
            stream.write(untrusted + "\n")
        actions.notice("after", stream=stream)
    acted = run_commands(stream.getvalue())
    assert acted == [
        ("add-mask", {}, "sk-secret\nline2"),
        ("group", {}, "Data check"),
        ("notice", {}, "after"),
        ("endgroup", {}, ""),
    ]
    assert untrusted in stream.getvalue()


def test_stop_commands_tokens_differ() -> None:
    first, second = io.StringIO(), io.StringIO()
    with actions.stop_commands(stream=first):
        pass
    with actions.stop_commands(stream=second):
        pass
    assert first.getvalue() != second.getvalue()


def test_annotation_budget(capsys: pytest.CaptureFixture[str]) -> None:
    budget = actions.AnnotationBudget()
    for n in range(13):
        budget.annotate("error", f"problem {n}", file="train.jsonl", line=n + 1)
    budget.annotate("warning", "one warning")
    budget.close()
    out = capsys.readouterr().out
    acted = run_commands(out)
    assert [a[0] for a in acted] == ["error"] * 10 + ["warning"]
    assert out.rstrip("\n").splitlines()[-1] == "3 more errors not annotated, see the job summary"
