"""finetune.yaml errors as users meet them: `finetune check` in a real repository."""
from __future__ import annotations

import json
import resource
import subprocess
from pathlib import Path

import pytest

from finetune_action import config
from finetune_action.errors import ConfigError
from testing.repo import chat_examples, finetune_command, init_repo, minimal_config, run_finetune, write_files


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    write_files(repo, {"data/train.jsonl": chat_examples(12), "data/valid.jsonl": chat_examples(10, "tea")})
    return repo


def check_config(repo: Path, document) -> tuple[int, str]:
    write_files(repo, {"finetune.yaml": document})
    result = run_finetune("check", "finetune.yaml", cwd=repo)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr


CASES = [
    pytest.param({"modle": "gpt-4o"}, ["modle: unknown key", 'Did you mean "model"?'], id="misspelt-key"),
    pytest.param({"hyperparameters": {"n_epochs": 80}}, ["hyperparameters.n_epochs: 80 is out of range", "<= 50"], id="epochs-range"),
    pytest.param({"hyperparameters": {"batch_size": 0}}, ["hyperparameters.batch_size: 0 is out of range"], id="batch-range"),
    pytest.param({"hyperparameters": {"learning_rate_multiplier": 0}}, ["learning_rate_multiplier: 0 is out of range", "> 0"], id="lr-range"),
    pytest.param({"hyperparameters": {"n_epoch": 3}}, ['Did you mean "n_epochs"?'], id="misspelt-hyperparameter"),
    pytest.param({"hyperparameters": {"beta": 0.1}}, ["hyperparameters.beta: not used by method supervised"], id="beta-without-dpo"),
    pytest.param({"method": "dpo", "hyperparameters": {"beta": 3}}, ["hyperparameters.beta: 3 is out of range"], id="beta-range"),
    pytest.param({"hyperparameters": {"n_epochs": "three"}}, ['must be an integer or "auto"'], id="epochs-type"),
    pytest.param({"method": "dpo", "model": "gpt-3.5-turbo-0125"}, ["method: gpt-3.5-turbo-0125 cannot be fine-tuned with dpo"], id="method-model"),
    pytest.param({"method": "supervized"}, ['Did you mean "supervised"?'], id="misspelt-method"),
    pytest.param({"method": "reinforcement", "model": "o4-mini-2025-04-16"}, ["grader: reinforcement fine-tuning needs a grader", "data.validation: reinforcement fine-tuning requires a validation file"], id="reinforcement-needs"),
    pytest.param({"data": {"train": "../outside.jsonl"}}, ["data.train: '../outside.jsonl' points outside the repository"], id="escapes-repo"),
    pytest.param({"data": {"train": "/etc/passwd"}}, ["data.train: '/etc/passwd' is absolute"], id="absolute-path"),
    pytest.param({"data": {"train": "data/missing.jsonl"}}, ["data.train: data/missing.jsonl does not exist"], id="missing-file"),
    pytest.param({"data": {"train": "data/*.json"}}, ["matches no file"], id="glob-no-match"),
    pytest.param({"data": {"train": "data/train.jsonl", "validation": "data/valid.jsonl", "split": {"fraction": 0.1}}}, ["use either data.validation or data.split"], id="split-and-validation"),
    pytest.param({"data": {"train": "data/train.jsonl", "split": {"fraction": 1.5}}}, ["data.split.fraction: must be a number between 0 and 1"], id="split-range"),
    pytest.param({"version": 2}, ["version: must be 1, got 2"], id="version"),
    pytest.param({"name": "has spaces"}, ["name: 'has spaces' is not a valid name"], id="name"),
    pytest.param({"provider": "anthropic"}, ["provider: 'anthropic' is not a supported provider"], id="provider"),
    pytest.param({"provider": "azur"}, ['Did you mean "azure"?'], id="misspelt-provider"),
    pytest.param({"provider": {"type": "openai", "endpoint": "https://x.openai.azure.com"}}, ["endpoint and api_version are Azure settings"], id="provider-mix"),
    pytest.param({"suffix": "{name}-{sha}"}, ["suffix: unknown placeholder {sha}", 'Did you mean "sha7"?'], id="template"),
    pytest.param({"wait": {"timeout": "forever"}}, ["wait.timeout: 'forever' is not a duration"], id="duration"),
    pytest.param({"budget": {"max_usd": -1}}, ["budget.max_usd: must be a finite non-negative number"], id="budget"),
    pytest.param({"metadata": {f"k{i}": "v" for i in range(13)}}, ["metadata: has 13 pairs"], id="metadata-count"),
    pytest.param({"metadata": {"team": "x" * 513}}, ["metadata.team: values must be strings (or numbers) of at most 512 characters"], id="metadata-value-long"),
    pytest.param({"wait": {"timeout": "0h0m"}}, ["wait.timeout: '0h0m' is not a"], id="wait-timeout-zero"),
    pytest.param({"suffix": "bot}"}, ["suffix: 'bot}' has a brace that opens or closes no placeholder"], id="suffix-stray-brace"),
    pytest.param({"release": {"tag": "{name-{date}"}}, ["release.tag: '{name-{date}' has a brace that opens or closes no placeholder"], id="tag-stray-brace"),
    pytest.param({"seed": "42"}, ["seed: must be a non-negative integer"], id="seed-type"),
    pytest.param({"seed": 2**63}, ["seed: must be a non-negative integer"], id="seed-too-big"),
    pytest.param({"data": {"train": "data/train.jsonl", "split": {"fraction": 0.1, "seed": 2**63}}}, ["data.split.seed: must be an integer of magnitude below 2^63"], id="split-seed-too-big"),
    pytest.param({"integrations": {"wandb": {"entity": "me"}}}, ["integrations.wandb: must be a mapping with at least `project`"], id="wandb"),
    pytest.param({"grader": {"type": "string_check"}}, ["grader: only used with method: reinforcement"], id="grader-without-rl"),
    pytest.param({"pricing": {"gpt-4o": "cheap"}}, ["pricing.gpt-4o: must be a finite non-negative number"], id="pricing"),
    # the model must be one the chosen provider fine-tunes (its catalogue)
    pytest.param({"model": "gpt-4.1-mimi"}, ["model: 'gpt-4.1-mimi' is not a model OpenAI fine-tunes. Did you mean \"gpt-4.1-mini\"?", "finetune models --provider openai"], id="model-typo"),
    pytest.param({"provider": "together", "model": "openai/gpt-oss-20"}, ['Did you mean "openai/gpt-oss-20b"?'], id="together-typo"),
    pytest.param({"provider": "together", "model": "gpt-4.1-mini-2025-04-14"}, ["is not a model Together AI fine-tunes"], id="not-at-provider"),
    pytest.param({"provider": "fireworks", "model": "qwen3-8b", "method": "dpo", "hyperparameters": {"beta": 0.1}}, [], id="fireworks-dpo-ok"),
    pytest.param({"provider": {"type": "azure", "training_type": "globl"}}, ["provider.training_type: 'globl' is not an Azure training tier. Did you mean \"global\"?"], id="tier-typo"),
    pytest.param({"provider": {"type": "openai", "training_type": "global"}}, ["provider.training_type: the training tier is an Azure OpenAI setting"], id="tier-not-azure"),
    pytest.param({"provider": "azure", "model": "gpt-oss-20b"}, ["gpt-oss-20b trains at Azure OpenAI only on the global tier: set `training_type: global`"], id="azure-global-only"),
    pytest.param({"compare": {"provider": "together"}}, ["compare: must be a list of alternatives"], id="compare-type"),
    pytest.param({"compare": [{"provider": "openai", "model": "gpt-4o"}] * 9}, ["compare: has 9 alternatives; at most 8 are priced"], id="compare-many"),
    pytest.param({"compare": [{"provider": "togther", "model": "x"}]}, ["compare[0].provider: 'togther' has no catalogue. Did you mean \"together\"?"], id="compare-provider"),
    pytest.param({"compare": [{"provider": "OpenAI", "model": "x"}]}, ["compare[0].provider: 'OpenAI' has no catalogue. Did you mean \"openai\"?"], id="compare-provider-case"),
    pytest.param({"compare": [{"provider": {"type": "together"}, "model": "x"}]}, ["compare[0].provider: takes a provider's name", "write provider: together"], id="compare-provider-mapping"),
    pytest.param({"compare": [{"provider": "azure", "model": "gpt-4.1-mini-2025-04-14", "training_type": "globl"}]},
                 ["compare[0].training_type: 'globl': is not one of Azure's training tiers", 'Did you mean "global"?'], id="compare-azure-tier"),
    pytest.param({"compare": [{"provider": "together", "model": "Qwen/Qwen3-8b"}]}, ["compare[0].model: 'Qwen/Qwen3-8b' is not a model Together AI fine-tunes. Did you mean \"Qwen/Qwen3-8B\"?"], id="compare-model"),
    pytest.param({"compare": [{"provider": "fireworks", "model": "qwen3-8b", "lora": False}]}, ["compare[0].lora: Fireworks AI trains accounts/fireworks/models/qwen3-8b with LoRA only"], id="compare-lora"),
    pytest.param({"compare": [{"provider": "openai", "model": "gpt-4o", "lora": True}]}, ["compare[0].lora: OpenAI does not distinguish LoRA from full"], id="compare-lora-openai"),
    pytest.param({"compare": [{"provider": "openai", "model": "gpt-3.5-turbo", "method": "dpo", "modle": 1}]}, ["compare[0].modle: unknown key", "compare[0].method: gpt-3.5-turbo cannot be fine-tuned with dpo"], id="compare-keys"),
    pytest.param({"scan": {"secret": "fatal"}}, ["scan.secret: must be one of error, warning, off"], id="scan-level"),
    pytest.param({"scan": {"emails": "off"}}, ["scan.emails: unknown key", 'Did you mean "email"?'], id="scan-kind"),
    pytest.param({"scan": {"allow": [{"sha256": "support@acme.io"}]}}, ["scan.allow[0].sha256: is not a sha256", "finetune scan-hash"], id="scan-allow-hash"),
    pytest.param({"scan": {"allow": [{"pattern": "(unclosed"}]}}, ["scan.allow[0].pattern: is not a valid regular expression"], id="scan-allow-pattern"),
    pytest.param({"scan": "sometimes"}, ["scan: must be a mapping"], id="scan-type"),
    pytest.param({"eval": {"graders": ["exact_match"]}}, ["eval: needs held-out examples"], id="eval-no-data"),
    pytest.param({"eval": {"split": {"fraction": 0.1}, "graders": ["exact_macth"]}}, ["eval.graders[0]: 'exact_macth' is not a grader", 'Did you mean "exact_match"?'], id="eval-grader-name"),
    pytest.param({"eval": {"split": {"fraction": 0.1}, "graders": [{"type": "regex"}]}}, ["eval.graders[0].pattern: missing"], id="eval-grader-option"),
    pytest.param({"eval": {"split": {"fraction": 0.1}, "graders": [{"type": "json_schema", "schema": {"type": "thing"}}]}}, ["schema is not a valid JSON Schema"], id="eval-bad-schema"),
    pytest.param({"eval": {"split": {"fraction": 0.1}, "graders": [{"type": "judge_rubric", "rubric": "Be right."}]}}, ["eval.judge: judge_rubric and judge_pairwise need a judge model"], id="eval-judge-missing"),
    pytest.param({"eval": {"split": {"fraction": 0.1}, "graders": ["exact_match"], "models": ["base"]}}, ["eval.models: must list at least two models"], id="eval-models"),
    pytest.param({"eval": {"split": {"fraction": 0.1}, "graders": ["exact_match"], "gate": {"min_improvement": 5}}}, ["eval.gate.min_improvement: must be a number from -1 to 1"], id="eval-gate"),
    pytest.param({"eval": {"split": {"fraction": 0.1}, "graders": ["exact_match"], "models": ["base", {"model": "m", "provider": {"type": "nope"}}]}}, ["eval.models[1].provider: 'nope' is not a supported provider"], id="eval-model-provider"),
    pytest.param({"eval": {"split": {"fraction": 0.1}, "graders": ["exact_match"], "concurrency": 0}}, ["eval.concurrency: must be an integer from 1 to 64"], id="eval-concurrency"),
    # A config moved off OpenAI whose eval block still names the retiring fine-tune and an OpenAI judge without a provider.
    pytest.param({"provider": "together", "model": "openai/gpt-oss-20b", "eval": {"split": {"fraction": 0.1}, "graders": [{"type": "judge_pairwise"}], "judge": "gpt-4.1-2025-04-14",
                  "models": [{"model": "ft:gpt-4o-mini-2024-07-18:acme:support:abc123", "label": "retiring"}, "fine_tuned"]}},
                 ["eval.models[0]: ft:gpt-4o-mini-2024-07-18:acme:support:abc123 is an OpenAI fine-tune, but this entry names no provider, so the eval would ask it at the config's provider, Together AI, which does not serve it: give it `provider: openai`",
                  "eval.judge: gpt-4.1-2025-04-14 is an OpenAI model, but this entry names no provider"], id="eval-openai-model-at-together"),
    pytest.param({"eval": {"split": {"fraction": 0.1}, "graders": ["exact_match"], "models": ["base", {"model": "gpt-4o-mini", "provider": "fireworks"}]}},
                 ["eval.models[1]: gpt-4o-mini is an OpenAI model, but this entry's provider is Fireworks AI, which does not serve it"], id="eval-openai-model-at-fireworks"),
    # The same entries asked at OpenAI, or an open model at Together, are fine.
    pytest.param({"provider": "together", "model": "openai/gpt-oss-20b", "eval": {"split": {"fraction": 0.1}, "graders": [{"type": "judge_pairwise"}], "judge": {"model": "gpt-4.1-2025-04-14", "provider": "openai"},
                  "models": [{"model": "ft:gpt-4o-mini-2024-07-18:acme:support:abc123", "label": "retiring", "provider": "openai"}, "fine_tuned", "openai/gpt-oss-120b"]}},
                 [], id="eval-models-where-served"),
]


