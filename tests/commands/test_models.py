"""`finetune models`: the catalogue with prices and dates, as text and JSON."""
from __future__ import annotations

import json
from pathlib import Path

from testing.repo import run_finetune


def test_models_lists_every_provider_with_prices_and_dates(tmp_path: Path) -> None:
    result = run_finetune("models", "--today", "2027-01-07", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for label in ("OpenAI (openai)", "Azure OpenAI (azure)", "Together AI (together)", "Fireworks AI (fireworks)"):
        assert label in result.stdout
    assert "gpt-4.1-mini-2025-04-14: o200k_base, 65,536 tokens, supervised/dpo; supervised USD 5.00/1M, dpo USD 5.00/1M; training CLOSED since 2027-01-06, stops serving on 2027-01-14" in result.stdout
    later = run_finetune("models", "--provider", "openai", "--today", "2027-01-20", cwd=tmp_path)  # it said "serves until 2027-01-14" then too
    assert "gpt-4.1-mini-2025-04-14: " in later.stdout and "training CLOSED since 2027-01-06, stopped serving on 2027-01-14" in later.stdout
    assert "openai/gpt-oss-20b: o200k_harmony, 16,384 tokens, supervised/dpo; supervised LoRA USD 1.50/1M?" in result.stdout
    assert "Judged on 2027-01-07" in result.stdout


def test_models_json_for_one_provider(tmp_path: Path) -> None:
    result = run_finetune("models", "--provider", "azure", "--format", "json", "--today", "2026-12-01", cwd=tmp_path)
    document = json.loads(result.stdout)
    assert document["today"] == "2026-12-01" and {m["provider"] for m in document["models"]} == {"azure"}
    mini = next(m for m in document["models"] if m["model"] == "gpt-4.1-mini-2025-04-14")
    assert (mini["training_ends"], mini["last_training_day"], mini["serving_ends"], mini["trainable"]) == ("2027-04-14", "2027-04-13", "2027-10-01", True)
    assert mini["training_prices"][0]["usd"] == 5.0 and mini["inference"]["fine_tuned_input_usd"] == 0.8


def test_unknown_provider_is_a_usage_error(tmp_path: Path) -> None:
    result = run_finetune("models", "--provider", "mistral", cwd=tmp_path)
    assert result.returncode == 2 and "no catalogue for it" in result.stderr
