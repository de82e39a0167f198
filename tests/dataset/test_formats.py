"""Format detection and the structural rules that need no file."""
from __future__ import annotations

import base64

import pytest

from finetune_action.dataset import formats


@pytest.mark.parametrize(
    "example, method, expected",
    [
        ({"messages": []}, "supervised", "chat"),
        ({"messages": []}, "reinforcement", "reinforcement"),
        ({"input": {}}, "dpo", "preference"),
        ({"preferred_output": []}, "supervised", "preference"),
        ({"prompt": "a", "completion": "b"}, "supervised", "completion"),
        ({"text": "a"}, "supervised", None),
    ],
)
def test_detect(example: dict, method: str, expected: str | None) -> None:
    assert formats.detect(example, method) == expected


def test_default_format() -> None:
    assert formats.default_format("supervised", False) == "chat"
    assert formats.default_format("supervised", True) == "completion"
    assert formats.default_format("dpo", False) == "preference"
    assert formats.default_format("reinforcement", False) == "reinforcement"


def url(kind: str, data: bytes) -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


def test_image_checks_decode_data_urls_and_never_fetch() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
    assert formats.image_problem(url("png", png)) is None
    assert formats.image_problem("https://example.invalid/never-fetched.png") is None
    assert formats.image_problem(url("jpeg", png))[0] == "invalid-image"
    assert formats.image_problem(url("png", b"GIF89a"))[0] == "invalid-image"
    assert formats.image_problem(url("png", b"\x89PNG\r\n\x1a\n" + b"\x00" * formats.MAX_IMAGE_BYTES))[0] == "image-too-large"
    assert formats.image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"


def test_reinforcement_keeps_grader_fields_and_needs_a_user_last() -> None:
    example = {"messages": [{"role": "developer", "content": "d"}, {"role": "user", "content": "u"}], "answer": {"x": 1}, "tags": ["a"]}
    assert formats.check(example, "reinforcement", False) == ([], False)
    example["messages"].append({"role": "assistant", "content": "a"})
    assert [code for code, _ in formats.check(example, "reinforcement", False)[0]] == ["last-message-not-user"]


def test_chat_with_only_weight_zero_assistants_is_not_trainable() -> None:
    example = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a", "weight": 0}]}
    assert [code for code, _ in formats.check(example, "chat", False)[0]] == ["no-trainable-assistant"]


def test_assistant_may_have_null_content_with_tool_calls_only() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    base = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    ok = {"messages": [*base, {"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "tool", "tool_call_id": "c", "content": "r"}, {"role": "assistant", "content": "a"}]}
    assert formats.check(ok, "chat", False) == ([], False)
    bad = {"messages": [*base, {"role": "assistant", "content": None}]}
    codes = [code for code, _ in formats.check(bad, "chat", False)[0]]
    assert "missing-content" in codes
