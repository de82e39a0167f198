"""The shipped JSON Schema and the loader agree on what a valid finetune.yaml is."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from finetune_action import config
from finetune_action.errors import ConfigError
from testing.repo import chat_examples, init_repo, minimal_config, run_finetune, write_files
from tests.test_config import CASES

# Cases only the loader can judge: they depend on the files in the repository or the model table.
NEEDS_FILES_OR_MODELS = {"escapes-repo", "missing-file", "glob-no-match", "method-model", "reinforcement-needs", "provider-mix", "absolute-path",
                         "model-typo", "together-typo", "not-at-provider", "fireworks-dpo-ok", "tier-not-azure", "azure-global-only",
                         "compare-model", "compare-lora", "compare-lora-openai", "scan-allow-pattern"}
# Cases that need more than a schema can say: a schema inside the config, a judge some graders need.
NEEDS_FILES_OR_MODELS |= {"eval-bad-schema", "eval-judge-missing", "eval-openai-model-at-together", "eval-openai-model-at-fireworks", "eval-models-where-served"}

VALID = [
    minimal_config(),
    minimal_config(provider={"type": "azure", "endpoint": "https://r.openai.azure.com", "api_version": "2025-04-01-preview"}),
    minimal_config(method="dpo", hyperparameters={"beta": 0.5, "n_epochs": "auto"}),
    minimal_config(data={"train": ["data/train.jsonl"], "split": {"fraction": 0.1, "seed": 3}}, suffix="{name}-{sha7}"),
    minimal_config(budget={"max_usd": 50, "max_increase_pct": 10}, wait={"timeout": "1h30m", "poll_interval": 10}, release={"tag": "{name}-{date}"}),
    minimal_config(eval={"split": {"fraction": 0.1, "seed": 1}, "graders": ["normalised_match"]}),
    minimal_config(eval={
        "data": "data/valid.jsonl",
        "graders": ["exact_match", {"type": "json_schema", "schema": {"type": "object"}}, {"type": "judge_pairwise", "name": "preferred"}],
        "models": ["base", "fine_tuned", {"model": "accounts/me/models/bot", "provider": {"type": "openai", "base_url": "https://api.fireworks.ai/inference/v1", "api_key_env": "FIREWORKS_API_KEY"}}],
        "judge": "gpt-4.1-2025-04-14",
        "gate": {"grader": "exact_match", "min_improvement": 0.02, "no_regressions": True},
        "concurrency": 4,
    }),
    minimal_config(integrations={"wandb": {"project": "p", "tags": ["a"]}}, metadata={"team": "support"}, pricing={"gpt-4.1-mini-2025-04-14": 4}),
    minimal_config(scan={"secret": "error", "email": "off", "ip-address": False, "allow": [{"sha256": "a" * 64}, {"pattern": r"[^@]+@acme\.io"}]}),
    minimal_config(scan="off"),
]


@pytest.fixture(scope="module")
def schema() -> dict:
    result = run_finetune("schema", cwd=Path.cwd())
    assert result.returncode == 0
    return json.loads(result.stdout)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    write_files(repo, {"data/train.jsonl": chat_examples(12), "data/valid.jsonl": chat_examples(10, "tea")})
    return repo


def test_schema_is_valid_json_schema(schema: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("document", VALID)
def test_valid_configs_pass_both(schema: dict, repo: Path, document: dict) -> None:
    jsonschema.validate(document, schema)
    write_files(repo, {"finetune.yaml": document})
    config.load(repo / "finetune.yaml")


def test_repository_example_passes_schema(schema: dict) -> None:
    import yaml

    jsonschema.validate(yaml.safe_load(Path("finetune.yaml").read_text()), schema)


@pytest.mark.parametrize("override, expected", [c for c in CASES if c.id not in NEEDS_FILES_OR_MODELS])
def test_invalid_configs_fail_both(schema: dict, repo: Path, override: dict, expected: list[str]) -> None:
    document = minimal_config(**override)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)
    write_files(repo, {"finetune.yaml": document})
    with pytest.raises(ConfigError):
        config.load(repo / "finetune.yaml")


def test_schema_lists_every_registered_provider(schema: dict) -> None:
    from finetune_action import models
    from finetune_action.providers import PROVIDERS

    # a provider with a module trains; one with a catalogue is checked and priced
    assert set(schema["properties"]["provider"]["oneOf"][0]["enum"]) == {*PROVIDERS, *models.providers()}
