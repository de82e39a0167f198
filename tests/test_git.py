from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_config_whose_path_holds_glob_characters_and_is_absent_at_base_is_absent(tmp_path: Path) -> None:
    # `git show base:x[z]/finetune.yaml` read the path as a pathspec: exit 0, nothing printed,
    # and the review said the base config "must be a mapping ... not empty".
    repo, base, _, _ = make_history(tmp_path)
    assert gitmod.export_config(repo, base, "x[z]/finetune.yaml", tmp_path / "b") is None
    sha = commit(repo, {"x[z]/finetune.yaml": minimal_config(data={"train": "d[1]/train.jsonl"}), "x[z]/d[1]/train.jsonl": chat_examples(10)})
    path = gitmod.export_config(repo, sha, "x[z]/finetune.yaml", tmp_path / "c")
    assert path == tmp_path / "c" / "x[z]" / "finetune.yaml" and len((tmp_path / "c" / "x[z]" / "d[1]" / "train.jsonl").read_text().splitlines()) == 10


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


def test_a_big_blob_is_written_out_without_git_holding_it(tmp_path: Path) -> None:
    # git maps packs in 1 GB windows by default and keeps every page it read resident: a packed
    # 1 GB data file took `git cat-file` to 290 MB. The review's git runs in small windows.
    import os
    import subprocess
    import sys

    repo = init_repo(tmp_path / "r")
    sha = commit(repo, {"data/big.bin": os.urandom(64 << 20)})  # incompressible: packed at full size
    git(repo, "repack", "-a", "-d", "-q")
    blob = git(repo, "rev-parse", f"{sha}:data/big.bin")
    probe = (
        "import resource, sys; from pathlib import Path; from finetune_action import git;"
        "git.write_blob(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]));"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(repo), blob, str(tmp_path / "big.bin")], capture_output=True, text=True, check=True)
    assert (tmp_path / "big.bin").read_bytes() == (repo / "data/big.bin").read_bytes()
    # The bound includes the probe's own 25 MB: git's child is counted from the fork, before its exec.
    assert int(out.stdout) < 40 << 10, f"git's peak resident set: {int(out.stdout) >> 10} MB"


def test_a_blob_streamed_out_of_git_is_written_whole_and_a_failure_is_an_error(tmp_path: Path) -> None:
    import os

    from finetune_action.errors import GitError

    repo = init_repo(tmp_path / "r")
    content = os.urandom(3 << 20)
    sha = commit(repo, {"data/big.bin": content})
    blob = git(repo, "rev-parse", f"{sha}:data/big.bin")
    steps = list(gitmod.stream_blob(repo, blob, tmp_path / "out" / "big.bin"))
    assert steps == [1 << 20, 2 << 20, 3 << 20] and (tmp_path / "out" / "big.bin").read_bytes() == content
    stopped = gitmod.stream_blob(repo, blob, tmp_path / "early.bin")
    assert next(stopped) == 1 << 20
    stopped.close()  # a reader that stops early: git is stopped, no error
    with pytest.raises(GitError, match="git cat-file blob 0000000 failed"):
        list(gitmod.stream_blob(repo, "0" * 40, tmp_path / "missing.bin"))


def test_a_prefetched_blob_takes_the_stand_ins_place_and_a_failure_is_an_error(tmp_path: Path) -> None:
    from finetune_action.errors import GitError

    repo = init_repo(tmp_path / "r")
    sha = commit(repo, {"data/train.jsonl": chat_examples(50)})
    blob = git(repo, "rev-parse", f"{sha}:data/train.jsonl")
    target = tmp_path / "out" / "train.jsonl"
    target.parent.mkdir()
    target.write_text("the stand-in\n")
    prefetch = gitmod.Prefetch(repo, blob, target)
    assert target.read_text() == "the stand-in\n"  # until the scan asks for it whole
    sizes = list(prefetch.written())
    prefetch.stop()
    assert sizes[-1] == target.stat().st_size and target.read_bytes() == (repo / "data" / "train.jsonl").read_bytes()
    failing = gitmod.Prefetch(repo, "0" * 40, tmp_path / "out" / "missing.jsonl")
    with pytest.raises(GitError, match="git cat-file blob 0000000 failed"):
        list(failing.written())
    failing.stop()
