"""`compare:`: the same training data priced at other providers and models, each counted with its own tokenizer.

Pure: check.py counts the training examples once per distinct tokenizer and hands the counts
here. When the configured model's training closes soon and no `compare` is set, the
catalogue's nearest alternatives are suggested instead.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from finetune_action import cost, lifecycle, models
from finetune_action.config import CompareSpec
from finetune_action.tokens import tokenizers


class Alternative(NamedTuple):
    provider: str
    label: str  # the provider as people read it
    model: str  # as written under compare (or suggested)
    base: str | None
    method: str
    lora: bool | None  # None where the provider does not distinguish LoRA from full
    training_type: str | None  # Azure tier
    tokenizer: str  # the model's own
    counted_with: str  # the tokenizer the counts come from (differs: approximate)
    billed_tokens_per_epoch: int
    n_epochs: int
    billed_tokens: int
    estimated_cost_usd: float | None
    price: models.Price | None
    training_ends: str | None
    last_training_day: str | None
    trainable: bool  # training still open on the check's "today"
    note: str  # what the figures rest on

    @property
    def approximate(self) -> bool:
        return self.counted_with != self.tokenizer or _approximate_template(self.counted_with) is not None


def _approximate_template(tokenizer: str) -> str | None:
    """What an open-model family's approximate count rests on (its package missing, no reference encoder), else None."""
    found = tokenizers.get(tokenizer)
    if found.template is None or found.exact:
        return None
    return found.rests_on.split(" because ")[0].rstrip(",")


def suggestions(info: models.ModelInfo, method: str, on: date) -> tuple[CompareSpec, ...]:
    """Alternatives from the catalogue for a model whose training closes: the same model elsewhere, then close ones."""
    found = []
    for option in lifecycle.where_to_train(info, on):
        if method in models.resolve(option.model, provider=option.provider).methods:
            found.append(CompareSpec(option.provider, option.model, None, None, option.training_type))
    return tuple(found)


def info_of(spec: CompareSpec, method: str) -> models.ModelInfo:
    """The catalogue entry an alternative names, priced for its method, LoRA/full and tier."""
    return models.resolve(spec.model, provider=spec.provider, method=spec.method or method, lora=spec.lora, tier=spec.training_type)


def price(
    spec: CompareSpec,
    method: str,
    counted_with: str,
    training_tokens: Sequence[int],
    hyperparameters: Mapping[str, Any],
    on: date,
    totals: tuple[int, int] | None = None,
) -> Alternative:
    """One alternative's billed tokens, epochs and cost, from the training examples counted with
    `counted_with` (`totals`: their cost.sums, when the caller prices them more than once)."""
    info = info_of(spec, method)
    table = models.catalogue(spec.provider)
    label = models.label(spec.provider)
    billed_per_epoch = cost.billed_tokens_per_epoch(training_tokens, info.example_token_limit, totals)
    estimate = cost.estimate(
        billed_per_epoch, len(training_tokens), dict(hyperparameters), info.price, info.base or spec.model,
        info.default_epochs, label, table.get("billing", ""),
    )
    lora = spec.lora if spec.lora is not None else (True if info.lora else None)
    notes = []
    if counted_with != info.tokenizer:
        notes.append(f"approximate: counted with {counted_with} ({info.tokenizer} is not known to finetune-action)")
    elif _approximate_template(counted_with):
        notes.append(_approximate_template(counted_with))
    if info.price is None:
        notes.append(info.price_note or "no price known")
    elif not info.price.verified:
        notes.append("price unverified")
    if info.price and not info.price.per_token:
        notes.append(f"billed per {info.price.per}")
    if not lifecycle.trainable(info, on):
        notes.append(f"training closed on {info.training_ends}")
    return Alternative(
        provider=spec.provider,
        label=label,
        model=spec.model,
        base=info.base,
        method=spec.method or method,
        lora=lora,
        training_type=spec.training_type,
        tokenizer=info.tokenizer,
        counted_with=counted_with,
        billed_tokens_per_epoch=billed_per_epoch,
        n_epochs=estimate.n_epochs,
        billed_tokens=estimate.billed_tokens,
        estimated_cost_usd=estimate.estimated_cost_usd,
        price=info.price,
        training_ends=info.training_ends,
        last_training_day=lifecycle.last_training_day(info.training_ends),
        trainable=lifecycle.trainable(info, on),
        note="; ".join(notes),
    )
