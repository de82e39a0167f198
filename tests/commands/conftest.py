"""Shared by the command tests: a GitHub stand-in with one repository and a real git work tree."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.action import ActionRun, pull_request_event, run_action
from testing.github_standin import READ_ONLY, GitHubStandIn, github_standin
from testing.repo import chat_examples, commit, git, init_repo, minimal_config

REPO = "acme/bots"
PR = 42
TOKEN = "ghs_writeToken0123456789abcdef"
FORK_TOKEN = "ghs_forkToken0123456789abcdef"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with github_standin() as standin:
        standin.add_token(TOKEN)
        standin.add_token(FORK_TOKEN, READ_ONLY)
        standin.add_repo(REPO)
        yield standin


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    repo = init_repo(tmp_path / "work")
    base = commit(repo, {"finetune.yaml": minimal_config(budget={"max_usd": 100}), "data/train.jsonl": chat_examples(20)}, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    return repo, base


def run_pr_check(
    repo: Path, tmp_path: Path, github: GitHubStandIn, base: str, head: str, token: str = TOKEN, pr_head: str | None = None, summary_before: str = "",
    env: dict[str, str] | None = None, **inputs: str
) -> ActionRun:
    """The check run for `head`; `pr_head` is the PR's head while it runs (default `head`: the push that started it is the latest)."""
    github.add_pull(REPO, PR, head_sha=pr_head or head)
    event = pull_request_event(REPO, PR, base_sha=base, head_sha=head)
    return run_action(repo, tmp_path / "runner", "pull_request", event, repository=REPO, api_url=github.base_url,
                      sha=head, ref=f"refs/pull/{PR}/merge", inputs={"github-token": token, **inputs}, env=env, summary_before=summary_before)
