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


def test_each_provider_has_its_own_spellings_and_facts() -> None:
    azure = models.resolve("gpt-35-turbo", provider="azure")
    assert azure.base == "gpt-35-turbo-0125" and azure.tokenizer == "cl100k_base"
    together = models.resolve("meta-llama/Meta-Llama-3.1-8B-Instruct", provider="together")
    assert together.base == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference" and together.tokenizer == "llama3"
    assert models.resolve("gpt-oss-20b", provider="fireworks").base == "accounts/fireworks/models/gpt-oss-20b"
    assert not models.resolve("openai/gpt-oss-20b", provider="openai").known


def test_azure_tiers_discount_the_standard_price() -> None:
    standard = models.resolve("gpt-4.1-mini", provider="azure").price
    assert standard.usd == 5.0 and not standard.verified
    assert models.resolve("gpt-4.1-mini", provider="azure", tier="global").price.usd == 4.5  # 10% off: the low end of 10-30%
    developer = models.resolve("gpt-4.1-mini", provider="azure", tier="developer").price
    assert developer.usd == 2.25 and "50% off Global" in developer.source


def test_together_prices_by_size_bracket_method_and_lora() -> None:
    assert models.resolve("Qwen/Qwen3-8B", provider="together").price.usd == 0.48
    assert models.resolve("Qwen/Qwen3-8B", provider="together", lora=False).price.usd == 0.54
    assert models.resolve("Qwen/Qwen3-8B", provider="together", method="dpo").price.usd == 1.2
    dpo = models.resolve("openai/gpt-oss-20b", provider="together", method="dpo")
    assert dpo.example_token_limit == 8192 and dpo.price.usd == 3.75 and dpo.default_epochs == 1
    big = models.resolve("openai/gpt-oss-120b", provider="together")
    assert big.price is None and "above the published brackets" in big.price_note


def test_lifecycle_and_inference_facts() -> None:
    mini = models.resolve("gpt-4.1-mini")
    assert (mini.training_ends, mini.serving_ends) == ("2027-01-06", "2027-01-14")
    assert mini.inference.fine_tuned_output_usd == 3.2 and not mini.inference.verified
    assert models.resolve("gpt-4.1-mini", provider="azure").training_ends == "2027-04-14"
    assert models.resolve("gpt-4.1-mini").encoding == "o200k_base"  # the old name still works


def test_a_model_the_catalogue_does_not_list_still_takes_the_providers_epoch_default() -> None:
    # n_epochs auto is the provider's rule: a pricing override for an unlisted Together model is
    # estimated at Together's default (1), not OpenAI's rule (which gave 6 for a small file).
    info = models.resolve("my-org/unlisted-model", {"my-org/unlisted-model": 2.0}, "together")
    assert not info.known and info.default_epochs == models.catalogue("together")["epochs"]["value"] == 1
    assert models.resolve("ft-unknown", {"ft-unknown": 2.0}).default_epochs == models.catalogue("openai").get("epochs", {}).get("value")