@pytest.mark.parametrize("override, expected", CASES)
def test_config_error_says_where_and_how_to_fix(repo: Path, override: dict, expected: list[str]) -> None:
    code, stderr = check_config(repo, minimal_config(**override))
    if not expected:  # a valid config among the cases, to show the rule is not too strict
        assert code != 2, stderr
        return
    assert code == 2, stderr
    assert "finetune.yaml: " in stderr
    for text in expected:
        assert text in stderr
    assert len(stderr.splitlines()) < 25  # one screen


def test_missing_required_keys_are_listed_together(repo: Path) -> None:
    code, stderr = check_config(repo, {"version": 1})
    assert code == 2
    for key in ("name", "model", "data"):
        assert f"  - {key}: missing" in stderr
    assert "3 problems" in stderr


def test_invalid_yaml_points_at_line_and_column(repo: Path) -> None:
    code, stderr = check_config(repo, "version: 1\nname: [unclosed\nmodel: x\n")
    assert code == 2
    assert "finetune.yaml:3:" in stderr and "invalid YAML" in stderr


def test_not_a_mapping(repo: Path) -> None:
    code, stderr = check_config(repo, "- just\n- a list\n")
    assert code == 2 and "must be a mapping of keys" in stderr


def test_missing_config_file(repo: Path) -> None:
    result = run_finetune("check", "nope.yaml", cwd=repo)
    assert result.returncode == 2 and "nope.yaml: no such config file" in result.stderr


