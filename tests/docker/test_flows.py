"""Whole flows through the built image: the PR check and the push that trains, as GitHub runs them."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.action import pull_request_event
from testing.docker import run_action
from testing.github_standin import GitHubStandIn, github_standin
from testing.repo import chat_examples, commit, git, init_repo, minimal_config

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "acme/bots"
PR = 7
TOKEN = "ghs_containerToken0123456789abcd"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with github_standin() as standin:
        standin.add_token(TOKEN)
        standin.add_repo(REPOSITORY)
        yield standin


def owned_by_runner(workspace: Path) -> None:
    """Hand the checkout to another user, as on GitHub: the runner checks out, the action runs as root."""
    for path in [workspace, *workspace.rglob("*")]:
        os.lchown(path, 1001, 1001)


def test_pull_request_check_comments_summarises_and_sets_outputs(
    docker_host: str, action_image: str, tmp_path: Path, github: GitHubStandIn
) -> None:
    workspace = init_repo(tmp_path / "workspace")
    base = commit(workspace, {"finetune.yaml": minimal_config(budget={"max_usd": 100}), "data/train.jsonl": chat_examples(20)}, "base")
    git(workspace, "checkout", "-q", "-b", "feature")
    head = commit(workspace, {"data/train.jsonl": chat_examples(25)}, "more data")
    # Both commits are in the clone: the container has no network to fetch the base.
    owned_by_runner(workspace)
    github.add_pull(REPOSITORY, PR, head_sha=head)

    run = run_action(
        docker_host,
        action_image,
        workspace,
        event_name="pull_request",
        event=pull_request_event(REPOSITORY, PR, base_sha=base, head_sha=head),
        action_yml=ROOT / "action.yml",
        github_token=TOKEN,
        env={
            "GITHUB_API_URL": github.base_url,
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_REPOSITORY_OWNER": "acme",
            "GITHUB_SHA": head,
            "GITHUB_REF": f"refs/pull/{PR}/merge",
        },
    )

    assert run.returncode == 0, run.stdout + run.stderr
    [comment] = github.comments(REPOSITORY, PR)
    body = comment["body"]
    assert "<!-- finetune-action: finetune.yaml -->" in body
    assert "| Training examples | 20 | 25 | +5 (+25%) |" in body
    assert "**5** added, **0** removed, **0** changed" in body
    assert head in body
    assert "Training examples" in run.summary
    assert run.outputs["examples"] == "25" and run.outputs["cost-delta-usd"]
    # Outputs name paths as the action sees them; the file is in the mounted checkout.
    assert run.outputs["report-path"] == "/github/workspace/finetune-report.json"
    report = json.loads((workspace / "finetune-report.json").read_text())
    assert report["configs"][0]["diff"]["examples_added"] == 5
    # The runner swallows the ::add-mask:: line and hides the token everywhere after it.
    shown = [line for line in (run.stdout + run.stderr).splitlines() if not line.startswith("::add-mask::")]
    assert TOKEN not in "\n".join(shown) + run.summary
