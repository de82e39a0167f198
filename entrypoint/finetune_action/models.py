"""What we know about each fine-tunable base model: tokenizer, limits, methods and price.

The facts live in models.json (data with its source and date); this module resolves the
many spellings a model goes by (dated snapshots, undated aliases, `ft:` continued
fine-tunes, Azure names such as `gpt-35-turbo` or `...ft-<id>`) to one base model.
tiktoken's own model map is not used: it maps `ft:gpt-4.1-...` to the wrong encoding.
"""
from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import NamedTuple


class Price(NamedTuple):
    usd: float
    per: str  # "1M training tokens" or "training hour"
    source: str
    date: str

    @property
    def per_token(self) -> bool:
        return self.per == "1M training tokens"


class ModelInfo(NamedTuple):
    name: str  # as written in finetune.yaml
    base: str | None  # canonical base model, None when unknown
    encoding: str
    example_token_limit: int | None
    methods: tuple[str, ...]
    vision: bool
    legacy_completions: bool
    price: Price | None

    @property
    def known(self) -> bool:
        return self.base is not None


#: Encoding assumed for models we do not know; every report says so.
FALLBACK_ENCODING = "o200k_base"


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    text = resources.files("finetune_action").joinpath("models.json").read_text("utf-8")
    return json.loads(text)


def known_models() -> list[str]:
    """Canonical names of every model in the table."""
    return list(_table()["models"])


def base_model(name: str) -> str | None:
    """The canonical base model for any spelling of `name`, or None if unknown."""
    models = _table()["models"]
    candidate = name.strip()
    if candidate.startswith("ft:"):
        # ft:<base>:<org>:<suffix>:<id>
        candidate = candidate[3:].split(":", 1)[0]
    # Azure fine-tuned models: <base>.ft-<id>
    candidate = re.sub(r"\.ft-[0-9a-zA-Z]+$", "", candidate)
    candidate = candidate.replace("gpt-35-turbo", "gpt-3.5-turbo")
    if candidate in models:
        return candidate
    for canonical, facts in models.items():
        if candidate in facts["aliases"]:
            return canonical
    return None


def resolve(name: str, pricing: dict[str, float] | None = None) -> ModelInfo:
    """Everything known about model `name`, with USD-per-1M-token overrides from finetune.yaml."""
    table = _table()
    base = base_model(name)
    facts = table["models"].get(base) if base else None
    price = None
    if facts:
        price = Price(facts["price"]["usd"], facts["price"]["per"], table["source"], table["date"])
    for key in (name, base):
        if pricing and key in pricing:
            price = Price(float(pricing[key]), "1M training tokens", "finetune.yaml pricing", "override")
            break
    if facts is None:
        return ModelInfo(name, None, FALLBACK_ENCODING, None, (), False, False, price)
    return ModelInfo(
        name=name,
        base=base,
        encoding=facts["encoding"],
        example_token_limit=facts["example_token_limit"],
        methods=tuple(facts["methods"]),
        vision=facts["vision"],
        legacy_completions=facts.get("legacy_completions", False),
        price=price,
    )
