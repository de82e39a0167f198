"""Epochs and price: from billed tokens per epoch to an estimate in USD, saying what it rests on."""
from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized
from typing import Any, NamedTuple

from finetune_action.models import Price

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25

class Estimate(NamedTuple):
    n_epochs: int
    epochs_rule: str  # how n_epochs was chosen
    billed_tokens: int  # n_epochs * billed tokens per epoch
    estimated_cost_usd: float | None  # None when there is no per-token price
    price_note: str  # what the USD figure rests on, or why there is none


def default_epochs(examples: int) -> int:
    """The number of epochs "auto" stands for, for `examples` training examples."""
    if examples <= 0:
        return TARGET_EPOCHS
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // examples)
    if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return TARGET_EPOCHS


def epochs(hyperparameters: dict[str, Any], examples: int, provider_default: int | None = None, provider: str = "") -> tuple[int, str]:
    """(n_epochs, the rule it came from): an explicit n_epochs wins over "auto".

    "auto" is OpenAI's published rule unless the provider's catalogue gives a fixed default
    (Together and Fireworks default to 1 epoch).
    """
    explicit = hyperparameters.get("n_epochs", "auto")
    if isinstance(explicit, int) and not isinstance(explicit, bool):
        return explicit, f"n_epochs: {explicit} (finetune.yaml)"
    if provider_default is not None:
        return provider_default, f"{provider_default} (n_epochs auto: the default of {provider or 'the provider'})"
    return default_epochs(examples), auto_epochs_reason(examples)


def auto_epochs_reason(examples: int) -> str:
    """What "auto" resolved to for this many examples, and why (OpenAI's published default)."""
    n = default_epochs(examples)
    target = examples * TARGET_EPOCHS
    if examples <= 0:
        why = "no training examples, so the default 3"
    elif target < MIN_TARGET_EXAMPLES:
        why = f"{examples:,} examples × 3 = {target:,} < {MIN_TARGET_EXAMPLES}, so min({MAX_DEFAULT_EPOCHS}, {MIN_TARGET_EXAMPLES} // {examples:,}) = {n}"
    elif target > MAX_TARGET_EXAMPLES:
        why = f"{examples:,} examples × 3 = {target:,} > {MAX_TARGET_EXAMPLES:,}, so max({MIN_DEFAULT_EPOCHS}, {MAX_TARGET_EXAMPLES:,} // {examples:,}) = {n}"
    else:
        why = f"{examples:,} examples × 3 = {target:,} is between {MIN_TARGET_EXAMPLES} and {MAX_TARGET_EXAMPLES:,}, so 3"
    return f"{n} (n_epochs auto: {why}; OpenAI's published default)"


def billed_tokens_per_epoch(example_tokens: Iterable[int], limit: int | None, totals: tuple[int, int] | None = None) -> int:
    """Sum of min(limit, tokens) over training examples: longer examples are cut to the limit.

    `totals`: the (sum, max) of `example_tokens`, when one set of examples is priced several
    times (each alternative of a check): two passes over a million examples saved each time.
    """
    if totals is None and (limit is None or isinstance(example_tokens, Sized)):
        totals = sums(example_tokens)  # type: ignore[arg-type]
    if totals is not None and (limit is None or totals[1] <= limit):  # the usual case: sum and max run in C, no loop here
        return totals[0]
    assert limit is not None
    return sum(n if n < limit else limit for n in example_tokens)


def sums(example_tokens: Sequence[int]) -> tuple[int, int]:
    """(sum, max) of example token counts, as billed_tokens_per_epoch takes them."""
    return sum(example_tokens), max(example_tokens, default=0)


def over_limit(example_tokens: Sequence[int], limit: int | None) -> int:
    """How many examples are longer than `limit` (the provider cuts them)."""
    if limit is None or not example_tokens or max(example_tokens) <= limit:
        return 0
    return sum(1 for n in example_tokens if n > limit)


def estimate(
    billed_per_epoch: int,
    examples: int,
    hyperparameters: dict[str, Any],
    price: Price | None,
    model: str,
    provider_default: int | None = None,
    provider: str = "",
    billing: str = "validation tokens are not billed",
) -> Estimate:
    """Epochs, billed tokens and USD for a training set; no price means no USD, never a guess."""
    n_epochs, rule = epochs(hyperparameters, examples, provider_default, provider)
    billed = n_epochs * billed_per_epoch
    if price is None:
        note = f"no price known for {model}: add `pricing: {{{model}: <USD per 1M training tokens>}}` to finetune.yaml for an estimate"
        return Estimate(n_epochs, rule, billed, None, note)
    if not price.per_token:
        note = (
            f"{model} is billed per {price.per} (USD {price.usd:g}, {price.source}, {price.date}); "
            "the duration cannot be known from the data, so no USD figure is given"
        )
        return Estimate(n_epochs, rule, billed, None, note)
    usd = round(billed * price.usd / 1_000_000, 4)
    unverified = "" if price.verified else ", unverified"
    note = f"USD {price.usd:g} per 1M training tokens ({price.source}, {price.date}{unverified}); {billing}"
    return Estimate(n_epochs, rule, billed, usd, note)
