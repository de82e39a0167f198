"""An OpenAI config (examples/providers/openai.yaml) trains at every other provider by changing
two lines, `provider` and `model`, after OpenAI's cut-off (README: Moving off OpenAI); the
repository's own finetune.yaml is that move already made (Together AI). Keys, account and hosts
come from the environment."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from testing import fireworks_standin, openai_standin, together_standin
from testing.repo import commit, init_repo, run_finetune

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-moveKEY0123456789abcdefKEY"
AFTER_THE_CUT_OFF = "2027-01-07"  # OpenAI takes no new fine-tuning job from 2027-01-06
#: provider -> (the two lines, as the README shows them).
MOVES = {
    "together": ("provider: together", "model: openai/gpt-oss-20b"),
    "fireworks": ("provider: fireworks", "model: accounts/fireworks/models/llama-v3p1-8b-instruct"),
    "azure": ("provider: azure", "model: gpt-4.1-mini-2025-04-14"),
}


def openai_example(tmp_path: Path, provider_line: str | None = None, model_line: str | None = None) -> tuple[Path, str]:
    """A repository holding examples/, its OpenAI config moved by the two lines given; and that config's path."""
    repo = init_repo(tmp_path / "work")
    shutil.copytree(ROOT / "examples" / "data", repo / "examples" / "data")
    lines = (ROOT / "examples" / "providers" / "openai.yaml").read_text("utf-8").splitlines(keepends=True)
    if provider_line:
        edited = [provider_line + "\n" if line.startswith("provider:") else model_line + "\n" if line.startswith("model:") else line for line in lines]
        assert 1 <= sum(a != b for a, b in zip(lines, edited)) <= 2  # azure trains the same model
        lines = edited
    (repo / "examples" / "providers").mkdir()
    (repo / "examples" / "providers" / "openai.yaml").write_text("".join(lines), "utf-8")
    commit(repo, {}, "example")
    return repo, "examples/providers/openai.yaml"


def env_for(provider: str, standin) -> dict[str, str]:
    if provider == "together":
        return {"TOGETHER_API_KEY": KEY, "TOGETHER_BASE_URL": standin.base_url}
    if provider == "fireworks":
        return {"FIREWORKS_API_KEY": KEY, "FIREWORKS_ACCOUNT_ID": "acme", "FIREWORKS_BASE_URL": standin.origin}
    return {"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_ENDPOINT": standin.azure_endpoint}


def serve(provider: str):
    if provider == "together":
        return together_standin.serve(api_key=KEY)
    if provider == "fireworks":
        return fireworks_standin.serve(api_key=KEY, account="acme")
    return openai_standin.serve(api_key=KEY)


def test_the_openai_example_cannot_train_after_the_cut_off(tmp_path: Path) -> None:
    repo, config = openai_example(tmp_path)
    checked = run_finetune("check", config, cwd=repo, env={"FINETUNE_TODAY": AFTER_THE_CUT_OFF})
    assert checked.returncode == 1 and "model-not-trainable" in checked.stdout
    assert "`provider: together` and `model: openai/gpt-oss-20b`" in checked.stdout


@pytest.mark.parametrize("provider", list(MOVES))
def test_the_openai_example_trains_at_each_provider_by_editing_two_lines(tmp_path: Path, provider: str) -> None:
    repo, config = openai_example(tmp_path, *MOVES[provider])
    with serve(provider) as standin:
        trained = run_finetune("train", config, cwd=repo, env={**env_for(provider, standin), "FINETUNE_TODAY": AFTER_THE_CUT_OFF})
        assert trained.returncode == 0, trained.stderr + trained.stdout
    model = json.loads((repo / "finetune-output" / "support-bot-openai" / "model.json").read_text())
    assert model["status"] == "succeeded" and model["provider"]["type"] == provider and model["fine_tuned_model"]
    assert KEY not in trained.stdout + trained.stderr


def test_the_repository_example_is_the_move_to_together_and_trains_there(tmp_path: Path) -> None:
    own = (ROOT / "finetune.yaml").read_text("utf-8").splitlines()
    assert [line for line in own if line.startswith(("provider:", "model:"))] == list(MOVES["together"])
    repo = init_repo(tmp_path / "work")
    shutil.copytree(ROOT / "examples" / "data", repo / "examples" / "data")
    shutil.copy(ROOT / "finetune.yaml", repo / "finetune.yaml")
    commit(repo, {}, "example")
    with together_standin.serve(api_key=KEY) as standin:
        trained = run_finetune("train", cwd=repo, env={**env_for("together", standin), "FINETUNE_TODAY": AFTER_THE_CUT_OFF})
        assert trained.returncode == 0, trained.stderr + trained.stdout
    model = json.loads((repo / "finetune-output" / "support-bot" / "model.json").read_text())
    assert model["status"] == "succeeded" and model["provider"]["type"] == "together" and model["fine_tuned_model"]
