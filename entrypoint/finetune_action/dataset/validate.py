"""Check every example of a data file and count its tokens, on all cores for big files.

A big file is cut into byte ranges at line boundaries; worker processes (each with its own
encoder) scan the ranges and the results are merged in order. Memory stays flat: per
example we keep a few integers and an 8-byte content hash, never the example itself.
"""
from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from finetune_action.dataset import formats, read, results
from finetune_action.dataset import scan as data_scan
from finetune_action.tokens import count as token_count
from finetune_action.tokens import tokenizers

if TYPE_CHECKING:
    from multiprocessing.pool import Pool

#: Problems kept per code and file (all are counted); beyond this the JSON would only repeat itself.
MAX_KEPT_PER_CODE = 1000
#: Files smaller than this are scanned in-process: starting workers would cost more than it saves.
PARALLEL_MIN_BYTES = 8 << 20
#: Smallest byte range handed to a worker.
RANGE_MIN_BYTES = 1 << 20
HASH_BYTES = 8


def example_hash(line: bytes) -> bytes:
    """The content hash kept per example (duplicates, leakage, PR diffs; data.split keys on it).

    The first HASH_BYTES of sha256 over the line without its line end: a content identity,
    not a security boundary (64 bits collide by design at 2**32 examples). sha256 runs on
    the CPU's SHA instructions: the fastest of hashlib's hashes wherever we run.
    """
    return hashlib.sha256(line).digest()[:HASH_BYTES]


class Rules(NamedTuple):
    """What a file is checked against: derived from the config's method and model."""

    format: str  # the format every example must be in
    method: str
    encoding: str  # the configured model's tokenizer name (tokens/tokenizers.py)
    vision: bool
    example_token_limit: int | None
    scan: data_scan.ScanRules = data_scan.ScanRules()  # secrets and personal data
    extra_tokenizers: tuple[str, ...] = ()  # also count every example with these (compare: alternatives)


class Scan(NamedTuple):
    """Everything learnt from a file (or one byte range of it), per example in file order."""

    lines: int
    hashes: bytearray  # example_hash() of each example
    example_lines: array  # 1-based line number of each example
    tokens: array  # per example, by the format's counting rule
    assistant_tokens: array
    messages: array
    features: set[str]  # tools, functions, images
    problems: list[tuple]  # line, column, code, message (and for scan findings, their level)
    counts: Counter  # code -> number of problems, kept or not
    findings: Counter  # (code, label) -> number of scan findings, e.g. ("secret-in-data", "github-pat")
    extra_tokens: tuple[array, ...] = ()  # per example, by each of Rules.extra_tokenizers


def empty_scan(extra: int = 0) -> Scan:
    return Scan(0, bytearray(), array("I"), array("I"), array("I"), array("I"), set(), [], Counter(), Counter(), tuple(array("I") for _ in range(extra)))


def _reword_line(problems: list[tuple], line: int, reword: Any) -> None:
    """Pass the message of each problem of `line` (the last ones of `problems`) through `reword`."""
    for index in range(len(problems) - 1, -1, -1):
        if problems[index][0] != line:
            break
        problems[index] = (*problems[index][:3], reword(problems[index][3]), *problems[index][4:])


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def scan_file(path: Path, rules: Rules, workers: int | None = None) -> Scan:
    """Scan a whole file; files over PARALLEL_MIN_BYTES are split across `workers` processes."""
    if results.active() is not None:
        return results.scan_file(path, rules, workers)  # lines seen before are not scanned again
    for name in (rules.encoding, *rules.extra_tokenizers):
        tokenizers.get(name)  # load once here, so forked workers inherit them
    data_scan.finder(rules.scan)  # and compile the scan's rules once
    workers = workers or available_cores()
    size = os.path.getsize(path)
    if workers < 2 or size < PARALLEL_MIN_BYTES:
        return scan_range(path, 0, size, rules)
    # Many ranges per worker, so that the workers finish close together.
    ranges = read.byte_ranges(path, workers * 16, min_size=RANGE_MIN_BYTES)
    merged = empty_scan(len(rules.extra_tokenizers))
    with worker_pool(min(workers, len(ranges))) as pool:
        for part in pool.imap(_scan_range_args, [(path, start, end, rules) for start, end in ranges]):
            merged = _merge(merged, part)
    return merged


