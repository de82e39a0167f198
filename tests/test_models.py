from __future__ import annotations

import pytest

from finetune_action import models


@pytest.mark.parametrize(
    "name, base",
    [
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini-2025-04-14"),
        ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
        ("ft:gpt-4.1-2025-04-14:acme:support:AbC123", "gpt-4.1-2025-04-14"),
        ("gpt-35-turbo-0613", "gpt-3.5-turbo-0613"),
        ("gpt-35-turbo", "gpt-3.5-turbo-0125"),
        ("gpt-4o-mini-2024-07-18.ft-0e208cf33a6a466994aff31a08aba678", "gpt-4o-mini-2024-07-18"),
        ("llama-3-70b", None),
    ],
)
def test_base_model_spellings(name: str, base: str | None) -> None:
    assert models.base_model(name) == base


def test_ft_gpt41_uses_o200k_not_tiktokens_guess() -> None:
    info = models.resolve("ft:gpt-4.1-nano-2025-04-14:org::id")
    assert info.encoding == "o200k_base" and info.example_token_limit == 32768
    assert info.price.usd == 1.5 and info.price.per_token


def test_unknown_model_has_no_price_unless_overridden() -> None:
    assert models.resolve("my-gateway-model").price is None
    info = models.resolve("my-gateway-model", {"my-gateway-model": 2.0})
    assert not info.known and info.price.usd == 2.0 and info.price.source == "finetune.yaml pricing"


def test_reinforcement_is_priced_per_hour() -> None:
    price = models.resolve("o4-mini").price
    assert price.per == "training hour" and not price.per_token
