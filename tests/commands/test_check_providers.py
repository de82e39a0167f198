"""A finetune.yaml per provider (examples/providers/) passes `finetune check` with that provider's price and limits."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_action import models
from testing.repo import run_finetune

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {  # provider: (model, limit, USD per 1M, epochs for 16 examples, tokenizer the counts come from)
    "openai": ("gpt-4.1-mini-2025-04-14", 65536, 5.0, 6, "o200k_base"),
    "azure": ("gpt-4.1-mini-2025-04-14", 65536, 4.5, 6, "o200k_base"),  # the Global tier
    "together": ("openai/gpt-oss-20b", 16384, 1.5, 1, "o200k_harmony"),  # gpt-oss-20b's own
    "fireworks": ("accounts/fireworks/models/llama-v3p1-8b-instruct", None, 0.5, 1, "llama3"),
}


@pytest.mark.parametrize("provider", list(EXPECTED))
def test_example_config_per_provider(provider: str) -> None:
    result = run_finetune("check", f"examples/providers/{provider}.yaml", "--format", "json", "--today", "2026-07-01", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)["configs"][0]
    model, limit, usd, epochs, counted_with = EXPECTED[provider]
    assert (entry["provider"], entry["base_model"], entry["example_token_limit"]) == (provider, model, limit)
    assert (entry["price"]["usd"], entry["n_epochs"], entry["encoding"]) == (usd, epochs, counted_with)
    assert entry["estimated_cost_usd"] == round(entry["billed_tokens"] * usd / 1e6, 4)
    assert entry["tokenizer"] == models.resolve(model, provider=provider).tokenizer
    if entry["tokenizer"] != counted_with:
        assert "approximate" in entry["counting"]["encoding"]


def test_the_openai_example_compares_three_providers_each_with_its_tokenizer() -> None:
    result = run_finetune("check", "examples/providers/openai.yaml", "--format", "json", "--today", "2026-07-01", cwd=ROOT)
    entry = json.loads(result.stdout)["configs"][0]
    rows = {a["provider"]: a for a in entry["compare"]["alternatives"]}
    assert entry["compare"]["suggested"] is False and list(rows) == ["azure", "together", "fireworks"]
    assert rows["azure"]["price"]["usd"] == 4.5 and rows["azure"]["billed_tokens"] == entry["billed_tokens"]
    assert rows["together"]["n_epochs"] == 1 and not rows["together"]["approximate"] and rows["together"]["counted_with"] == "o200k_harmony"
    assert rows["fireworks"]["counted_with"] == "qwen3" and "approximate: qwen3 counted with qwen.tiktoken" in rows["fireworks"]["note"]  # no Qwen reference encoder
    # another tokenizer gives other counts: the data was counted again
    assert rows["fireworks"]["billed_tokens_per_epoch"] != entry["billed_tokens_per_epoch"]
