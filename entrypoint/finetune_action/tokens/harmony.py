"""gpt-oss: o200k_harmony (o200k_base's ranks plus harmony's special tokens) and the harmony chat format.

A conversation renders as openai-harmony's render_conversation_for_training does: a system
block (identity, knowledge cutoff, reasoning effort, channels), the data's system message as a
developer message under "# Instructions", and each message as <|start|>{role}<|message|>...<|end|>,
assistant answers in the final channel. Tests hold plain conversations equal to openai-harmony.
"""
from __future__ import annotations

import tiktoken

from finetune_action.tokens import encodings
from finetune_action.tokens.count import Template
from finetune_action.tokens.tokenizers import Tokenizer

# openai-harmony's SystemContent.new(), as rendered (no conversation date).
SYSTEM = (
    "You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\n\nReasoning: medium\n\n"
    "# Valid channels: analysis, commentary, final. Channel must be included for every message."
)
INSTRUCTIONS = "# Instructions\n\n"
SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>", "<|channel|>", "<|start|>", "<|end|>", "<|message|>", "<|call|>", "<|endofprompt|>")


def template(encoding: tiktoken.Encoding) -> Template:
    def n(text: str) -> int:
        return len(encoding.encode_ordinary(text))

    wrap = 3  # <|start|>, <|message|>, <|end|> (or <|return|>, <|call|>)
    return Template(
        per_example=wrap + n("system") + n(SYSTEM),
        fixed={
            "system": wrap + n("developer") + n(INSTRUCTIONS),
            "developer": wrap + n("developer") + n(INSTRUCTIONS),
            "user": wrap + n("user"),
            "assistant": wrap + n("assistant") + 1 + n("final"),  # <|channel|>final
            # approximate: the tool answer's header names the function ("functions.x to=assistant")
            "tool": wrap + n("functions. to=assistant") + 1 + n("commentary"),
        },
        unknown_role=wrap,
        leads={"system": INSTRUCTIONS, "developer": INSTRUCTIONS},
        no_system=0,
        final_answer=0,
    )


def load() -> Tokenizer:
    encoding = encodings.get("o200k_base")  # the same ranks and pattern: counts are shared with o200k_base
    return Tokenizer(
        name="o200k_harmony",
        encoding=encoding,
        template=template(encoding),
        special_tokens=SPECIAL_TOKENS,
        exact=True,
        rests_on="o200k_harmony (o200k_base ranks, bundled) with the harmony chat format of openai-harmony's training render, "
        "exact for text messages; tool calls and tool definitions approximate (their strings and compact JSON)",
        counter="o200k_base",
    )
