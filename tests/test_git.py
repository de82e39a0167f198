from __future__ import annotations

from pathlib import Path

from finetune_action import git as gitmod
from testing.repo import chat_examples, commit, git, init_repo, minimal_config


def make_history(tmp_path: Path) -> tuple[Path, str, str, str]:
    repo = init_repo(tmp_path / "origin")
    base = commit(repo, {"finetune.yaml": minimal_config(), "data/train.jsonl": chat_examples(10), "other/big.bin": b"x" * 1000})
    git(repo, "checkout", "-q", "-b", "feature")
    head = commit(repo, {"data/train.jsonl": chat_examples(12)}, "more data")
    git(repo, "checkout", "-q", "main")
    tip = commit(repo, {"README": "main moved on\n"}, "unrelated")
    return repo, base, head, tip


def test_merge_base_of_pull_request(tmp_path: Path) -> None:
    repo, base, head, tip = make_history(tmp_path)
    found = gitmod.pull_request_base(repo, tip, head)
    assert found.sha == base and "merge base" in found.note


def test_shallow_clone_fetches_what_it_needs(tmp_path: Path) -> None:
    origin, base, head, tip = make_history(tmp_path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature", f"file://{origin}", str(clone))
    assert not gitmod.has_commit(clone, tip)
    found = gitmod.pull_request_base(clone, tip, head)
    assert found.sha == base


def test_missing_base_without_remote_says_so(tmp_path: Path) -> None:
    repo, _, head, _ = make_history(tmp_path)
    found = gitmod.pull_request_base(repo, "f" * 40, head)
    assert found.sha is None and "fetch-depth: 0" in found.note


def test_export_reads_only_the_config_and_its_data(tmp_path: Path) -> None:
    repo, base, head, _ = make_history(tmp_path)
    dest = tmp_path / "base"
    path = gitmod.export_config(repo, base, "finetune.yaml", dest)
    assert path == dest / "finetune.yaml"
    assert len((dest / "data/train.jsonl").read_text().splitlines()) == 10
    assert not (dest / "other").exists()


def test_export_of_config_absent_at_base(tmp_path: Path) -> None:
    repo, base, _, _ = make_history(tmp_path)
    assert gitmod.export_config(repo, base, "bots/new/finetune.yaml", tmp_path / "b") is None


def test_export_with_globs_and_parent_paths(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    sha = commit(repo, {
        "bots/a/finetune.yaml": minimal_config(data={"train": "../../shared/*.jsonl"}),
        "shared/one.jsonl": chat_examples(10),
        "shared/two.jsonl": chat_examples(10, "x"),
        "unrelated/file": "no\n",
    })
    dest = tmp_path / "out"
    gitmod.export_config(repo, sha, "bots/a/finetune.yaml", dest)
    assert sorted(p.name for p in (dest / "shared").iterdir()) == ["one.jsonl", "two.jsonl"]
    assert not (dest / "unrelated").exists()
