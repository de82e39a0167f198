"""Check every example of a data file and count its tokens, on all cores for big files.

A big file is cut into byte ranges at line boundaries; worker processes (each with its own
encoder) scan the ranges and the results are merged in order. Memory stays flat: per
example we keep a few integers and an 8-byte content hash, never the example itself.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
from array import array
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from finetune_action.dataset import formats, read
from finetune_action.tokens import count as token_count
from finetune_action.tokens import encodings

#: Problems kept per code and file (all are counted); beyond this the JSON would only repeat itself.
MAX_KEPT_PER_CODE = 1000
#: Files smaller than this are scanned in-process: starting workers would cost more than it saves.
PARALLEL_MIN_BYTES = 8 << 20
#: Smallest byte range handed to a worker.
RANGE_MIN_BYTES = 1 << 20
HASH_BYTES = 8


class Rules(NamedTuple):
    """What a file is checked against: derived from the config's method and model."""

    format: str  # the format every example must be in
    method: str
    encoding: str
    vision: bool
    example_token_limit: int | None


class Scan(NamedTuple):
    """Everything learnt from a file (or one byte range of it), per example in file order."""

    lines: int
    hashes: bytearray  # HASH_BYTES of blake2b per example, over the line's bytes
    example_lines: array  # 1-based line number of each example
    tokens: array  # per example, by the format's counting rule
    assistant_tokens: array
    messages: array
    features: set[str]  # tools, functions, images
    problems: list[tuple[int | None, int | None, str, str]]  # line, column, code, message
    counts: Counter  # code -> number of problems, kept or not


def empty_scan() -> Scan:
    return Scan(0, bytearray(), array("I"), array("I"), array("I"), array("I"), set(), [], Counter())


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def scan_file(path: Path, rules: Rules, workers: int | None = None) -> Scan:
    """Scan a whole file; files over PARALLEL_MIN_BYTES are split across `workers` processes."""
    encodings.get(rules.encoding)  # load once here, so forked workers inherit it
    workers = workers or available_cores()
    size = os.path.getsize(path)
    if workers < 2 or size < PARALLEL_MIN_BYTES:
        return scan_range(path, 0, size, rules)
    # Many ranges per worker, so that the workers finish close together.
    ranges = read.byte_ranges(path, workers * 16, min_size=RANGE_MIN_BYTES)
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    merged = empty_scan()
    with context.Pool(min(workers, len(ranges))) as pool:
        for part in pool.imap(_scan_range_args, [(path, start, end, rules) for start, end in ranges]):
            merged = _merge(merged, part)
    return merged


def _scan_range_args(args: tuple[Path, int, int, Rules]) -> Scan:
    return scan_range(*args)


def _merge(into: Scan, part: Scan) -> Scan:
    offset = into.lines
    into.hashes.extend(part.hashes)
    into.example_lines.extend(array("I", [n + offset for n in part.example_lines]))
    into.tokens.extend(part.tokens)
    into.assistant_tokens.extend(part.assistant_tokens)
    into.messages.extend(part.messages)
    into.features.update(part.features)
    kept = Counter(problem[2] for problem in into.problems)
    for line, column, code, message in part.problems:
        if kept[code] < MAX_KEPT_PER_CODE:
            into.problems.append((None if line is None else line + offset, column, code, message))
            kept[code] += 1
    into.counts.update(part.counts)
    return into._replace(lines=into.lines + part.lines)


_counters: dict[str, token_count.Count] = {}


def _counter(encoding: str) -> token_count.Count:
    found = _counters.get(encoding)
    if found is None:
        found = _counters[encoding] = token_count.make_counter(encodings.get(encoding))
    return found


def scan_range(path: Path, start: int, end: int, rules: Rules) -> Scan:
    """Scan the lines in bytes [start, end) of `path`; line numbers are relative to `start`."""
    count = _counter(rules.encoding)
    flagged = count.flagged  # type: ignore[attr-defined]
    flagged.clear()
    specials = encodings.special_tokens(rules.encoding)
    limit = rules.example_token_limit
    expected = rules.format
    scan = empty_scan()
    problems = scan.problems
    counts = scan.counts
    hashes = scan.hashes
    blake2b = hashlib.blake2b
    example_tokens = token_count.example_tokens
    check = formats.check
    detect = formats.detect
    method = rules.method
    vision = rules.vision
    tokens_append = scan.tokens.append
    assistant_append = scan.assistant_tokens.append
    messages_append = scan.messages.append
    lines_append = scan.example_lines.append

    def report(line: int | None, column: int | None, code: str, message: str) -> None:
        if counts[code] < MAX_KEPT_PER_CODE:
            problems.append((line, column, code, message))
        counts[code] += 1

    line = 0
    for raw in read.lines(path, start, end):
        line += 1
        if line == 1 and start == 0 and raw.startswith(read.BOM):
            raw = raw[len(read.BOM):]
        parsed = read.parse(raw)
        if parsed is None:
            report(line, None, "blank-line", "blank line (skipped); remove it")
            continue
        if type(parsed) is read.LineProblem:
            report(line, parsed.column, parsed.code, parsed.message)
            continue
        stripped, example = parsed
        if type(example) is not dict:
            report(line, None, "not-an-object", "each line must be a JSON object (one example), not " + formats.kind(example))
            continue
        format = detect(example, method) or expected
        if format != expected:
            report(line, None, "mixed-formats", f"this example is in {format} format but the file is {expected} (from its first example); keep one format per file")
        found, images = check(example, format, vision)
        for code, message in found:
            report(line, None, code, message)
        if images:
            scan.features.add("images")
        if "tools" in example or ("input" in example and type(example["input"]) is dict and "tools" in example["input"]):
            scan.features.add("tools")
        if "functions" in example:
            scan.features.add("functions")
        total, assistant, n_messages = example_tokens(example, format, count)
        # The counter flags the strings it counts that hold `<|`; reinforcement examples also
        # carry free grader fields it does not count, so their raw line is searched too. An
        # escaped `<` (\u003c, common from Go and HTML-safe writers) must not hide a token.
        if flagged or (format == "reinforcement" and (b"<|" in stripped or b"\\u003" in stripped)):
            for token in _special_tokens_in(example if format == "reinforcement" else flagged, specials):
                report(line, None, "special-token", f"contains {token}, a special token of the tokenizer: the provider rejects it; remove or break it up (e.g. <|endoftext |>)")
            flagged.clear()
        if limit is not None and total > limit:
            report(line, None, "example-truncated", f"{total} tokens, over the model's {limit} per example: it will be cut to {limit} (and billed for {limit})")
        hashes += blake2b(stripped, digest_size=HASH_BYTES).digest()
        lines_append(line)
        tokens_append(total)
        assistant_append(assistant)
        messages_append(n_messages)
    return scan._replace(lines=line)


def _special_tokens_in(value: Any, specials: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            found.extend(t for t in specials if t in item and t not in found)
        elif type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return found


def first_format(path: Path, method: str, default: str, max_lines: int = 1000) -> str:
    """The format of the first example in `path` that shows one, else `default`."""
    for number, raw in enumerate(read.lines(path, 0, os.path.getsize(path)), start=1):
        if number > max_lines:
            break
        parsed = read.parse(raw.removeprefix(read.BOM) if number == 1 else raw)
        if parsed is None or type(parsed) is read.LineProblem or type(parsed[1]) is not dict:
            continue
        return formats.detect(parsed[1], method) or default
    return default
