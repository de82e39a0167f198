"""Token counting rules, per data format, on top of an offline tiktoken encoding.

Chat examples use the published approximation of OpenAI's data-prep notebook (3 tokens per
example, 3 per message, the tokens of every string value, 1 more for `name`), extended to
content parts, tool calls and tool definitions as RULES describes; every report repeats it.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson
import tiktoken

TOKENS_PER_EXAMPLE = 3
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1

#: What each format's numbers rest on, quoted in every report.
RULES = {
    "chat": (
        "chat: per example 3 + sum over messages of (3 + tokens of every string value, +1 if `name`), "
        "the approximation of OpenAI's data-prep notebook; text parts count their text, tool_calls and "
        "function_call their id, type, name and arguments; tools/functions add the tokens of their compact JSON once per example; "
        "images are not counted"
    ),
    "preference": (
        "dpo: the chat rule over input.messages + preferred_output + non_preferred_output as one conversation "
        "(plus input.tools as JSON)"
    ),
    "reinforcement": (
        "reinforcement: the chat rule over messages (plus tools as JSON), for information only: "
        "reinforcement fine-tuning is billed per training hour, not per token"
    ),
    "completion": "legacy completions: tokens of prompt + tokens of completion",
}
#: The rule for chat-like formats when the model's tokenizer has a chat template (tokens/tokenizers.py).
TEMPLATED_RULE = (
    "{format}: tokens of each conversation as {tokenizer}'s chat template renders it (role headers, separators, "
    "end-of-turn tokens, the template's defaults); tool calls count their strings, tool definitions their compact JSON; "
    "images are not counted"
)


class Template(NamedTuple):
    """A model family's chat template as token overheads, so a chat example counts as its templated text.

    Built by each family module (tokens/harmony.py, qwen.py, llama3.py, mistral.py) with its own
    encoding. Text the template glues to the start of a message's content (`leads`) is counted
    with it when the content starts with whitespace, where BPE would merge across the seam;
    everywhere else special tokens separate the pieces, so counting them apart is exact.
    """

    per_example: int  # tokens added once per conversation: BOS, a default system block
    fixed: dict[str, int]  # per role: tokens around the content (specials, the role header, separators, its lead alone)
    unknown_role: int  # the same for a role not in `fixed`, besides the tokens of the role name itself
    leads: dict[str, str]  # per role: text the template writes right before the content (its tokens are in `fixed`)
    no_system: int  # tokens added when the conversation does not open with a system message
    final_answer: int  # tokens added when the conversation ends with an assistant answer (Qwen3's empty think block)
    final_lead: str = ""  # Qwen3: the text between that block and the answer (its tokens in final_answer); the answer loses its leading newlines
    system_into_last_user: str | None = None  # Mistral: system text goes before the last user message, joined by this
    answer_rstrip: str = ""  # Mistral: characters stripped from the end of assistant text


class ExampleTokens(NamedTuple):
    total: int
    assistant: int  # tokens of assistant content and tool calls (dpo: both outputs; legacy: completion)
    messages: int


Count = Callable[[str], int]

#: Every role name is one token in both cl100k_base and o200k_base (tests/tokens prove it).
ROLE_TOKENS = {"system": 1, "user": 1, "assistant": 1, "tool": 1, "function": 1, "developer": 1}

# What the counter remembers is bounded by entries and by size, whatever the data: long
# documents repeated in every example must not grow a worker past its memory target.
_CACHE_LIMIT = 4096
_CACHE_CHARS = 4_000_000  # at most 32 MB even in 4-byte characters with tiktoken's UTF-8 copy
_SHORT = 24  # roles, types, ids: few distinct values, counted once each
_SHORT_LIMIT = 50_000
_JSON_CACHE_LIMIT = 1024
_JSON_CACHE_BYTES = 4_000_000


def make_counter(
    encoding: tiktoken.Encoding,
    inspect: Callable[[str], Any] | None = None,
    normalize: Callable[[str], str] | None = None,
) -> Count:
    """A function giving the token count of a string, remembering strings that recur.

    `normalize` is applied before counting (Qwen's tokenizer NFC-normalizes its input); the
    cache stays keyed by the text as given.

    Real datasets repeat their roles, system prompts and tool definitions in every example;
    counting them once is the cheapest speed-up there is.

    Every string holding `<|`, where the tokenizer's special tokens begin, is appended to
    `count.flagged` and never remembered, so the caller learns of each example holding one
    without scanning the text again. So is every string for which `inspect` (the secrets and
    personal-data scan, dataset/scan.py) returns something: it sees each distinct string once.
    """
    public = encoding.encode_ordinary
    # The Rust core without tiktoken's Python wrapper: one frame less per string. The
    # wrapper is still used for the rare text with lone surrogates, which it repairs.
    core = getattr(getattr(encoding, "_core_bpe", None), "encode_ordinary", public)
    if normalize is not None:
        raw_core, raw_public = core, public
        core = lambda text: raw_core(normalize(text))  # noqa: E731  (only reached on a cache miss)
        public = lambda text: raw_public(normalize(text))  # noqa: E731
    cache: dict[str, int] = {}
    short: dict[str, int] = {}
    flagged: list[str] = []
    remembered = 0  # characters in `cache`

    def count(text: str) -> int:
        nonlocal remembered
        size = len(text)
        table = short if size < _SHORT else cache
        found = table.get(text)
        if found is None:
            try:
                found = len(core(text))
            except UnicodeEncodeError:
                found = len(public(text))
            if "<|" in text or (inspect is not None and inspect(text)):
                flagged.append(text)
                return found
            if size < _SHORT:
                if len(short) < _SHORT_LIMIT:
                    short[text] = found
            elif size >= 48:
                remembered += size
                if len(cache) >= _CACHE_LIMIT or remembered > _CACHE_CHARS:
                    cache.clear()
                    remembered = size
                cache[text] = found
        return found

    count.json_cache = {}  # type: ignore[attr-defined]  # see json_tokens
    count.json_cache_bytes = [0]  # type: ignore[attr-defined]
    count.flagged = flagged  # type: ignore[attr-defined]
    count.tables = (short, cache, core, public)  # type: ignore[attr-defined]  # see reader
    return count


def reader(count: Count) -> Count:
    """A counter reading what `count` remembers, tokenizing the rest itself, remembering and flagging nothing.

    For a second chat template over the same vocabulary (o200k_harmony beside o200k_base):
    right after `count` has counted an example, nearly every string of it is remembered
    there, so the second template costs dictionary lookups, not a second tokenization; and
    the scan, which `count` hooks, sees each string once.
    """
    short, cache, core, public = count.tables  # type: ignore[attr-defined]

    def counted(text: str) -> int:
        found = (short if len(text) < _SHORT else cache).get(text)
        if found is None:
            try:
                found = len(core(text))
            except UnicodeEncodeError:
                found = len(public(text))
        return found

    # Its own: a definition `count` flags (a scan finding) is never remembered there, and must stay so.
    counted.json_cache = {}  # type: ignore[attr-defined]
    counted.json_cache_bytes = [0]  # type: ignore[attr-defined]
    counted.flagged = []  # type: ignore[attr-defined]
    return counted


def json_tokens(value: Any, count: Count) -> int:
    """Tokens of the compact JSON of `value` (tool and function definitions).

    Examples repeat the same definitions, so the count is remembered per counter under
    orjson's serialisation, which is ten times cheaper to make than json's. The text counted
    stays json's: it differs from orjson's in float spelling (1e+16) and NaN, and NaN
    becomes orjson's `null`, so anything holding a null is not remembered; nor is anything
    holding `<|`, which the counter must see each time (see make_counter).
    """
    cache = getattr(count, "json_cache", None)
    try:
        key = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # integers over 64 bits, lone surrogates
        key = b"null"
    if cache is not None and b"null" not in key and b"<|" not in key:
        found = cache.get(key)
        if found is None:
            size = count.json_cache_bytes  # type: ignore[attr-defined]
            size[0] += len(key)
            if len(cache) >= _JSON_CACHE_LIMIT or size[0] > _JSON_CACHE_BYTES:
                cache.clear()
                size[0] = len(key)
            flagged = count.flagged  # type: ignore[attr-defined]
            seen = len(flagged)
            found = count(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
            if len(flagged) == seen:  # a flagged definition must reach the counter every time, as `<|` does
                cache[key] = found
        return found
    return count(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _content_tokens(content: Any, count: Count) -> int:
    if type(content) is str:
        return count(content)
    total = 0
    if type(content) is list:
        for part in content:
            if type(part) is dict:
                text = part.get("text", part.get("refusal"))
                if type(text) is str:
                    total += count(text)
    return total


def _call_tokens(call: Any, count: Count) -> int:
    total = 0
    if type(call) is dict:
        for value in call.values():
            if type(value) is str:
                total += count(value)
            elif type(value) is dict:
                total += _call_tokens(value, count)
    return total


def _message_tokens(message: Any, count: Count) -> tuple[int, int]:
    """(tokens of the message by the chat rule, tokens that are assistant output)."""
    total = TOKENS_PER_MESSAGE
    if type(message) is not dict:
        return total, 0
    output = 0
    for key, value in message.items():
        if type(value) is str:
            n = count(value)
            if key == "name":
                n += TOKENS_PER_NAME
            elif key == "content":
                output = n
            total += n
        elif key == "content":
            output = _content_tokens(value, count)
            total += output
        elif key == "tool_calls" and type(value) is list:
            n = sum(_call_tokens(call, count) for call in value)
            output += n
            total += n
        elif key == "function_call":
            n = _call_tokens(value, count)
            output += n
            total += n
    if message.get("role") != "assistant":
        output = 0
    return total, output


def chat_tokens(messages: Any, tools: Any, count: Count) -> ExampleTokens:
    """Tokens of one conversation (plus its tool or function definitions) by the chat rule."""
    total = TOKENS_PER_EXAMPLE
    assistant = 0
    if type(messages) is list:
        for message in messages:
            # Most messages are just a role and a text: count them without the general walk.
            if type(message) is dict and len(message) == 2:
                role = message.get("role")
                content = message.get("content")
                if type(role) is str and type(content) is str:
                    n = count(content)
                    total += TOKENS_PER_MESSAGE + (ROLE_TOKENS.get(role) or count(role)) + n
                    if role == "assistant":
                        assistant += n
                    continue
            n, out = _message_tokens(message, count)
            total += n
            assistant += out
    if tools:
        total += json_tokens(tools, count)
    return ExampleTokens(total, assistant, len(messages) if type(messages) is list else 0)


def templated_chat_tokens(messages: Any, tools: Any, count: Count, template: Template) -> ExampleTokens:
    """Tokens of one conversation as `template` renders it (tool definitions: their compact JSON)."""
    total = template.per_example
    assistant = 0
    if type(messages) is not list or not messages:
        return ExampleTokens(total, 0, 0)
    fixed = template.fixed
    leads = template.leads
    first = messages[0]
    if not (type(first) is dict and first.get("role") == "system"):
        total += template.no_system
    joined = template.system_into_last_user
    system_text = last_user = None
    if joined is not None:
        texts = [m["content"] for m in messages if type(m) is dict and m.get("role") == "system" and type(m.get("content")) is str]
        users = [i for i, m in enumerate(messages) if type(m) is dict and m.get("role") == "user"]
        if texts and users:
            system_text, last_user = joined.join(texts) + joined, users[-1]
    plain = system_text is None and not template.answer_rstrip
    last = len(messages) - 1
    final = last if template.final_lead else -1  # the message the final_lead goes before
    for index, message in enumerate(messages):
        if type(message) is not dict:
            continue
        role = message.get("role")
        content = message.get("content")
        overhead = fixed.get(role) if type(role) is str else None
        # Most messages are a role and a text: counted without the general walk.
        if plain and overhead is not None and len(message) == 2 and type(content) is str and index != final:
            if leads and content and content[0].isspace() and role in leads:
                n = _seam_tokens(leads[role], content, count)
            else:
                n = count(content)
            total += overhead + n
            if role == "assistant":
                assistant += n
            continue
        if system_text is not None and role == "system":
            continue  # counted with the last user message
        if index == last_user and type(content) is str:
            content = system_text + content
        if overhead is None:
            overhead = template.unknown_role + (count(role) if type(role) is str else 0)
        lead = leads.get(role, "") if type(role) is str else ""  # a list or object role is an error the check reports
        if role == "assistant" and type(content) is str:
            if template.answer_rstrip:
                content = content.rstrip(template.answer_rstrip)
            if template.final_lead and index == last:
                lead = template.final_lead  # the role's own lead stands alone before the final_answer block
                content = content.lstrip("\n")
        if type(content) is str:
            output = _seam_tokens(lead, content, count) if lead and content[:1].isspace() else count(content)
        else:
            output = _content_tokens(content, count)
        calls = message.get("tool_calls")
        if type(calls) is list:
            output += sum(_call_tokens(call, count) for call in calls)
        elif "function_call" in message:
            output += _call_tokens(message["function_call"], count)
        total += overhead + output
        if role == "assistant":
            assistant += output
    if type(messages[last]) is dict and messages[last].get("role") == "assistant":
        total += template.final_answer
    if tools:
        total += json_tokens(tools, count)
    return ExampleTokens(total, assistant, len(messages))


def _seam_tokens(lead: str, content: str, count: Count) -> int:
    """Tokens `content` adds after `lead` when it starts with whitespace, which BPE may merge with the lead's end."""
    return count(lead + content) - count(lead)


def example_tokens(example: dict, format: str, count: Count, template: Template | None = None) -> ExampleTokens:
    """Token counts of one example of `format` (chat, preference, reinforcement, completion).

    With a `template`, conversations count as that chat template renders them; without one, by
    OpenAI's chat rule.
    """
    if format == "completion":
        prompt = example.get("prompt")
        completion = example.get("completion")
        p = count(prompt) if type(prompt) is str else 0
        c = count(completion) if type(completion) is str else 0
        return ExampleTokens(p + c, c, 2)
    if format == "preference":
        given = example.get("input")
        given = given if type(given) is dict else {}
        messages = given.get("messages")
        messages = list(messages) if type(messages) is list else []
        outputs = []
        for key in ("preferred_output", "non_preferred_output"):
            value = example.get(key)
            if type(value) is list:
                outputs.extend(value)
        if template is None:
            whole = chat_tokens(messages + outputs, given.get("tools"), count)
        else:
            whole = templated_chat_tokens(messages + outputs, given.get("tools"), count, template)
        assistant = sum(_message_tokens(m, count)[1] for m in outputs)
        return ExampleTokens(whole.total, assistant, whole.messages)
    tools = example.get("tools")
    if format == "chat" and "functions" in example:
        tools = [tools, example["functions"]] if tools else example["functions"]
    if template is None:
        return chat_tokens(example.get("messages"), tools, count)
    return templated_chat_tokens(example.get("messages"), tools, count, template)
