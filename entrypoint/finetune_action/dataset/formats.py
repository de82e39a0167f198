"""The fine-tuning data formats: detect an example's format and check its structure.

Rules follow OpenAI's per-line schemas (FineTuneChatRequestInput, FineTunePreferenceRequestInput,
FineTuneReinforcementRequestInput) and the legacy prompt/completion format; each check
returns (code, message) pairs, the caller adds file and line.
"""
from __future__ import annotations

import binascii
import json
from typing import Any

import orjson

FORMATS = ("chat", "preference", "reinforcement", "completion")

#: Which method each format trains with.
METHOD_OF = {"chat": "supervised", "completion": "supervised", "preference": "dpo", "reinforcement": "reinforcement"}

MAX_IMAGES = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_TYPES = ("jpeg", "png", "webp")

_MESSAGE_KEYS = {
    "system": ("role", "content", "name"),
    "developer": ("role", "content", "name"),
    "user": ("role", "content", "name"),
    "assistant": ("role", "content", "name", "weight", "tool_calls", "function_call", "refusal"),
    "tool": ("role", "content", "tool_call_id"),
    "function": ("role", "content", "name"),
}
_ROLES = {
    "chat": ("system", "user", "assistant", "tool", "function"),
    "preference": ("system", "user", "assistant", "tool", "function"),
    "reinforcement": ("developer", "user", "assistant", "tool"),
}
_PLAIN_ROLES = {
    "chat": ("system", "user", "assistant"),
    "preference": ("system", "user", "assistant"),
    "reinforcement": ("developer", "user", "assistant"),
}
_EXAMPLE_KEYS = {
    "chat": ("messages", "tools", "parallel_tool_calls", "functions"),
    "preference": ("input", "preferred_output", "non_preferred_output"),
    "completion": ("prompt", "completion"),
}
_INPUT_KEYS = ("messages", "tools", "parallel_tool_calls")

Found = list[tuple[str, str]]

#: The role problems of a chat example (validate._common_chat reports them without check()).
MISSING_SYSTEM = ("missing-system", "no system message in messages")
MISSING_USER = ("missing-user", "no user message in messages")
NO_TRAINABLE = ("no-trainable-assistant", "no assistant message to train on (every example needs one with weight 1 or no weight)")


def detect(example: dict, method: str) -> str | None:
    """The format an example is written in, None when no known key is present."""
    if "messages" in example:
        return "reinforcement" if method == "reinforcement" else "chat"
    if "input" in example or "preferred_output" in example or "non_preferred_output" in example:
        return "preference"
    if "prompt" in example or "completion" in example:
        return "completion"
    return None


def default_format(method: str, legacy_completions: bool) -> str:
    """The format a file is expected in when its first example says nothing."""
    if method == "supervised":
        return "completion" if legacy_completions else "chat"
    return "preference" if method == "dpo" else "reinforcement"


def check(example: dict, format: str, vision: bool) -> tuple[Found, bool]:
    """Problems in one example of `format`, and whether it contains images."""
    found: Found = []
    images: list[tuple[str, str]] = []  # (url, role)
    if format == "completion":
        _unknown(example, _EXAMPLE_KEYS["completion"], "example", found)
        for key in ("prompt", "completion"):
            if key not in example:
                found.append(("missing-key", f'missing "{key}": a legacy example is {{"prompt": "...", "completion": "..."}}'))
            elif type(example[key]) is not str:
                found.append(("wrong-type", f'"{key}" must be a string, not {kind(example[key])}'))
        if example.get("completion") == "":
            found.append(("missing-content", '"completion" is empty: nothing to train on'))
        return found, False
    if format == "preference":
        _preference(example, found, images)
    else:
        if format == "chat":
            _unknown(example, _EXAMPLE_KEYS["chat"], "example", found)
        _conversation(example, format, "", found, images)
        if format == "chat":
            _functions(example.get("functions"), found)
    if images:
        _images(images, vision, found)
    return found, bool(images)


