"""Training windows and serving ends judged against a settable today, and where to go instead."""
from __future__ import annotations

from datetime import date

import pytest

from finetune_action import lifecycle, models
from finetune_action.errors import EnvironmentProblem


def codes(model: str, on: str, provider: str = "openai") -> list[str]:
    return [j.code for j in lifecycle.judge(models.resolve(model, provider=provider), date.fromisoformat(on))]


def test_today_comes_from_the_flag_then_the_variable() -> None:
    assert lifecycle.today("2027-01-07", {}) == date(2027, 1, 7)
    assert lifecycle.today(None, {"FINETUNE_TODAY": "2026-12-24"}) == date(2026, 12, 24)
    assert lifecycle.today("2027-02-01", {"FINETUNE_TODAY": "2026-12-24"}) == date(2027, 2, 1)
    with pytest.raises(EnvironmentProblem, match="FINETUNE_TODAY 'soon' is not a date: write it as YYYY-MM-DD"):
        lifecycle.today(None, {"FINETUNE_TODAY": "soon"})


@pytest.mark.parametrize(
    "on, expected",
    [
        ("2026-07-01", []),
        ("2026-10-17", ["serving-ending"]),  # 89 days before the 2027-01-14 shutdown
        ("2026-11-07", ["training-closing", "serving-ending"]),  # 60 days before 2027-01-06
        ("2027-01-05", ["training-closing", "serving-ending"]),  # the last day to train
        ("2027-01-06", ["model-not-trainable", "serving-ending"]),
        ("2027-01-14", ["model-not-trainable", "serving-ending"]),
    ],
)
def test_openai_gpt41_mini_through_its_wind_down(on: str, expected: list[str]) -> None:
    assert codes("gpt-4.1-mini-2025-04-14", on) == expected


def test_azure_keeps_training_after_openai_and_open_models_have_no_end() -> None:
    assert codes("gpt-4.1-mini-2025-04-14", "2027-01-07", "azure") == []
    assert codes("openai/gpt-oss-20b", "2030-01-01", "together") == []
    assert lifecycle.last_training_day("2027-01-06") == "2027-01-05"


def test_migration_names_the_same_model_first_then_close_ones_with_the_lines_to_change() -> None:
    info = models.resolve("gpt-4.1-mini-2025-04-14")
    message = lifecycle.migration(info, date(2027, 1, 7))
    lines = message.splitlines()
    assert "change these lines of finetune.yaml" in lines[0]
    assert lines[1] == ("- the same model at Azure OpenAI (last day to train 2027-04-13): "
                        "`provider: {type: azure, endpoint: https://<resource>.openai.azure.com}` and `model: gpt-4.1-mini-2025-04-14`")
    assert any("a close model at Together AI" in line and "`model: openai/gpt-oss-20b`" in line for line in lines[2:])
    # after Azure closes too, only the open models remain
    later = lifecycle.migration(info, date(2027, 5, 1))
    assert "Azure OpenAI" not in later and "a close model" in later


def test_an_azure_open_model_is_suggested_with_its_tier() -> None:
    options = lifecycle.where_to_train(models.resolve("gpt-4.1-mini-2025-04-14"), date(2027, 1, 7), limit=10)
    azure_oss = [o for o in options if o.provider == "azure" and o.model == "gpt-oss-20b"]
    assert azure_oss and azure_oss[0].training_type == "global"
    assert options.index(azure_oss[0]) > [o.provider for o in options].index("together")  # unpriced ones last
