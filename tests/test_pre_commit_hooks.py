""".pre-commit-hooks.yaml: the finetune-check hook's shape, its command line, and pre-commit running it for real."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from testing.repo import commit, git, init_repo, run_finetune

ROOT = Path(__file__).resolve().parent.parent
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def hook(hook_id: str) -> dict:
    [found] = [h for h in HOOKS if h["id"] == hook_id]
    return found


def test_finetune_check_hook_shape() -> None:
    check = hook("finetune-check")
    assert check["name"] and check["description"]
    assert (check["entry"], check["language"], check["pass_filenames"]) == ("finetune check", "python", False)


@pytest.mark.parametrize(
    "path, matches",
    [
        ("finetune.yaml", True),
        ("finetune.yml", True),
        ("bots/support/finetune.yaml", True),
        ("data/train.jsonl", True),
        ("README.md", False),
        ("finetune.yaml.bak", False),
        ("data/train.json", False),
    ],
)
def test_hook_runs_for_configs_and_data_only(path: str, matches: bool) -> None:
    # pre-commit applies `files` with re.search to paths relative to the repository root.
    assert bool(re.search(hook("finetune-check")["files"], path)) is matches


def test_entry_passes_on_the_repository_example() -> None:
    program, *args = shlex.split(hook("finetune-check")["entry"])
    # pre-commit finds `entry` on the PATH of the virtualenv it installs the package into.
    assert program in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    result = run_finetune(*args, *hook("finetune-check").get("args", []), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "finetune.yaml" in result.stdout


def pre_commit() -> str:
    found = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")
    assert found, "pre-commit is not installed: pip install pre-commit"
    return found


def test_pre_commit_installs_and_runs_the_hook(tmp_path: Path) -> None:
    """`pre-commit try-repo` builds the hook's virtualenv from the package (pip, registries only) and runs it."""
    hook_repo = init_repo(tmp_path / "finetune-action")
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, hook_repo)
    shutil.copytree(ROOT / "entrypoint" / "finetune_action", hook_repo / "entrypoint" / "finetune_action",
                    ignore=shutil.ignore_patterns("__pycache__"))
    commit(hook_repo, {}, "release")

    team = init_repo(tmp_path / "team-data")
    shutil.copy(ROOT / "finetune.yaml", team)
    shutil.copytree(ROOT / "examples" / "data", team / "examples" / "data")
    commit(team, {}, "data")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "OPENAI_", "AZURE_"))}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run([pre_commit(), "try-repo", str(hook_repo), "finetune-check", "--all-files"],
                              cwd=team, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)

    passed = try_repo()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"^finetune check\.+Passed$", passed.stdout, re.M), passed.stdout

    with (team / "examples" / "data" / "train.jsonl").open("a") as data:
        data.write('{"messages": [{"role": "user", "content": "unanswered"}\n')
    git(team, "add", "examples/data/train.jsonl")
    failed = try_repo()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"^finetune check\.+Failed$", failed.stdout, re.M), failed.stdout
    assert "train.jsonl" in failed.stdout
