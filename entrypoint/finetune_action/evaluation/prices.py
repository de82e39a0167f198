"""Inference prices per model: the provider catalogue's, else a small table of OpenAI's own.

A fine-tuned model costs more per token than its base; a model whose price is unknown is
priced at nothing and said to be unknown, never guessed.
"""
from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import NamedTuple

from finetune_action import models


class InferencePrice(NamedTuple):
    input_usd: float  # per 1M prompt tokens
    output_usd: float  # per 1M completion tokens
    source: str


def fine_tuned(model: str) -> bool:
    """Whether a model id names a fine-tune (OpenAI's ft:..., Azure's <base>.ft-<id>)."""
    return model.startswith("ft:") or re.search(r"\.ft-[0-9a-zA-Z]+$", model) is not None


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    return json.loads(resources.files("finetune_action.evaluation").joinpath("prices.json").read_text("utf-8"))


def price(model: str, provider: str = "openai", tuned: bool | None = None) -> InferencePrice | None:
    """What one model costs at inference; `tuned` overrides what the id says (a checkpoint, another provider's fine-tune)."""
    tuned = fine_tuned(model) if tuned is None else tuned
    try:
        info = models.resolve(model, None, provider)  # the catalogue resolves per provider
    except TypeError:
        info = models.resolve(model)
    known = getattr(info, "inference", None)  # the catalogue's, once it carries inference prices
    if known is not None:
        input_usd, output_usd = (known.fine_tuned_input_usd, known.fine_tuned_output_usd) if tuned else (known.input_usd, known.output_usd)
        if input_usd is not None and output_usd is not None:
            return InferencePrice(input_usd, output_usd, f"{known.source} ({known.date})")
        return None
    if provider not in ("openai", "azure") or info.base is None:
        return None
    facts = _table()["models"].get(info.base)
    if facts is None:
        return None
    table = _table()
    if tuned:
        return InferencePrice(facts["fine_tuned_input_usd"], facts["fine_tuned_output_usd"], f"{table['source']} ({table['date']})")
    return InferencePrice(facts["input_usd"], facts["output_usd"], f"{table['source']} ({table['date']})")


def usd(prompt_tokens: int, completion_tokens: int, known: InferencePrice | None) -> float | None:
    """The cost of tokens at a price, None without a price."""
    if known is None:
        return None
    return round((prompt_tokens * known.input_usd + completion_tokens * known.output_usd) / 1_000_000, 6)
