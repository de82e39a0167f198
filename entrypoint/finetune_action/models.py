"""What each provider's fine-tunable models can do and cost: tokenizer, limits, methods, prices, lifecycle.

The facts live in catalogue/<provider>.json (one file per provider, each fact naming a source
with its date, held to catalogue.schema.json by a test); this module reads them and resolves
the many spellings a model goes by (dated snapshots, undated aliases, `ft:` continued
fine-tunes, Azure names such as `gpt-35-turbo` or `...ft-<id>`, Together's `...-Reference`)
to one catalogue entry of the chosen provider. tiktoken's own model map is not used: it maps
`ft:gpt-4.1-...` to the wrong encoding.
"""
from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any, NamedTuple

PER_TOKEN = "1M training tokens"
PER_HOUR = "training hour"
#: Tokenizer assumed for models we do not know; every report says so.
FALLBACK_TOKENIZER = "o200k_base"
FALLBACK_ENCODING = FALLBACK_TOKENIZER  # the name callers used before the catalogue


class Price(NamedTuple):
    usd: float
    per: str  # "1M training tokens" or "training hour"
    source: str
    date: str
    verified: bool = True

    @property
    def per_token(self) -> bool:
        return self.per == PER_TOKEN


class InferencePrice(NamedTuple):
    """USD per 1M tokens at inference, for the base model and (where published) its fine-tunes."""

    input_usd: float
    output_usd: float
    fine_tuned_input_usd: float | None
    fine_tuned_output_usd: float | None
    source: str
    date: str
    verified: bool


class ModelInfo(NamedTuple):
    name: str  # as written in finetune.yaml
    base: str | None  # the catalogue id at `provider`, None when unknown
    provider: str
    tokenizer: str  # a tokenizer name from tokens/
    example_token_limit: int | None
    methods: tuple[str, ...]
    vision: bool
    legacy_completions: bool
    price: Price | None  # for the method (and LoRA/full, tier) asked for
    inference: InferencePrice | None = None
    training_ends: str | None = None  # ISO date new jobs stop being accepted
    serving_ends: str | None = None  # ISO date the base model (and its fine-tunes) stops serving
    lifecycle_source: str = ""  # where serving_ends (and training_ends) come from, with its date
    training_source: str = ""  # where training_ends comes from, with its date
    family: str | None = None  # the same model under other providers' names
    default_epochs: int | None = None  # what n_epochs auto means here; None: OpenAI's published rule
    lora: str | None = None  # "both", "only", or None when the provider does not distinguish
    training_tiers: tuple[str, ...] = ()  # the only tiers it trains on (empty: every tier)
    price_note: str = ""  # why there is no price, when the catalogue says

    @property
    def known(self) -> bool:
        return self.base is not None

    @property
    def encoding(self) -> str:
        """The tokenizer's name (the field was called encoding before the catalogue)."""
        return self.tokenizer


@functools.lru_cache(maxsize=None)
def catalogue(provider: str) -> dict[str, Any]:
    """The parsed catalogue/<provider>.json; an empty catalogue for a provider without one."""
    resource = resources.files("finetune_action").joinpath("catalogue", f"{provider}.json")
    if not resource.is_file():
        return {"provider": provider, "label": provider, "sources": {}, "models": []}
    return json.loads(resource.read_text("utf-8"))


@functools.lru_cache(maxsize=1)
def providers() -> tuple[str, ...]:
    """Every provider with a catalogue file, openai first."""
    names = sorted(p.name[: -len(".json")] for p in resources.files("finetune_action").joinpath("catalogue").iterdir() if p.name.endswith(".json"))
    return tuple(sorted(names, key=lambda n: n != "openai"))


def label(provider: str) -> str:
    """The provider's name as people read it (OpenAI, Azure OpenAI, ...)."""
    return catalogue(provider).get("label", provider)


def known_models(provider: str = "openai") -> list[str]:
    """Canonical ids of every model the provider's catalogue lists."""
    return [m["id"] for m in catalogue(provider)["models"]]


def spellings(provider: str = "openai") -> list[str]:
    """Ids and aliases of the provider's models, for did-you-mean."""
    return [name for m in catalogue(provider)["models"] for name in (m["id"], *m["aliases"])]


def _candidates(name: str) -> list[str]:
    candidate = name.strip()
    if candidate.startswith("ft:"):
        # ft:<base>:<org>:<suffix>:<id>
        candidate = candidate[3:].split(":", 1)[0]
    # Azure fine-tuned models: <base>.ft-<id>
    candidate = re.sub(r"\.ft-[0-9a-zA-Z]+$", "", candidate)
    # OpenAI writes gpt-3.5, Azure gpt-35: either spelling finds the model at either provider.
    return list(dict.fromkeys([candidate, candidate.replace("gpt-35-turbo", "gpt-3.5-turbo"), candidate.replace("gpt-3.5-turbo", "gpt-35-turbo")]))


def _entry(name: str, provider: str) -> dict[str, Any] | None:
    entries = catalogue(provider)["models"]
    for candidate in _candidates(name):
        for facts in entries:
            if candidate == facts["id"] or candidate in facts["aliases"]:
                return facts
    return None


