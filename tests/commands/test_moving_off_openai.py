"""The repository's own finetune.yaml trains at every provider by changing two lines: `provider`
and `model` (README: Moving off OpenAI). Keys, account and hosts come from the environment."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from testing import fireworks_standin, openai_standin, together_standin
from testing.repo import commit, init_repo, run_finetune

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-moveKEY0123456789abcdefKEY"
#: provider -> (the two lines, as the README shows them).
MOVES = {
    "together": ("provider: together", "model: meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"),
    "fireworks": ("provider: fireworks", "model: accounts/fireworks/models/llama-v3p1-8b-instruct"),
    "azure": ("provider: azure", "model: gpt-4.1-mini-2025-04-14"),
}


def example_repository(tmp_path: Path, provider_line: str, model_line: str) -> Path:
    repo = init_repo(tmp_path / "work")
    shutil.copytree(ROOT / "examples" / "data", repo / "examples" / "data")
    lines = (ROOT / "finetune.yaml").read_text("utf-8").splitlines(keepends=True)
    edited = [provider_line + "\n" if line.startswith("provider:") else model_line + "\n" if line.startswith("model:") else line for line in lines]
    assert 1 <= sum(a != b for a, b in zip(lines, edited)) <= 2  # azure trains the same model
    (repo / "finetune.yaml").write_text("".join(edited), "utf-8")
    commit(repo, {}, "example")
    return repo


@pytest.mark.parametrize("provider", list(MOVES))
def test_the_example_trains_at_each_provider_by_editing_two_lines(tmp_path: Path, provider: str) -> None:
    repo = example_repository(tmp_path, *MOVES[provider])
    if provider == "together":
        server = together_standin.serve(api_key=KEY)
        env_of = lambda s: {"TOGETHER_API_KEY": KEY, "TOGETHER_BASE_URL": s.base_url}  # noqa: E731
    elif provider == "fireworks":
        server = fireworks_standin.serve(api_key=KEY, account="acme")
        env_of = lambda s: {"FIREWORKS_API_KEY": KEY, "FIREWORKS_ACCOUNT_ID": "acme", "FIREWORKS_BASE_URL": s.origin}  # noqa: E731
    else:
        server = openai_standin.serve(api_key=KEY)
        env_of = lambda s: {"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_ENDPOINT": s.azure_endpoint}  # noqa: E731
    with server as standin:
        trained = run_finetune("train", cwd=repo, env=env_of(standin))
        assert trained.returncode == 0, trained.stderr + trained.stdout
    model = json.loads((repo / "finetune-output" / "support-bot" / "model.json").read_text())
    assert model["status"] == "succeeded" and model["provider"]["type"] == provider and model["fine_tuned_model"]
    assert KEY not in trained.stdout + trained.stderr