def test_config_glob_matching_nothing(repo: Path) -> None:
    result = run_finetune("check", "configs/*.yaml", cwd=repo)
    assert result.returncode == 2 and "no config file matches" in result.stderr


def test_load_normalises_and_defaults(repo: Path) -> None:
    write_files(repo, {"finetune.yaml": minimal_config(data={"train": "data/*.jsonl"}, provider={"type": "azure", "endpoint": "https://r.openai.azure.com"})})
    loaded = config.load(repo / "finetune.yaml")
    assert [f.display_path for f in loaded.train] == ["data/train.jsonl", "data/valid.jsonl"]
    assert loaded.method == "supervised"
    assert loaded.provider == config.ProviderSettings("azure", None, "https://r.openai.azure.com", None, "AZURE_OPENAI_API_KEY")
    assert loaded.wait == config.Wait(5 * 3600, 30, False)
    assert loaded.release_tag == "{name}-{date}-{sha7}"
    assert loaded.normalised["data"]["train"] == ["data/train.jsonl", "data/valid.jsonl"]


def test_config_in_subdirectory_resolves_data_relative_to_itself(repo: Path) -> None:
    write_files(repo, {"bots/a/finetune.yaml": minimal_config(data={"train": "../../data/train.jsonl"})})
    loaded = config.load(repo / "bots/a/finetune.yaml")
    assert loaded.display_path == "bots/a/finetune.yaml"
    assert loaded.train[0].display_path == "data/train.jsonl"


