"""Qwen 2.5 and 3.x: the qwen.tiktoken vocabulary (shipped in dashscope, Apache-2.0; vendored) and ChatML.

Qwen3.5 and Qwen3.6 have another vocabulary (248,044 tokens) that no well-kept package ships
(searched 2026-12, see README "Token counts for open models"); no catalogue lists them, so
they are unknown models, not counted with this one.

Each message renders as <|im_start|>{role}\n{content}<|im_end|>\n. Qwen2.5 adds its default
system message when a conversation has none; Qwen3 adds an empty think block to the final
assistant answer. Qwen's tokenizer NFC-normalizes text first.
"""
from __future__ import annotations

import functools
import unicodedata

import tiktoken

from finetune_action.tokens import encodings
from finetune_action.tokens.count import Template
from finetune_action.tokens.tokenizers import Tokenizer, release_ranks

DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."  # Qwen2.5's template
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
ROLES = ("system", "user", "assistant")


def template(encoding: tiktoken.Encoding, version: str) -> Template:
    def n(text: str) -> int:
        return len(encoding.encode_ordinary(text))

    wrap = 3  # <|im_start|>, <|im_end|>, the "\n" after it
    return Template(
        per_example=0,
        fixed={**{role: wrap + n(role + "\n") for role in ROLES}, "tool": wrap + 2 + n("user\n")},  # approximate: a tool answer is a user turn in <tool_response> tags
        unknown_role=wrap + n("\n"),
        leads={**{role: role + "\n" for role in ROLES}, "tool": "user\n"},
        no_system=wrap + n("system\n" + DEFAULT_SYSTEM) if version != "qwen3" else 0,
        final_answer=4 if version == "qwen3" else 0,  # <think>, "\n\n", </think>, "\n\n"
        final_lead="\n\n" if version == "qwen3" else "",
    )


def _nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


@functools.lru_cache(maxsize=None)
def load(version: str) -> Tokenizer:
    encoding = encodings.get("qwen")
    release_ranks(encoding)
    return Tokenizer(
        name=version,
        encoding=encoding,
        template=template(encoding, version),
        special_tokens=SPECIAL_TOKENS,
        exact=False,
        rests_on=f"approximate: {version} counted with qwen.tiktoken (from dashscope, Apache-2.0, bundled) after NFC, and ChatML written out "
        "by hand from Qwen's published template, because no well-kept package ships a Qwen reference encoder to check it against; "
        "text spelling Qwen's added tokens (<think>, <tool_call>, ...) counts as ordinary text where Qwen makes each one token, "
        "reasoning (<think>...</think>) inside answers is counted as written, not as the template moves or drops it; "
        "tool calls and definitions approximate",
        counter="qwen",
        normalize=_nfc,
    )
