"""Graders: each a small pure function of (answer, reference) to a Grade, named as the field names them.

Pass/fail graders (string_check's eq and ilike, promptfoo's contains, regex, is-json, ...) give
1.0 or 0.0; similarity graders give a score in [0, 1]; judge graders build the judge's prompt
and read its reply, the call itself is made elsewhere. A grader that cannot grade returns an
error: it is never counted as a pass or a fail.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jsonschema

PASS_FAIL = "pass_fail"
SCORE = "score"
PAIRWISE = "pairwise"


class ToolCall(NamedTuple):
    name: str
    arguments: str  # JSON text, as the API carries it


class Answer(NamedTuple):
    """An assistant message: its text and its tool calls (either may be empty)."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()


class Grade(NamedTuple):
    score: float | None  # 1.0/0.0 for pass/fail, [0, 1] for scores; None when `error`
    error: str | None = None

    @property
    def passed(self) -> bool | None:
        return None if self.score is None else self.score >= 1.0


def _verdict(ok: bool) -> Grade:
    return Grade(1.0 if ok else 0.0)


def normalise(text: str) -> str:
    """Lower case with runs of whitespace as one space and the ends trimmed."""
    return " ".join(text.lower().split())


# --- string checks ------------------------------------------------------------------------


def exact_match(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """The answer's text equals the reference's, character for character."""
    return _verdict(answer.text == reference.text)


def normalised_match(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """Equal after lower-casing and collapsing whitespace."""
    return _verdict(normalise(answer.text) == normalise(reference.text))


def contains(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """The answer contains `value` (default: the reference text), ignoring case unless case_sensitive."""
    value = str(options.get("value", reference.text))
    if options.get("case_sensitive", False):
        return _verdict(value in answer.text)
    return _verdict(normalise(value) in normalise(answer.text))


def regex(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """The answer matches the regular expression `pattern` somewhere."""
    return _verdict(re.search(options["pattern"], answer.text) is not None)


# --- JSON ---------------------------------------------------------------------------------


def _json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def valid_json(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """The answer's text is one JSON document."""
    return _verdict(_json(answer.text)[0])


def json_schema(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """The answer is JSON valid against `schema` (JSON Schema 2020-12)."""
    ok, document = _json(answer.text)
    if not ok:
        return Grade(0.0)
    validator = jsonschema.Draft202012Validator(options["schema"])
    return _verdict(validator.is_valid(document))


def _field(document: Any, path: str) -> tuple[bool, Any]:
    for part in path.split("."):
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return False, None
    return True, document


def json_field_match(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """Each dotted path in `fields` holds the same JSON value in the answer as in the reference."""
    ok, document = _json(answer.text)
    found_ref, expected = _json(reference.text)
    if not found_ref:
        return Grade(None, "the reference answer is not JSON: json_field_match cannot compare fields")
    if not ok:
        return Grade(0.0)
    for path in options["fields"]:
        has_ref, want = _field(expected, path)
        has, got = _field(document, path)
        if has != has_ref or got != want:
            return Grade(0.0)
    return Grade(1.0)


def _arguments(text: str) -> Any:
    ok, value = _json(text)
    return value if ok else ("not JSON", text)


def tool_call_match(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """The same tool calls, in order: names equal and arguments equal as JSON (key order and spacing ignored)."""
    if len(answer.tool_calls) != len(reference.tool_calls):
        return Grade(0.0)
    for got, want in zip(answer.tool_calls, reference.tool_calls):
        if got.name != want.name or _arguments(got.arguments) != _arguments(want.arguments):
            return Grade(0.0)
    return Grade(1.0)


# --- text similarity ----------------------------------------------------------------------

_WORD = re.compile(r"\w+")


def _lcs(first: Sequence[str], second: Sequence[str]) -> int:
    previous = [0] * (len(second) + 1)
    for a in first:
        current = [0]
        for j, b in enumerate(second):
            current.append(previous[j] + 1 if a == b else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """ROUGE-L F1 over lower-cased words: the longest common subsequence against both lengths."""
    got, want = _WORD.findall(answer.text.lower()), _WORD.findall(reference.text.lower())
    if not got and not want:
        return Grade(1.0)
    common = _lcs(got, want)
    if common == 0:
        return Grade(0.0)
    precision, recall = common / len(got), common / len(want)
    return Grade(2 * precision * recall / (precision + recall))


def levenshtein(first: str, second: str) -> int:
    """Edits (insert, delete, substitute one character) that turn `first` into `second`."""
    if len(first) < len(second):
        first, second = second, first
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        current = [i]
        for j, b in enumerate(second, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def edit_similarity(answer: Answer, reference: Answer, options: Mapping[str, Any]) -> Grade:
    """1 - Levenshtein distance / the longer length (1.0: identical)."""
    longer = max(len(answer.text), len(reference.text))
    if longer == 0:
        return Grade(1.0)
    return Grade(1.0 - levenshtein(answer.text, reference.text) / longer)


# --- judge models -------------------------------------------------------------------------

Messages = list[dict[str, Any]]

RUBRIC_SYSTEM = (
    "You grade an assistant's answer against a rubric. Reply with one line: SCORE: <integer from 1 to {scale}>, "
    "then one short sentence of reason. Higher is better."
)
PAIRWISE_SYSTEM = (
    "You compare two assistant answers to the same conversation. Reply with one line: WINNER: A, WINNER: B or "
    "WINNER: TIE, then one short sentence of reason. Judge only which answer better serves the user; ignore length and order."
)
_SCORE = re.compile(r"SCORE\s*[:=]\s*(\d+)", re.IGNORECASE)
_WINNER = re.compile(r"WINNER\s*[:=]\s*\**\s*(A|B|TIE)\b", re.IGNORECASE)


def render_answer(answer: Answer) -> str:
    """An answer as a judge reads it: the text, then each tool call as name(arguments)."""
    calls = [f"[tool call] {c.name}({c.arguments})" for c in answer.tool_calls]
    return "\n".join([answer.text, *calls]).strip() or "(empty answer)"


def _conversation(prompt: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for message in prompt:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        lines.append(f"{message.get('role', '?')}: {content or ''}")
    return "\n".join(lines)


def rubric_messages(rubric: str, scale: int, prompt: Sequence[Mapping[str, Any]], answer: Answer, reference: Answer) -> Messages:
    """The judge's request for a rubric score (the reference is shown as a good answer)."""
    user = (
        f"Rubric:\n{rubric}\n\nConversation:\n{_conversation(prompt)}\n\n"
        f"A reference answer:\n{render_answer(reference)}\n\nThe answer to grade:\n{render_answer(answer)}"
    )
    return [{"role": "system", "content": RUBRIC_SYSTEM.format(scale=scale)}, {"role": "user", "content": user}]


def parse_rubric(reply: str, scale: int) -> Grade:
    """The judge's score mapped onto [0, 1] (1 -> 0.0, scale -> 1.0); an error when unreadable."""
    match = _SCORE.search(reply)
    if not match or not 1 <= int(match.group(1)) <= scale:
        return Grade(None, f"judge reply has no SCORE from 1 to {scale}: {reply[:80]!r}")
    return Grade((int(match.group(1)) - 1) / (scale - 1))


def pairwise_messages(rubric: str, prompt: Sequence[Mapping[str, Any]], first: Answer, second: Answer) -> Messages:
    """The judge's request to compare answer A (`first`) with answer B (`second`)."""
    user = (
        f"Criteria:\n{rubric}\n\nConversation:\n{_conversation(prompt)}\n\n"
        f"Answer A:\n{render_answer(first)}\n\nAnswer B:\n{render_answer(second)}"
    )
    return [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": user}]


def parse_pairwise(reply: str) -> str | None:
    """"A", "B" or "tie" from a judge reply, None when unreadable."""
    match = _WINNER.search(reply)
    return match.group(1).upper().replace("TIE", "tie") if match else None


def pairwise_outcome(candidate_first: str | None, candidate_second: str | None) -> Grade:
    """One example's outcome for the candidate, from the judge asked in both orders.

    `candidate_first` is the verdict with the candidate as A, `candidate_second` with it as B.
    Each order scores the candidate 1.0 (preferred), 0.5 (tie) or 0.0; the outcome is their mean.
    A flip (each order prefers the answer in the same position) is thus 0.5, a tie: the judge
    preferred a position, not an answer. Above 0.5 is a win, below a loss.
    """
    if candidate_first is None or candidate_second is None:
        return Grade(None, "the judge's reply could not be read in one of the two orders")
    as_a = {"A": 1.0, "B": 0.0, "tie": 0.5}[candidate_first]
    as_b = {"B": 1.0, "A": 0.0, "tie": 0.5}[candidate_second]
    return Grade((as_a + as_b) / 2)


# --- the table --------------------------------------------------------------------------


class GraderKind(NamedTuple):
    kind: str  # PASS_FAIL | SCORE | PAIRWISE
    grade: Callable[[Answer, Answer, Mapping[str, Any]], Grade] | None  # None for the judges
    options: tuple[str, ...]  # required options
    optional: tuple[str, ...] = ()


GRADERS: dict[str, GraderKind] = {
    "exact_match": GraderKind(PASS_FAIL, exact_match, ()),
    "normalised_match": GraderKind(PASS_FAIL, normalised_match, ()),
    "contains": GraderKind(PASS_FAIL, contains, (), ("value", "case_sensitive")),
    "regex": GraderKind(PASS_FAIL, regex, ("pattern",)),
    "valid_json": GraderKind(PASS_FAIL, valid_json, ()),
    "json_schema": GraderKind(PASS_FAIL, json_schema, ("schema",)),
    "json_field_match": GraderKind(PASS_FAIL, json_field_match, ("fields",)),
    "tool_call_match": GraderKind(PASS_FAIL, tool_call_match, ()),
    "rouge_l": GraderKind(SCORE, rouge_l, ()),
    "edit_similarity": GraderKind(SCORE, edit_similarity, ()),
    "judge_rubric": GraderKind(SCORE, None, ("rubric",), ("scale",)),
    "judge_pairwise": GraderKind(PAIRWISE, None, (), ("rubric",)),
}
DEFAULT_SCALE = 5
DEFAULT_PAIRWISE_RUBRIC = "Correctness first, then helpfulness and following the instructions in the conversation."
