"""Epochs ("auto" as published), billed tokens and the USD estimate."""
from __future__ import annotations

from array import array

import pytest

from finetune_action import cost
from finetune_action.models import Price


@pytest.mark.parametrize("examples, epochs", [(1, 25), (4, 25), (5, 20), (10, 10), (33, 3), (34, 3), (8333, 3), (8334, 2), (12501, 1), (100000, 1), (0, 3)])
def test_default_epochs(examples: int, epochs: int) -> None:
    assert cost.default_epochs(examples) == epochs


def test_explicit_epochs_win() -> None:
    assert cost.epochs({"n_epochs": 7}, 10) == (7, "n_epochs: 7 (finetune.yaml)")
    assert cost.epochs({"n_epochs": "auto"}, 10) == (10, "10 (n_epochs auto: 10 examples × 3 = 30 < 100, so min(25, 100 // 10) = 10; OpenAI's published default)")
    assert cost.epochs({}, 50)[1] == "3 (n_epochs auto: 50 examples × 3 = 150 is between 100 and 25,000, so 3; OpenAI's published default)"
    assert cost.epochs({}, 12_501)[1].startswith("1 (n_epochs auto: 12,501 examples × 3 = 37,503 > 25,000, so max(1, 25,000 // 12,501) = 1")
    assert cost.epochs({}, 50)[0] == 3


def test_billed_tokens_are_cut_at_the_limit() -> None:
    assert cost.billed_tokens_per_epoch([10, 5000, 4096, 4097], 4096) == 10 + 4096 * 3
    assert cost.billed_tokens_per_epoch([10, 5000], None) == 5010


@pytest.mark.parametrize("limit", [None, 100, 4096, 5000])
@pytest.mark.parametrize("tokens", [[], [7], [10, 5000, 4096, 4097]])
def test_billed_tokens_are_the_same_from_sums_given_and_from_a_stream(tokens: list[int], limit: int | None) -> None:
    # A check prices one set of examples once per alternative, from sums taken once.
    expected = sum(min(n, limit) if limit is not None else n for n in tokens)
    assert cost.billed_tokens_per_epoch(tokens, limit) == expected
    assert cost.billed_tokens_per_epoch(array("I", tokens), limit, cost.sums(array("I", tokens))) == expected
    assert cost.billed_tokens_per_epoch(iter(tokens), limit) == expected


def test_estimate_per_token_price() -> None:
    price = Price(5.0, "1M training tokens", "table", "2026-08-01")
    estimate = cost.estimate(200_000, 100, {}, price, "gpt-4.1-mini")
    assert (estimate.n_epochs, estimate.billed_tokens, estimate.estimated_cost_usd) == (3, 600_000, 3.0)
    assert "USD 5 per 1M training tokens (table, 2026-08-01)" in estimate.price_note


def test_no_price_means_no_number() -> None:
    estimate = cost.estimate(1000, 100, {}, None, "my-model")
    assert estimate.estimated_cost_usd is None and "pricing: {my-model:" in estimate.price_note
    hourly = cost.estimate(1000, 100, {}, Price(100.0, "training hour", "table", "2026-08-01"), "o4-mini")
    assert hourly.estimated_cost_usd is None and "per training hour" in hourly.price_note