def test_symlink_out_of_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.jsonl"
    outside.write_text("{}\n")
    (repo / "data/link.jsonl").symlink_to(outside)
    write_files(repo, {"finetune.yaml": minimal_config(data={"train": "data/link.jsonl"})})
    with pytest.raises(ConfigError, match="points outside the repository"):
        config.load(repo / "finetune.yaml")


@pytest.mark.parametrize("text, seconds", [("5h", 18000), ("1h30m", 5400), ("45s", 45), (90, 90), ("0s", None), ("soon", None), (True, None)])
def test_parse_duration(text, seconds) -> None:
    assert config.parse_duration(text) == seconds


def test_render_template() -> None:
    assert config.render_template("{name}-{date}-{sha7}", name="bot", sha="0123456789abcdef", date="2026-11-22") == "bot-2026-11-22-0123456"


def test_a_model_unknown_to_the_catalogue_is_allowed_when_priced_or_behind_a_gateway(repo: Path) -> None:
    for override in ({"model": "gpt-5-ft-preview", "pricing": {"gpt-5-ft-preview": 4.0}},
                     {"model": "my-llama", "provider": {"type": "openai", "base_url": "https://gateway.example/v1"}}):
        write_files(repo, {"finetune.yaml": minimal_config(**override)})
        result = run_finetune("check", "finetune.yaml", "--format", "json", cwd=repo)
        assert result.returncode == 0, result.stderr
        assert "unknown-model" in result.stdout and "is not in the OpenAI catalogue" in result.stdout