def _preference(example: dict, found: Found, images: list) -> None:
    _unknown(example, _EXAMPLE_KEYS["preference"], "example", found)
    given = example.get("input")
    if given is None:
        found.append(("missing-key", 'missing "input": a DPO example is {"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}'))
    elif type(given) is not dict:
        found.append(("wrong-type", f'"input" must be an object with "messages", not {kind(given)}'))
    else:
        _unknown(given, _INPUT_KEYS, "input", found)
        _conversation(given, "preference", "input.", found, images)
    for key in ("preferred_output", "non_preferred_output"):
        value = example.get(key)
        if value is None:
            found.append(("missing-key", f'missing "{key}": a list with exactly one assistant message'))
            continue
        if type(value) is not list or len(value) != 1 or type(value[0]) is not dict or value[0].get("role") != "assistant":
            found.append(("invalid-preference-output", f'"{key}" must be a list with exactly one assistant message'))
            continue
        message = value[0]
        _message(message, "assistant", _MESSAGE_KEYS["assistant"], f"{key}[0]", set(), found, images)
        if "weight" in message:
            found.append(("invalid-weight", f'{key}[0]: "weight" is for supervised chat data only'))


def _conversation(example: dict, format: str, prefix: str, found: Found, images: list) -> None:
    messages = example.get("messages")
    if messages is None:
        found.append(("missing-key", f'missing "{prefix}messages": a list of {{"role": ..., "content": ...}} messages'))
        return
    if type(messages) is not list:
        found.append(("wrong-type", f'"{prefix}messages" must be a list, not {kind(messages)}'))
        return
    if not messages:
        found.append(("empty-messages", f'"{prefix}messages" is empty'))
        return
    roles = _ROLES[format]
    call_ids: set[str] = set()
    trainable = False
    present = set()
    unknown_role = False  # a message whose role cannot be read may be the missing one: say it once
    plain = _PLAIN_ROLES[format]
    for index, message in enumerate(messages):
        # Most messages are just a role and a non-empty text, which needs no further checks.
        if type(message) is dict and len(message) == 2:
            role = message.get("role")
            content = message.get("content")
            if type(content) is str and content and role in plain:
                present.add(role)
                if role == "assistant":
                    trainable = True
                continue
        where = f"{prefix}messages[{index}]"
        if type(message) is not dict:
            found.append(("wrong-type", f"{where} must be an object, not {kind(message)}"))
            unknown_role = True
            continue
        role = message.get("role")
        if role not in roles:
            shown = "missing" if role is None else json.dumps(role)[:40]
            found.append(("invalid-role", f"{where}: role is {shown}; use one of {', '.join(roles)}"))
            unknown_role = True
            continue
        present.add(role)
        _message(message, role, _MESSAGE_KEYS[role], where, call_ids, found, images)
        if role == "assistant" and message.get("weight", 1) != 0:
            trainable = True
    tools = example.get("tools")
    if tools is not None:
        check_tools(tools, f"{prefix}tools", found)
    if "parallel_tool_calls" in example and type(example["parallel_tool_calls"]) is not bool:
        found.append(("wrong-type", f'"{prefix}parallel_tool_calls" must be true or false'))
    if format != "reinforcement" and not unknown_role:
        if "system" not in present:
            found.append((MISSING_SYSTEM[0], f"no system message in {prefix}messages"))
        if "user" not in present:
            found.append((MISSING_USER[0], f"no user message in {prefix}messages"))
    if format == "chat" and not trainable and not unknown_role:
        found.append(NO_TRAINABLE)
    if format == "reinforcement" and type(messages[-1]) is dict and messages[-1].get("role") != "user":
        found.append(("last-message-not-user", "the last message must be from the user: the model writes the answer the grader scores"))


