"""Lifecycle through the CLI: OpenAI's wind-down as a user meets it, on a settable today."""
from __future__ import annotations

import json
from pathlib import Path

from testing.repo import chat_examples, init_repo, minimal_config, run_finetune, write_files


def repo_with(tmp_path: Path, **config) -> Path:
    repo = init_repo(tmp_path / "repo")
    write_files(repo, {"finetune.yaml": minimal_config(**config), "data/train.jsonl": chat_examples(20)})
    return repo


def test_openai_after_the_wind_down_fails_with_the_migration_message(tmp_path: Path) -> None:
    repo = repo_with(tmp_path)
    result = run_finetune("check", cwd=repo, env={"FINETUNE_TODAY": "2027-01-07"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.startswith("Checking finetune.yaml: FAILED")
    # The source came between the provider and the date: "OpenAI: OpenAI deprecations page, ..., 2026-09-01 stopped new training".
    assert "! model-not-trainable: gpt-4.1-mini-2025-04-14 cannot be fine-tuned any more: OpenAI stopped new training on 2027-01-06 (OpenAI deprecations page" in result.stdout
    assert ("- the same model at Azure OpenAI (last day to train 2027-04-13): "
            "`provider: {type: azure, endpoint: https://<resource>.openai.azure.com}` and `model: gpt-4.1-mini-2025-04-14`") in result.stdout
    assert "`provider: together` and `model: openai/gpt-oss-20b`" in result.stdout
    assert "where else it trains (suggested" in result.stdout


def test_today_flag_wins_over_the_variable_and_json_carries_the_dates(tmp_path: Path) -> None:
    repo = repo_with(tmp_path)
    result = run_finetune("check", "--today", "2026-12-01", "--format", "json", cwd=repo, env={"FINETUNE_TODAY": "2027-01-07"})
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)["configs"][0]
    assert entry["lifecycle"] == {"today": "2026-12-01", "training_ends": "2027-01-06", "last_training_day": "2027-01-05",
                                  "serving_ends": "2027-01-14", "source": entry["lifecycle"]["source"], "training_source": entry["lifecycle"]["training_source"]}
    assert "2027-01-06" in entry["lifecycle"]["training_source"]
    assert [w["code"] for w in entry["warnings"] if w["code"] in ("training-closing", "serving-ending")] == ["training-closing", "serving-ending"]
    assert entry["compare"]["suggested"] is True
    assert [a["provider"] for a in entry["compare"]["alternatives"]][0] == "azure"


def test_far_from_any_date_there_is_no_warning_and_no_suggestion(tmp_path: Path) -> None:
    result = run_finetune("check", "--today", "2026-07-01", "--format", "json", cwd=repo_with(tmp_path))
    entry = json.loads(result.stdout)["configs"][0]
    assert not [w for w in entry["warnings"] if w["code"] in ("training-closing", "serving-ending")]
    assert entry["compare"] == {"suggested": False, "alternatives": []}


def test_a_bad_today_is_a_usage_error(tmp_path: Path) -> None:
    result = run_finetune("check", "--today", "next week", cwd=repo_with(tmp_path))
    assert result.returncode == 2 and "--today 'next week' is not a date: write it as YYYY-MM-DD" in result.stderr
    assert "Traceback" not in result.stderr