def test_training_type_and_compare_are_loaded(repo: Path) -> None:
    write_files(repo, {"finetune.yaml": minimal_config(provider={"type": "azure", "training_type": "developer"},
                                                       compare=[{"provider": "together", "model": "Qwen/Qwen3-8B", "lora": False}])})
    loaded = config.load(repo / "finetune.yaml")
    assert loaded.provider.training_type == "developer" and loaded.model_info.price.usd == 2.25
    assert loaded.compare == (config.CompareSpec("together", "Qwen/Qwen3-8B", None, False, None),)


PROVIDER_CASES = [
    pytest.param({"provider": "together", "hyperparameters": {"learning_rate_multiplier": 2}}, ["learning_rate_multiplier: is OpenAI's; together takes learning_rate"], id="together-multiplier"),
    pytest.param({"provider": "fireworks", "hyperparameters": {"batch_size": 8}}, ["batch_size: is OpenAI's; fireworks takes no batch size in examples"], id="fireworks-batch"),
    pytest.param({"provider": "openai", "hyperparameters": {"lora_alpha": 8}}, ["lora_alpha: only together takes it, not openai"], id="lora-at-openai"),
    pytest.param({"provider": "together", "hyperparameters": {"lora": "yes"}}, ["hyperparameters.lora: must be true or false"], id="lora-bool"),
    pytest.param({"provider": "together", "method": "reinforcement", "grader": {"type": "string_check"}}, ["together trains with supervised or dpo, not reinforcement"], id="together-rft"),
    pytest.param({"provider": {"type": "together", "training_type": "global"}}, ["the training tier is an Azure OpenAI setting"], id="tier-not-azure"),
    pytest.param({"provider": {"type": "azure", "training_type": "globl"}}, ["provider.training_type: 'globl' is not an Azure training tier", 'Did you mean "global"?'], id="tier-typo"),
]