@contextlib.contextmanager
def worker_pool(processes: int) -> Iterator[Pool]:
    """A pool of forked workers (spawned where fork is not available) that leave signals to the
    parent: Ctrl-C, which a terminal sends to every process of the group, is ignored in a worker
    (the parent's KeyboardInterrupt ends the pool), and SIGTERM, with which the pool's end stops
    its workers, ends one at once, whatever handler the parent has (train's, training/wait.py).
    With the parent's handlers inherited, each worker raised in the middle of its range and
    printed a traceback ("Process ForkPoolWorker-1: ..."); a worker that dies so while it holds
    the pool's task queue can also leave the parent's end of the pool waiting for it forever.

    Both signals are held back while the pool starts, so that none lands in a worker before it
    has set its own handlers, nor in the parent before the pool is there to be ended.
    """
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    previous = _mask(signal.SIG_BLOCK)
    try:
        pool = context.Pool(processes, initializer=_leave_signals_to_the_parent)
    except BaseException:
        _mask(signal.SIG_SETMASK, previous)
        raise
    with pool:
        _mask(signal.SIG_SETMASK, previous)  # a Ctrl-C held back lands here: the pool is ended
        yield pool


_STOPPING = {signal.SIGINT, signal.SIGTERM}


def _mask(how: int, signals: Iterable[int] = _STOPPING) -> set[int]:
    """signal.pthread_sigmask where the platform has it (not Windows); the mask before."""
    return signal.pthread_sigmask(how, signals) if hasattr(signal, "pthread_sigmask") else set()


def _leave_signals_to_the_parent() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _mask(signal.SIG_UNBLOCK)


def _scan_range_args(args: tuple[Path, int, int, Rules]) -> Scan:
    return scan_range(*args)


def _merge(into: Scan, part: Scan) -> Scan:
    offset = into.lines
    into.hashes.extend(part.hashes)
    lines = part.example_lines
    if len(lines) == part.lines and (not lines or lines[-1] == part.lines):  # every line an example: 1..lines
        into.example_lines.extend(array("I", range(offset + 1, offset + part.lines + 1)))
    else:
        into.example_lines.extend(array("I", [n + offset for n in lines]))
    into.tokens.extend(part.tokens)
    into.assistant_tokens.extend(part.assistant_tokens)
    into.messages.extend(part.messages)
    for tokens, more in zip(into.extra_tokens, part.extra_tokens):
        tokens.extend(more)
    into.features.update(part.features)
    # Counted only when there is something to add: a warm review merges a part per run of known
    # lines, and recounting up to MAX_KEPT_PER_CODE problems per code at each took seconds.
    if part.problems:
        kept = Counter(problem[2] for problem in into.problems)
        for problem in part.problems:
            line, code = problem[0], problem[2]
            if kept[code] < MAX_KEPT_PER_CODE:
                into.problems.append((None if line is None else line + offset, *problem[1:]))
                kept[code] += 1
    into.counts.update(part.counts)
    into.findings.update(part.findings)
    return into._replace(lines=into.lines + part.lines)


_counters: dict[tuple[str, data_scan.ScanRules], token_count.Count] = {}


def _counter(tokenizer: tokenizers.Tokenizer, scan: data_scan.ScanRules = data_scan.ScanRules()) -> token_count.Count:
    """One counter per way of tokenizing and scan, with the scan's finder hooked into it (see make_counter).

    Tokenizers sharing an encoding share its remembered strings.
    """
    key = (tokenizer.counter, scan)
    found = _counters.get(key)
    if found is None:
        found = _counters[key] = token_count.make_counter(tokenizer.encoding, data_scan.finder(scan), normalize=tokenizer.normalize)
    return found


def _no_tokens(text: str) -> int:
    return 0


def scan_range(path: Path, start: int, end: int, rules: Rules) -> Scan:
    """Scan the lines in bytes [start, end) of `path`; line numbers are relative to `start`."""
    return scan_lines(read.lines(path, start, end), rules, file_start=start == 0)


