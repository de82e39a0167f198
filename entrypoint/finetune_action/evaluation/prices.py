"""Inference prices per model, from the provider catalogue (models.resolve(...).inference).

A fine-tuned model costs more per token than its base; a model whose price the catalogue does
not know is priced at nothing and said to be unknown, never guessed.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from finetune_action import models


class InferencePrice(NamedTuple):
    input_usd: float  # per 1M prompt tokens
    output_usd: float  # per 1M completion tokens
    source: str


def fine_tuned(model: str) -> bool:
    """Whether a model id names a fine-tune (OpenAI's ft:..., Azure's <base>.ft-<id>)."""
    return model.startswith("ft:") or re.search(r"\.ft-[0-9a-zA-Z]+$", model) is not None


def price(model: str, provider: str = "openai", tuned: bool | None = None) -> InferencePrice | None:
    """What one model costs at inference; `tuned` overrides what the id says (a checkpoint, another provider's fine-tune)."""
    tuned = fine_tuned(model) if tuned is None else tuned
    known = models.resolve(model, None, provider).inference
    if known is None:
        return None
    input_usd, output_usd = (known.fine_tuned_input_usd, known.fine_tuned_output_usd) if tuned else (known.input_usd, known.output_usd)
    if input_usd is None or output_usd is None:
        return None
    return InferencePrice(input_usd, output_usd, f"{known.source} ({known.date})")


def usd(prompt_tokens: int, completion_tokens: int, known: InferencePrice | None) -> float | None:
    """The cost of tokens at a price, None without a price."""
    if known is None:
        return None
    return round((prompt_tokens * known.input_usd + completion_tokens * known.output_usd) / 1_000_000, 6)