def _message(message: dict, role: str, allowed: tuple[str, ...], where: str, call_ids: set[str], found: Found, images: list) -> None:
    for key in message:
        if key not in allowed:
            if key == "weight":
                found.append(("weight-not-assistant", f'{where}: "weight" is only allowed on assistant messages'))
            else:
                found.append(("unknown-key", f'{where}: unknown key "{key[:40]}" for a {role} message (allowed: {", ".join(allowed)})'))
    if "weight" in message and role == "assistant":
        weight = message["weight"]
        if type(weight) is not int or weight not in (0, 1):
            found.append(("invalid-weight", f"{where}: weight must be 0 or 1, not {json.dumps(weight)[:20]}"))
    name = message.get("name")
    if name is not None and type(name) is not str:
        found.append(("wrong-type", f'{where}: "name" must be a string'))
    elif role == "function" and name is None:
        found.append(("missing-key", f'{where}: a function message needs "name"'))
    content = message.get("content")
    calls = message.get("tool_calls")
    if role == "assistant":
        if calls is not None:
            _tool_calls(calls, where, call_ids, found)
        if message.get("function_call") is not None:
            _function_call(message["function_call"], where, found)
        if content is None or content == "":
            if calls is None and message.get("function_call") is None:
                found.append(("missing-content", f"{where}: an assistant message needs content, tool_calls or function_call"))
            return
    elif role == "tool":
        call_id = message.get("tool_call_id")
        if call_id is None:
            found.append(("missing-key", f'{where}: a tool message needs "tool_call_id"'))
        elif type(call_id) is not str:
            found.append(("wrong-type", f'{where}: "tool_call_id" must be a string, not {kind(call_id)}'))
        elif call_id not in call_ids:
            found.append(("unknown-tool-call-id", f"{where}: tool_call_id {json.dumps(call_id)[:60]} answers no earlier assistant tool call"))
    elif role == "function" and content is None:
        return
    if type(content) is str:
        if not content and role != "tool":
            found.append(("missing-content", f"{where}: content is empty"))
        return
    if content is None:
        found.append(("missing-content", f'{where}: missing "content"'))
        return
    if type(content) is not list:
        found.append(("wrong-type", f"{where}: content must be a string or a list of parts, not {kind(content)}"))
        return
    if not content:
        found.append(("missing-content", f"{where}: content is an empty list"))
    for index, part in enumerate(content):
        _part(part, role, f"{where}.content[{index}]", found, images)


def _part(part: Any, role: str, where: str, found: Found, images: list) -> None:
    kind = part.get("type") if type(part) is dict else None
    if kind == "text":
        if type(part.get("text")) is not str:
            found.append(("invalid-content-part", f'{where}: a text part needs "text" as a string'))
    elif kind == "refusal" and role == "assistant":
        if type(part.get("refusal")) is not str:
            found.append(("invalid-content-part", f'{where}: a refusal part needs "refusal" as a string'))
    elif kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if type(image) is dict else None
        if type(url) is not str:
            found.append(("invalid-content-part", f'{where}: an image part is {{"type": "image_url", "image_url": {{"url": "..."}}}}'))
        elif role == "assistant":
            found.append(("image-in-assistant", f"{where}: assistant messages cannot contain images"))
        elif role != "user":
            found.append(("invalid-content-part", f"{where}: only user messages may contain images"))
        else:
            images.append((url, where))
    else:
        allowed = "text, refusal" if role == "assistant" else ("text, image_url" if role == "user" else "text")
        shown = json.dumps(kind)[:30] if kind is not None else "missing"
        found.append(("invalid-content-part", f"{where}: part type {shown} is not supported here (use {allowed})"))


def _tool_calls(calls: Any, where: str, call_ids: set[str], found: Found) -> None:
    if type(calls) is not list or not calls:
        found.append(("invalid-tool-call", f"{where}: tool_calls must be a non-empty list"))
        return
    for index, call in enumerate(calls):
        at = f"{where}.tool_calls[{index}]"
        function = call.get("function") if type(call) is dict else None
        if type(call) is not dict or type(call.get("id")) is not str or call.get("type") != "function" or type(function) is not dict:
            found.append(("invalid-tool-call", f'{at}: a tool call is {{"id": "...", "type": "function", "function": {{"name": "...", "arguments": "{{...}}"}}}}'))
            continue
        call_ids.add(call["id"])
        _function_call(function, at, found)