@pytest.mark.parametrize("override, expected", PROVIDER_CASES)
def test_provider_specific_settings_say_what_each_provider_takes(repo: Path, override: dict, expected: list[str]) -> None:
    code, stderr = check_config(repo, minimal_config(**override))
    assert code == 2, stderr
    for text in expected:
        assert text in stderr


def test_provider_defaults_keys_and_tiers(repo: Path) -> None:
    for kind, key, model in (("together", "TOGETHER_API_KEY", "Qwen/Qwen3-8B"), ("fireworks", "FIREWORKS_API_KEY", "accounts/fireworks/models/qwen3-8b")):
        write_files(repo, {"finetune.yaml": minimal_config(provider=kind, model=model, hyperparameters={"learning_rate": 0.0001, "lora_r": 8})})
        loaded = config.load(repo / "finetune.yaml")
        assert loaded.provider == config.ProviderSettings(kind, None, None, None, key) and loaded.hyperparameters["lora_r"] == 8
    write_files(repo, {"finetune.yaml": minimal_config(provider={"type": "azure", "endpoint": "https://r.openai.azure.com", "training_type": "developer"})})
    tier = config.load(repo / "finetune.yaml").provider
    assert tier.training_type == "developer" and tier.api_version == config.AZURE_PREVIEW_API_VERSION


def test_eval_block_defaults_and_fingerprint_scope(repo: Path) -> None:
    write_files(repo, {"finetune.yaml": minimal_config(eval={"split": {"fraction": 0.2, "seed": 4}, "graders": ["normalised_match", {"type": "contains", "name": "mentions", "value": "notes"}]})})
    loaded = config.load(repo / "finetune.yaml")
    assert loaded.eval.split == config.Split(0.2, 4)
    assert [g.name for g in loaded.eval.graders] == ["normalised_match", "mentions"]
    assert [m.model for m in loaded.eval.models] == ["base", "fine_tuned"]
    assert loaded.eval.cache == repo.resolve() / ".finetune-cache/eval"
    # The split changes what is trained; graders do not.
    assert loaded.normalised["data"]["eval_split"] == {"fraction": 0.2, "seed": 4}
    assert "eval" not in loaded.normalised


# --- hostile or broken YAML: bounded, fast, and a config error (exit 2), never "a bug" -------