def scan_lines(raws: Iterable[bytes], rules: Rules, file_start: bool, example_features: list | None = None) -> Scan:
    """Scan raw lines (line ends kept); `file_start`: the first is the file's first line (BOM allowed).

    `example_features`, when given, gets each example's own features (a frozenset), in example
    order: what the results cache needs to record the lines of one scan one by one.
    """
    tokenizer = tokenizers.get(rules.encoding)
    count = _counter(tokenizer, rules.scan)
    find = data_scan.finder(rules.scan)
    template = tokenizer.template
    # With a chat template the one-pass shortcut only checks the structure; the template counts.
    structure_count = count if template is None else _no_tokens
    flagged = count.flagged  # type: ignore[attr-defined]
    flagged.clear()
    specials = tokenizer.special_tokens
    scan = empty_scan(len(rules.extra_tokenizers))
    # Other tokenizers: those over the configured one's vocabulary (another chat template, e.g.
    # o200k_harmony beside o200k_base) count each example right after it, reading its
    # remembered strings; the rest count batches (below), with their own counters. Neither
    # hooks the scan: the configured counter sees every trained string, so secrets are scanned once.
    alike = []
    extras = []
    for name, tokens in zip(rules.extra_tokenizers, scan.extra_tokens):
        extra = tokenizers.get(name)
        if extra.counter == tokenizer.counter and extra.normalize is tokenizer.normalize:
            # Over a common example, a simple template's count is arithmetic on the chat rule's (alike_tokens).
            arithmetic = template is None and alike_simple(extra.template)
            alike.append((tokens.append, token_count.reader(count), extra.template, arithmetic, bool(extra.template and extra.template.leads)))
        else:
            extras.append((tokens, _counter(extra, data_scan.OFF), extra.template))
    limit = rules.example_token_limit
    expected = rules.format
    # Extra tokenizers count a batch of examples each in turn, not each example in turn: two
    # vocabularies used alternately evict each other from the CPU caches (1.7x the time).
    pending: list[tuple[dict, str]] = []
    pending_bytes = 0

    def count_pending() -> None:
        for tokens, extra_count, extra_template in extras:
            tokens.extend([example_tokens(example, format, extra_count, extra_template)[0] for example, format in pending])
            extra_count.flagged.clear()  # type: ignore[attr-defined]  # special tokens are the configured model's concern
        pending.clear()

    problems = scan.problems
    counts = scan.counts
    hashes = scan.hashes
    sha256 = hashlib.sha256
    example_tokens = token_count.example_tokens
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
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
    for raw in raws:
        line += 1
        if line == 1 and file_start and raw.startswith(read.BOM):
            raw = raw[len(read.BOM):]
        try:
            example = loads(raw)  # read.parse's first step, inlined: line ends are JSON whitespace
            stripped = raw.rstrip(b"\r\n")
        except JSONDecodeError:
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
        common = _common_chat(example, structure_count) if format == "chat" == expected else None
        if common is not None:
            total, assistant, n_messages, roles, shape = common
            if template is not None:
                total, assistant, n_messages = example_tokens(example, format, count, template)
            if "tools" in example:
                scan.features.add("tools")
                own = _TOOLS
            else:
                own = _NO_FEATURES
            if roles != _ALL_PLAIN_ROLES:
                for role, (code, message) in _PLAIN_ROLE_PROBLEMS:
                    if not roles & role:
                        report(line, None, code, message)
        else:
            if format != expected:
                report(line, None, "mixed-formats", f"this example is in {format} format but the file is {expected} (from its first example); keep one format per file")
            found, images = check(example, format, vision)
            for code, message in found:
                report(line, None, code, message)
            own = frozenset(
                name
                for name, present in (
                    ("images", images),
                    ("tools", "tools" in example or ("input" in example and type(example["input"]) is dict and "tools" in example["input"])),
                    ("functions", "functions" in example),
                )
                if present
            )
            scan.features.update(own)
            total, assistant, n_messages = example_tokens(example, format, count, template)
        # The counter flags the strings it counts that hold `<|` or a scan finding; reinforcement examples also
        # carry free grader fields it does not count, so their raw line is searched too. An
        # escaped `<` (\u003c, common from Go and HTML-safe writers) must not hide a token.
        found = None
        if find is not None and (flagged or format == "reinforcement"):
            found = data_scan.example_findings(example, find)
            if found:
                # Other problems of this line may quote the text (a bad tool call's arguments): withhold the quote.
                _reword_line(problems, line, lambda message: data_scan.withhold(message, flagged, find))
            for where, finding in found:
                if counts[finding.code] < MAX_KEPT_PER_CODE:
                    problems.append((line, None, finding.code, data_scan.message(where, finding), finding.level))
                counts[finding.code] += 1
                scan.findings[finding.code, finding.label] += 1
        if not found and find is not None and problems and problems[-1][0] == line and find(stripped.decode("utf-8", "replace")):
            # A value nothing trains on (an unknown key, a content part's type) is not scanned,
            # but a problem's message quotes it: on a line holding a secret anywhere, no quote is shown.
            _reword_line(problems, line, data_scan.without_quote)
        if flagged or (format == "reinforcement" and (b"<|" in stripped or b"\\u003" in stripped)):
            for token in _special_tokens_in(example if format == "reinforcement" else flagged, specials):
                report(line, None, "special-token", f"contains {token}, a special token of the tokenizer: the provider rejects it; remove or break it up (e.g. <|endoftext |>)")
            flagged.clear()
        for append, alike_count, alike_template, arithmetic, leads in alike:
            if arithmetic and common is not None and not (leads and shape.system_space):
                append(alike_tokens(total, example["messages"], shape, alike_template))
            else:
                append(example_tokens(example, format, alike_count, alike_template)[0])
        if extras:
            pending.append((example, format))
            pending_bytes += len(raw)
            if len(pending) >= _PENDING_EXAMPLES or pending_bytes >= _PENDING_BYTES:
                count_pending()
                pending_bytes = 0
        if limit is not None and total > limit:
            report(line, None, "example-truncated", f"{total} tokens, over the model's {limit} per example: it will be cut to {limit} (and billed for {limit})")
        if example_features is not None:
            example_features.append(own)
        hashes += sha256(stripped).digest()[:HASH_BYTES]  # example_hash(), inlined
        lines_append(line)
        tokens_append(total)
        assistant_append(assistant)
        messages_append(n_messages)
    if pending:
        count_pending()
    return scan._replace(lines=line)