def base_model(name: str, provider: str = "openai") -> str | None:
    """The catalogue id at `provider` for any spelling of `name`, or None if unknown."""
    facts = _entry(name, provider)
    return facts["id"] if facts else None


def _source(table: dict[str, Any], key: str) -> dict[str, Any]:
    return table["sources"].get(key, {"title": key, "date": "", "verified": False})


def training_prices(facts: dict[str, Any], table: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's price list: its own, or its size bracket's."""
    if "training_prices" in facts:
        return facts["training_prices"]
    bracket = table.get("price_brackets", {}).get(facts.get("price_bracket") or "")
    return bracket["training_prices"] if bracket else []


def _price(facts: dict[str, Any], table: dict[str, Any], method: str, lora: bool | None, tier: str | None) -> Price | None:
    wanted_lora = (facts.get("lora") == "only") or (lora if lora is not None else True)
    matches = [p for p in training_prices(facts, table) if p["method"] == method and ("lora" not in p or p["lora"] == wanted_lora)]
    if not matches:
        return None
    chosen = matches[0]
    source = _source(table, chosen["source"])
    usd, where = float(chosen["usd"]), source["title"]
    tiers = table.get("tiers", {})
    if tier and tier in tiers and tiers[tier]["multiplier"] != 1:
        step = tiers[tier]
        usd = round(usd * step["multiplier"], 6)
        where += f"; {step['label']} ({_source(table, step['source'])['title']})"
    if "lora" in chosen:
        where += "; LoRA" if chosen["lora"] else "; full fine-tuning"
    verified = chosen.get("verified", source.get("verified", False))
    return Price(usd, chosen["per"], where, source.get("date", ""), verified)


def _inference(facts: dict[str, Any], table: dict[str, Any]) -> InferencePrice | None:
    raw = facts.get("inference")
    if raw is None and "price_bracket" in facts:
        raw = table.get("price_brackets", {}).get(facts.get("price_bracket") or "", {}).get("inference")
    if not raw:
        return None
    source = _source(table, raw["source"])
    return InferencePrice(
        raw["input_usd"], raw["output_usd"], raw["fine_tuned_input_usd"], raw["fine_tuned_output_usd"],
        source["title"], source.get("date", ""), raw.get("verified", source.get("verified", False)),
    )


def resolve(
    name: str,
    pricing: dict[str, float] | None = None,
    provider: str = "openai",
    *,
    method: str = "supervised",
    lora: bool | None = None,
    tier: str | None = None,
) -> ModelInfo:
    """Everything known about model `name` at `provider`, priced for `method` (LoRA or full, training tier).

    `pricing` (USD per 1M training tokens, from finetune.yaml) overrides the catalogue's price.
    """
    table = catalogue(provider)
    facts = _entry(name, provider)
    base = facts["id"] if facts else None
    # A method the model does not take is refused by config.py; price what it does take.
    priced = method if not facts or method in facts["methods"] else facts["methods"][0]
    price = _price(facts, table, priced, lora, tier) if facts else None
    for key in (name, base):
        if pricing and key in pricing:
            price = Price(float(pricing[key]), PER_TOKEN, "finetune.yaml pricing", "override")
            break
    epochs = table.get("epochs", {})
    if facts is None:
        # What `n_epochs: auto` means is the provider's rule, known for models it does not list too.
        return ModelInfo(name, None, provider, FALLBACK_TOKENIZER, None, (), False, False, price, default_epochs=epochs.get("value"))
    limit = facts["example_token_limit"]["value"]
    if method == "dpo" and "dpo_token_limit" in facts:
        limit = facts["dpo_token_limit"]
    life = facts["lifecycle"]

    def described(key: str) -> str:
        source = _source(table, key)
        verified = life.get("verified", source.get("verified", False))
        return f"{source['title']}, {source.get('date', '')}" + ("" if verified else ", unverified")

    return ModelInfo(
        name=name,
        base=base,
        provider=provider,
        tokenizer=facts["tokenizer"],
        example_token_limit=limit,
        methods=tuple(facts["methods"]),
        vision=facts["vision"],
        legacy_completions=facts.get("legacy_completions", False),
        price=price,
        inference=_inference(facts, table),
        training_ends=life["training_ends"],
        serving_ends=life["serving_ends"],
        lifecycle_source=described(life["source"]),
        training_source=described(life.get("training_source", life["source"])),
        family=facts.get("family"),
        default_epochs=epochs.get("value"),
        lora=facts.get("lora"),
        training_tiers=tuple(facts.get("training_tiers", ())),
        price_note=facts.get("price_note", ""),
    )


def by_family(family: str) -> list[tuple[str, str]]:
    """(provider, model id) of every catalogue entry of `family`, in provider order."""
    return [(p, m["id"]) for p in providers() for m in catalogue(p)["models"] if m.get("family") == family]


def close_families(provider: str, base: str) -> list[str]:
    """Families the catalogue suggests as close alternatives to `base` (our judgement)."""
    facts = _entry(base, provider)
    return list(facts.get("close", [])) if facts else []
