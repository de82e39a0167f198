"""The fingerprint changes with what is trained and only with that."""
from __future__ import annotations

from pathlib import Path

import pytest

from finetune_action import config
from finetune_action.training.fingerprint import fingerprint, short
from testing.repo import chat_examples, init_repo, minimal_config, write_files


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    write_files(repo, {"data/train.jsonl": chat_examples(12), "data/valid.jsonl": chat_examples(10, "tea")})
    return repo


def fp(repo: Path, **overrides) -> str:
    write_files(repo, {"finetune.yaml": minimal_config(**overrides)})
    return fingerprint(config.load(repo / "finetune.yaml"))


def test_same_data_and_config_give_the_same_fingerprint_across_repositories(repo: Path, tmp_path: Path) -> None:
    first = fp(repo)
    assert first == fp(repo) and len(first) == 64 and short(first) == first[:12]
    other = init_repo(tmp_path / "clone")
    write_files(other, {"data/train.jsonl": chat_examples(12), "data/valid.jsonl": chat_examples(10, "tea")})
    assert fp(other) == first


def test_any_data_byte_changes_it(repo: Path) -> None:
    before = fp(repo)
    path = repo / "data" / "train.jsonl"
    data = bytearray(path.read_bytes())
    data[40] ^= 1
    path.write_bytes(bytes(data))
    assert fp(repo) != before


def test_validation_data_counts_too(repo: Path) -> None:
    with_validation = {"train": "data/train.jsonl", "validation": "data/valid.jsonl"}
    before = fp(repo, data=with_validation)
    write_files(repo, {"data/valid.jsonl": chat_examples(11, "tea")})
    assert fp(repo, data=with_validation) != before


@pytest.mark.parametrize(
    "change",
    [
        {"hyperparameters": {"n_epochs": 4}},
        {"hyperparameters": {"n_epochs": "auto"}},
        {"model": "gpt-4o-mini-2024-07-18"},
        {"provider": "azure"},
        {"provider": {"type": "openai", "base_url": "https://gateway.example/v1"}},
        {"seed": 7},
        {"suffix": "{name}-{sha7}"},
        {"data": {"train": "data/train.jsonl", "split": {"fraction": 0.2, "seed": 1}}},
    ],
    ids=lambda c: next(iter(c)) + ("-" + str(next(iter(c.values()))) if not isinstance(next(iter(c.values())), dict) else ""),
)
def test_what_is_trained_changes_it(repo: Path, change: dict) -> None:
    assert fp(repo, **change) != fp(repo)


@pytest.mark.parametrize(
    "change",
    [
        {"budget": {"max_usd": 1}},
        {"wait": {"timeout": "1h", "poll_interval": 5, "cancel_on_abort": True}},
        {"release": {"tag": "{name}-{sha7}"}},
        {"retry_failed": True},
        {"pricing": {"gpt-4.1-mini-2025-04-14": 1.0}},
        {"provider": {"type": "openai", "api_key_env": "TEAM_KEY"}},
    ],
    ids=lambda c: next(iter(c)),
)
def test_settings_that_do_not_change_training_leave_it(repo: Path, change: dict) -> None:
    assert fp(repo, **change) == fp(repo)