_PENDING_EXAMPLES = 256  # examples held for the extra tokenizers: a few MB at most
_PENDING_BYTES = 4 << 20
_SYSTEM, _USER, _ASSISTANT = 1, 2, 4
_ALL_PLAIN_ROLES = _SYSTEM | _USER | _ASSISTANT
_TOOLS = frozenset(("tools",))
_NO_FEATURES: frozenset[str] = frozenset()
_PLAIN_ROLE_PROBLEMS = ((_SYSTEM, formats.MISSING_SYSTEM), (_USER, formats.MISSING_USER), (_ASSISTANT, formats.NO_TRAINABLE))
# Every role name, "function" included, is one token (count.ROLE_TOKENS; tests/tokens proves it).
_MESSAGE_TOKENS = token_count.TOKENS_PER_MESSAGE + 1  # a message: 3, plus its role
_FUNCTION_TOKENS = token_count.ROLE_TOKENS["function"]  # a tool call's "type": "function"


class Shape(NamedTuple):
    """What a chat template's count of a common example needs beyond the chat rule's (see alike_tokens)."""

    system: int  # messages per role
    user: int
    assistant: int
    tool: int
    tool_call_ids: int  # tokens of the tool answers' tool_call_id, which the chat rule counts and templates do not
    system_space: bool  # a system message's text starts with whitespace (where a template's lead merges with it)


def alike_tokens(total: int, messages: list, shape: Shape, template: token_count.Template) -> int:
    """What count.templated_chat_tokens gives for a common example (see _common_chat) whose chat-rule `total` is known.

    For a simple template (alike_simple) over the same vocabulary: the strings are the same
    strings, only the overheads differ, so no string is looked at again.
    """
    fixed = template.fixed
    strings = total - token_count.TOKENS_PER_EXAMPLE - _MESSAGE_TOKENS * len(messages) - shape.tool_call_ids
    total = template.per_example + strings
    total += shape.system * fixed["system"] + shape.user * fixed["user"] + shape.assistant * fixed["assistant"] + shape.tool * fixed["tool"]
    if messages[0]["role"] != "system":
        total += template.no_system
    if messages[-1]["role"] == "assistant":
        total += template.final_answer
    return total


