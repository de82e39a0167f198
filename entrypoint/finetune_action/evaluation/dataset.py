"""The held-out examples: read from eval.data or taken by eval.split, each a prompt and a reference answer.

The reference is the example's last assistant message (text or tool calls); the prompt is
every message before it. Leakage keys compare examples after normalising whitespace and case.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from finetune_action import check
from finetune_action.config import Config, DataFile
from finetune_action.dataset import read
from finetune_action.dataset.codes import Problem
from finetune_action.dataset.validate import example_hash
from finetune_action.evaluation.graders import Answer, ToolCall, normalise


class Example(NamedTuple):
    path: str  # the file it came from, relative to the repository root
    line: int  # 1-based line in that file
    id: str  # 16 hex of the example's content hash: stable across files and line moves
    prompt: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    reference: Answer
    leakage: bytes  # leakage_key() of the example


class HeldOut(NamedTuple):
    examples: tuple[Example, ...]
    problems: tuple[Problem, ...]
    sha256: str  # over the example lines, in order: the eval data's identity in model.json


def numbered_lines(data: DataFile) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of each example line, blank lines and a byte-order mark skipped."""
    with data.path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw
            line = line.rstrip(b"\r\n")
            if line and not line.isspace():
                yield number, line


def answer_of(message: dict[str, Any]) -> Answer:
    """An assistant message as an Answer (content parts joined; tool calls' name and arguments)."""
    content = message.get("content") or ""
    if isinstance(content, list):
        content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    listed = message.get("tool_calls")
    functions = [call.get("function") for call in (listed if isinstance(listed, list) else ()) if isinstance(call, dict)]
    # A call whose function is not an object ("function": "oops") is no call: it was an AttributeError.
    calls = tuple(ToolCall(str(f.get("name", "")), str(f.get("arguments", ""))) for f in functions if isinstance(f, dict))
    return Answer(str(content), calls)


def example_from(document: Any, path: str, line: int, raw: bytes) -> Example | Problem:
    """One held-out example from a parsed JSONL line, or the problem that keeps it out."""
    messages = document.get("messages") if isinstance(document, dict) else None
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return Problem(path, line, None, "eval-not-chat", 'an eval example must be a chat example: {"messages": [...]} ending in an assistant message')
    if messages[-1].get("role") != "assistant":
        return Problem(path, line, None, "eval-no-reference", "the last message must be the assistant's reference answer; the messages before it are the prompt")
    if len(messages) < 2:
        return Problem(path, line, None, "eval-no-reference", "there is no prompt before the reference answer")
    tools = document.get("tools") if isinstance(document.get("tools"), list) else None
    return Example(path, line, example_hash(raw).hex(), messages[:-1], tools, answer_of(messages[-1]), leakage_key(document))


def held_out(config: Config) -> HeldOut:
    """The eval examples of a config (eval.data, or eval.split of the training data), in order."""
    assert config.eval is not None
    evaluation = config.eval
    sources = evaluation.data or config.train
    examples: list[Example] = []
    problems: list[Problem] = []
    digest = hashlib.sha256()
    for data in sources:
        for line, raw in numbered_lines(data):
            if not evaluation.data and not check.held_out(example_hash(raw), evaluation.split):  # type: ignore[arg-type]
                continue
            digest.update(raw + b"\n")
            parsed = read.parse(raw)  # the training check's reading: invalid-utf8, invalid-json, trailing-data alike
            if isinstance(parsed, read.LineProblem):
                if evaluation.data:  # a split's lines are training lines: the training check reports them
                    problems.append(Problem(data.display_path, line, parsed.column, parsed.code, parsed.message))
                continue
            assert parsed is not None  # numbered_lines skips blank lines
            document = parsed[1]
            item = example_from(document, data.display_path, line, raw)
            (problems if isinstance(item, Problem) else examples).append(item)  # type: ignore[arg-type]
    return HeldOut(tuple(examples), tuple(problems), digest.hexdigest())


def leakage_key(document: Any) -> bytes:
    """The example after normalising whitespace and case in every string: equal keys are the same example."""

    def norm(value: Any) -> Any:
        if isinstance(value, str):
            return normalise(value)
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        return value

    if isinstance(document, dict):
        document = {k: v for k, v in document.items() if k in ("messages", "tools")}  # what is trained on
    text = json.dumps(norm(document), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


def leaks(config: Config, examples: tuple[Example, ...]) -> list[Problem]:
    """Eval examples that duplicate a training (or validation) example, exactly or after normalising whitespace and case."""
    held = {e.leakage: e for e in examples}
    evaluation = config.eval
    problems = []
    for data in (*config.train, *config.validation):
        for line, raw in numbered_lines(data):
            if evaluation and evaluation.split and data in config.train and check.held_out(example_hash(raw), evaluation.split):
                continue  # the held-out example itself
            try:
                document = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # the training check reports it
            if not isinstance(document, dict):
                continue
            key = leakage_key(document)
            if key in held:
                example = held[key]
                problems.append(Problem(example.path, example.line, None, "eval-leakage", f"the same example is trained on at {data.display_path}:{line}: an eval on training data overstates the fine-tune; remove it from one side"))
    return problems