BASE = "version: 1\nname: t\nmodel: gpt-4o-mini\ndata: data/train.jsonl\n"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _bounded(repo: Path, text: str) -> str:
    """Check `text` as finetune.yaml with at most 1 GB of address space and 20 s (the issue saw 2.7 GB and 30 s)."""
    write_files(repo, {"finetune.yaml": text})
    result = subprocess.run(
        [*finetune_command(), "check", "finetune.yaml"], cwd=repo, capture_output=True, text=True, timeout=20,
        preexec_fn=_limit_memory, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "bug" not in result.stderr
    assert len(result.stderr) < 2000  # nothing unbounded echoed
    return result.stderr


def test_alias_bomb_fails_fast_on_the_expansion_bound(repo: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    lines.append("hyperparameters: {n_epochs: *a9}")  # a message that echoed the value would expand it
    stderr = _bounded(repo, BASE + "\n".join(lines) + "\n")
    assert "once aliases are expanded" in stderr and "finetune.yaml:" in stderr


def test_deep_nesting_is_a_config_error(repo: Path) -> None:
    stderr = _bounded(repo, BASE + "grader: " + "[" * 20000 + "]" * 20000 + "\n")
    assert "nested deeper than" in stderr
    stderr = _bounded(repo, BASE + "grader:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)))
    assert "nested deeper than" in stderr


def test_a_20_mb_config_fails_fast_on_the_size_cap(repo: Path) -> None:
    stderr = _bounded(repo, BASE + "metadata:\n" + "".join(f"  k{i}: v{i}\n" for i in range(1_500_000)))
    assert "larger than 256 KiB" in stderr


def test_huge_values_are_not_echoed_in_full(repo: Path) -> None:
    stderr = _bounded(repo, BASE + "seed: " + "x" * 200_000 + "\nversion_: " + "y" * 100 + "\n")
    assert "seed: must be a non-negative integer, got 'xxxx" in stderr and "x" * 1000 not in stderr


def test_duplicate_keys_name_both_lines(repo: Path) -> None:
    code, stderr = check_config(repo, BASE + "hyperparameters:\n  n_epochs: 3\n  n_epochs: 5\nname: again\n")
    assert code == 2
    assert "finetune.yaml:7:3: hyperparameters.n_epochs: duplicate key: set on line 6 and again on line 7" in stderr
    assert "finetune.yaml:8:1: name: duplicate key: set on line 2 and again on line 8" in stderr


@pytest.mark.parametrize("where, text", [
    ("hyperparameters.learning_rate_multiplier", "hyperparameters: {learning_rate_multiplier: .nan}"),
    ("hyperparameters.n_epochs", "hyperparameters: {n_epochs: .inf}"),
    ("budget.max_usd", "budget: {max_usd: .inf}"),
    ("pricing.gpt-4o-mini", "pricing: {gpt-4o-mini: .nan}"),
    ("data.split.fraction", "data: {train: data/train.jsonl, split: {fraction: .nan}}"),
    ("wait.timeout", "wait: {timeout: .inf}"),
])
def test_non_finite_numbers_are_refused(repo: Path, where: str, text: str) -> None:
    body = BASE.replace("data: data/train.jsonl\n", "") if text.startswith("data") else BASE
    code, stderr = check_config(repo, body + text + "\n")
    assert code == 2 and f"{where}: " in stderr, stderr


BIG = "1" + "0" * 400


@pytest.mark.parametrize("where, text", [
    ("budget.max_usd", f"budget: {{max_usd: {BIG}}}"),
    ("budget.max_increase_pct", f"budget: {{max_increase_pct: {BIG}}}"),
    ("hyperparameters.n_epochs", f"hyperparameters: {{n_epochs: {BIG}}}"),
    ("hyperparameters.batch_size", f"hyperparameters: {{batch_size: {BIG}}}"),
    ("seed", f"seed: {BIG}"),
    ("data.split.seed", f"data: {{train: data/train.jsonl, split: {{fraction: 0.1, seed: {BIG}}}}}"),
    ("finetune.yaml: a value cannot be read", f"hyperparameters: {{n_epochs: {'9' * 5000}}}"),
])
def test_integers_too_big_for_any_setting_are_config_errors(repo: Path, where: str, text: str) -> None:
    # Each was an "unexpected OverflowError / ValueError" bug report (exit 1), not a config error.
    body = BASE.replace("data: data/train.jsonl\n", "") if text.startswith("data") else BASE
    code, stderr = check_config(repo, body + text + "\n")
    assert code == 2 and where in stderr and "unexpected" not in stderr, stderr


def test_a_data_path_with_a_nul_character_is_a_config_error(repo: Path) -> None:
    code, stderr = check_config(repo, BASE.replace("data: data/train.jsonl\n", 'data: {train: "data/\\0x"}\n'))
    assert code == 2 and "data.train: " in stderr and "holds a NUL character" in stderr and "unexpected" not in stderr, stderr


def test_numbers_in_exponent_form_without_a_dot_are_numbers(repo: Path) -> None:
    # YAML 1.1 (PyYAML) read 5e1 as a string, so `max_usd: 5e1` was refused, while editors (YAML 1.2,
    # the schema) took it as a number.
    write_files(repo, {"finetune.yaml": BASE + "budget: {max_usd: 5e1}\nhyperparameters: {learning_rate_multiplier: 2E-1}\n"})
    loaded = config.load(repo / "finetune.yaml")
    assert loaded.budget.max_usd == 50.0 and loaded.hyperparameters["learning_rate_multiplier"] == 0.2


def test_an_ambiguous_allow_pattern_and_a_data_directory_are_config_errors_that_say_so(repo: Path) -> None:
    # The pattern printed Python's FutureWarning naming our source files; a directory was "does not exist".
    (repo / "data" / "more").mkdir()
    code, stderr = check_config(repo, BASE.replace("data: data/train.jsonl\n", "data: {train: data/train.jsonl, validation: data/more}\n")
                                + 'scan:\n  allow:\n    - pattern: "[[:foo:]]"\n')
    assert code == 2 and "FutureWarning" not in stderr and "config.py" not in stderr
    assert "scan.allow[0].pattern: is an ambiguous regular expression (Possible nested set" in stderr
    assert "data.validation: data/more is a directory. Name the JSONL files in it (a glob such as data/more/*.jsonl)" in stderr


@pytest.mark.parametrize("text, expected", [
    (BASE + "~: 1\n", "a key that YAML reads as empty (None), not as text: quote it, or remove it."),  # was "None: unknown key"
    (BASE.replace("name: t\n", "name: 2024-01-01\n"), "name: 2024-01-01 (a date to YAML: quote it to mean the text) is not a valid name"),  # was datetime.date(2024, 1, 1)
    (BASE + "seed: 1\x00\n", "holds a character YAML does not allow (U+0000, character"),  # was "invalid YAML: invalid YAML."
])
def test_yaml_read_as_something_else_is_explained(repo: Path, text: str, expected: str) -> None:
    code, stderr = check_config(repo, text)
    assert code == 2 and expected in stderr, stderr


def test_an_empty_or_directory_config_path_is_explained(repo: Path) -> None:
    empty = run_finetune("check", "", cwd=repo)
    assert empty.returncode == 2 and "an empty config path: name a finetune.yaml" in empty.stderr
    (repo / "configs").mkdir()
    directory = run_finetune("check", "configs", cwd=repo)
    assert directory.returncode == 2 and "configs: is a directory, not a config. Name the finetune.yaml in it (configs/finetune.yaml)." in directory.stderr


def test_config_errors_carry_line_and_column_in_text_and_json(repo: Path) -> None:
    write_files(repo, {"finetune.yaml": BASE + "hyperparameters:\n  n_epochs: 99\nmodle: x\nwait:\n  timeout: forever\n"})
    result = run_finetune("check", "finetune.yaml", "--format", "json", cwd=repo)
    assert result.returncode == 2
    assert "finetune.yaml:6:13: hyperparameters.n_epochs: 99 is out of range" in result.stderr
    errors = json.loads(result.stdout)["configs"][0]["errors"]
    assert [(e["line"], e["column"], e["code"]) for e in errors] == [(7, 1, "config-invalid"), (6, 13, "config-invalid"), (9, 12, "config-invalid")]
    assert errors[1]["message"].startswith("hyperparameters.n_epochs: 99 is out of range")