def alike_simple(template: token_count.Template | None) -> bool:
    """Whether alike_tokens can count with `template`: its overheads depend on roles alone."""
    return (
        template is not None
        and not template.final_lead
        and template.system_into_last_user is None
        and not template.answer_rstrip
        and all(role in template.fixed for role in ("system", "user", "assistant", "tool"))
        and set(template.leads) <= {"system", "developer"}
    )


def _common_chat(example: dict, count: token_count.Count) -> tuple[int, int, int, int, Shape] | None:
    """(tokens, assistant tokens, messages, roles seen, shape) of a chat example of the common shapes, else None.

    The shapes: "messages" (plus "tools" and "parallel_tool_calls"), each message exactly a
    role (system, user or assistant) and a non-empty text; an assistant's "tool_calls" alone,
    each call exactly id, type "function" and function {name, arguments}; or a tool answer of
    exactly role, tool_call_id (of an earlier call) and content. In these formats.check finds
    nothing but the role warnings (roles seen: system 1, user 2, assistant 4) and
    count.chat_tokens adds what is added here, so one pass does both jobs. Anything else,
    including every example with a problem, takes the general path; tests hold the two
    paths equal.
    """
    messages = example.get("messages")
    if type(messages) is not list or not messages:
        return None
    tools = None
    if len(example) != 1:
        tools = example.get("tools")
        if len(example) != 1 + ("tools" in example) + ("parallel_tool_calls" in example):
            return None
        if type(example.get("parallel_tool_calls", True)) is not bool:
            return None
        if tools is not None:
            found: formats.Found = []
            formats.check_tools(tools, "tools", found)
            if found:
                return None
    total = token_count.TOKENS_PER_EXAMPLE
    assistant = 0
    roles = 0
    call_ids: set[str] = set()
    systems = users = assistants = tools_answers = tool_call_ids = 0
    system_space = False
    for message in messages:
        if type(message) is not dict:
            return None
        role = message.get("role")
        if len(message) == 2:
            content = message.get("content")
            if type(content) is str and content:
                if role == "assistant":
                    n = count(content)
                    assistant += n
                    roles |= _ASSISTANT
                    assistants += 1
                elif role == "user":
                    n = count(content)
                    roles |= _USER
                    users += 1
                elif role == "system":
                    n = count(content)
                    roles |= _SYSTEM
                    systems += 1
                    system_space = system_space or content[0].isspace()
                else:
                    return None
                total += _MESSAGE_TOKENS + n
                continue
            calls = message.get("tool_calls")
            if role != "assistant" or type(calls) is not list or not calls:
                return None
            n = 0
            for call in calls:
                if type(call) is not dict or len(call) != 3:
                    return None
                call_id = call.get("id")
                function = call.get("function")
                if type(call_id) is not str or call.get("type") != "function" or type(function) is not dict or len(function) != 2:
                    return None
                name = function.get("name")
                arguments = function.get("arguments")
                if type(name) is not str or not name or type(arguments) is not str:
                    return None
                try:
                    orjson.loads(arguments)
                except orjson.JSONDecodeError:
                    return None  # json may still accept it: the general path decides
                call_ids.add(call_id)
                n += count(call_id) + _FUNCTION_TOKENS + count(name) + count(arguments)
            assistant += n
            roles |= _ASSISTANT
            assistants += 1
            total += _MESSAGE_TOKENS + n
        elif len(message) == 3 and role == "tool":
            call_id = message.get("tool_call_id")
            content = message.get("content")
            if type(call_id) is not str or call_id not in call_ids or type(content) is not str:
                return None
            n = count(call_id)
            tool_call_ids += n
            tools_answers += 1
            total += _MESSAGE_TOKENS + n + count(content)
        else:
            return None
    if tools:
        total += token_count.json_tokens(tools, count)
    return total, assistant, len(messages), roles, Shape(systems, users, assistants, tools_answers, tool_call_ids, system_space)


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
