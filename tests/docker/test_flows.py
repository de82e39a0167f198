"""Whole flows through the built image: the PR check and the push that trains, as GitHub runs them."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.action import pull_request_event, push_event
from testing.docker import run_action
from testing.github_standin import GitHubStandIn, github_standin
from testing.openai_standin import serve
from testing.repo import chat_examples, commit, git, init_repo, minimal_config

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "acme/bots"
PR = 7
TOKEN = "ghs_containerToken0123456789abcd"
KEY = "sk-proj-containerKEY0123456789abcdef"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with github_standin() as standin:
        standin.add_token(TOKEN)
        standin.add_repo(REPOSITORY)
        yield standin


def shown(stdout: str, stderr: str) -> str:
    """The log as GitHub shows it: the runner swallows ::add-mask:: lines and masks their values after."""
    return "\n".join(line for line in (stdout + stderr).splitlines() if not line.startswith("::add-mask::"))


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
    assert TOKEN not in shown(run.stdout, run.stderr) + run.summary


def test_push_to_main_trains_and_records_the_model_in_a_release(
    docker_host: str, action_image: str, tmp_path: Path, github: GitHubStandIn
) -> None:
    workspace = init_repo(tmp_path / "workspace")
    config = minimal_config(wait={"poll_interval": 0.05, "timeout": "10m"}, hyperparameters={"n_epochs": 2})
    sha = commit(workspace, {"finetune.yaml": config, "data/train.jsonl": chat_examples(20)}, "data")
    owned_by_runner(workspace)

    with serve(api_key=KEY) as openai_standin:
        run = run_action(
            docker_host,
            action_image,
            workspace,
            event_name="push",
            event=push_event(REPOSITORY, sha),
            inputs={"openai-api-key": KEY},
            action_yml=ROOT / "action.yml",
            github_token=TOKEN,
            env={
                "GITHUB_API_URL": github.base_url,
                "GITHUB_REPOSITORY": REPOSITORY,
                "GITHUB_REPOSITORY_OWNER": "acme",
                "GITHUB_SHA": sha,
                "GITHUB_REF": "refs/heads/main",
                "OPENAI_BASE_URL": openai_standin.base_url,
            },
        )
        jobs = openai_standin.jobs

    assert run.returncode == 0, run.stdout + run.stderr
    job_id = run.outputs["job-id"]
    assert run.outputs["status"] == "succeeded"
    assert run.outputs["model-id"] == jobs[job_id]["fine_tuned_model"]
    [release] = github.releases(REPOSITORY)
    assert release["tag_name"] == f"support-bot-2026-01-01-{sha[:7]}" and release["target_commitish"] == sha
    assert run.outputs["release-url"] == release["html_url"]
    assert run.outputs["model-json"] == "/github/workspace/finetune-output/support-bot/model.json"
    model_json = (workspace / "finetune-output" / "support-bot" / "model.json").read_bytes()
    assert github.asset_bytes(REPOSITORY, release["tag_name"], "model.json") == model_json
    model = json.loads(model_json)
    assert (model["job_id"], model["fine_tuned_model"], model["commit"]) == (job_id, run.outputs["model-id"], sha)
    assert "xychart-beta" in run.summary
    log = shown(run.stdout, run.stderr)
    assert KEY not in log and TOKEN not in log and "Traceback" not in log