def _function_call(function: Any, where: str, found: Found) -> None:
    if type(function) is not dict or type(function.get("name")) is not str or not function.get("name"):
        found.append(("invalid-tool-call", f'{where}: the function needs a "name" string'))
        return
    arguments = function.get("arguments")
    if type(arguments) is not str:
        found.append(("invalid-tool-arguments", f"{where}: arguments must be a JSON string (json.dumps the object), not {kind(arguments)}"))
        return
    try:
        orjson.loads(arguments)
        return
    except orjson.JSONDecodeError:
        pass
    try:  # json decides: it accepts a little more (NaN, lone surrogate escapes)
        json.loads(arguments)
    except ValueError:
        found.append(("invalid-tool-arguments", f"{where}: arguments is not valid JSON: {arguments[:40]!r}"))
    except RecursionError:
        found.append(("invalid-tool-arguments", f"{where}: arguments is JSON nested too deeply to read; flatten it"))


def check_tools(tools: Any, where: str, found: Found) -> None:
    """Problems of a `tools` list of function definitions, appended to `found`."""
    if type(tools) is not list:
        found.append(("invalid-tool", f"{where} must be a list"))
        return
    for index, tool in enumerate(tools):
        function = tool.get("function") if type(tool) is dict else None
        if type(tool) is not dict or tool.get("type") != "function" or not _function_definition(function):
            found.append(("invalid-tool", f'{where}[{index}]: a tool is {{"type": "function", "function": {{"name": "...", "parameters": {{...}}}}}}'))


def _functions(functions: Any, found: Found) -> None:
    if functions is None:
        return
    if type(functions) is not list or not all(_function_definition(f) for f in functions):
        found.append(("invalid-tool", 'functions must be a list of {"name": "...", "parameters": {...}}'))


def _function_definition(function: Any) -> bool:
    return (
        type(function) is dict
        and type(function.get("name")) is str
        and bool(function["name"])
        and type(function.get("parameters", {})) is dict
        and type(function.get("description", "")) is str
    )


def _images(images: list[tuple[str, str]], vision: bool, found: Found) -> None:
    if not vision:
        found.append(("images-not-supported", f"{images[0][1]}: this model does not accept images; use a vision model such as gpt-4o-2024-08-06 or remove the image parts"))
        return
    if len(images) > MAX_IMAGES:
        found.append(("too-many-images", f"{len(images)} images in one example; at most {MAX_IMAGES} are allowed"))
    for url, where in images:
        problem = image_problem(url)
        if problem:
            found.append((problem[0], f"{where}: {problem[1]}"))


def image_problem(url: str) -> tuple[str, str] | None:
    """What is wrong with an image URL, if anything; data URLs are decoded, remote ones never fetched."""
    if url.startswith(("https://", "http://")):
        return None
    if not url.startswith("data:"):
        return ("invalid-image", "an image URL must be https://... or a data:image/...;base64 URL")
    header, _, payload = url.partition(",")
    mime = header[5:].split(";")[0]
    if not header.endswith(";base64") or mime not in {f"image/{t}" for t in IMAGE_TYPES}:
        return ("invalid-image", f"data URL type {header[:40]!r}: use data:image/jpeg|png|webp;base64,...")
    try:
        data = binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError):
        return ("invalid-image", "the data URL is not valid base64")
    if len(data) > MAX_IMAGE_BYTES:
        return ("image-too-large", f"image of {len(data) / 1048576:.1f} MB; the limit is 10 MB")
    actual = image_type(data)
    if actual is None:
        return ("invalid-image", "the image is not JPEG, PNG or WEBP (checked by its first bytes)")
    if f"image/{actual}" != mime:
        return ("invalid-image", f"the data URL says {mime} but the bytes are {actual.upper()}")
    return None


def image_type(data: bytes) -> str | None:
    """jpeg, png or webp from an image's magic bytes, None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _unknown(mapping: dict, allowed: tuple[str, ...], where: str, found: Found) -> None:
    for key in mapping:
        if key not in allowed:
            found.append(("unknown-key", f'{where}: unknown key "{key[:40]}" (allowed: {", ".join(allowed)})'))


def kind(value: Any) -> str:
    """How a JSON value is called in messages: "a string", "an object", ..."""
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "null"}.get(type(value), "a value")
