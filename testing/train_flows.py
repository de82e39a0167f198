"""Training on merge end to end at any provider: the flows every provider must pass, run through
`finetune action` and the CLI as subprocesses against a provider stand-in and the GitHub stand-in.

A provider's test module builds a `Target` (how to point a repository at its stand-in, and how
to see and hold what the stand-in made) and calls the flows.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from testing.action import ActionRun, event_payload, push_event, run_action
from testing.github_standin import GitHubStandIn
from testing.repo import Run, chat_examples, commit, finetune_command, init_repo, minimal_config

REPO = "acme/bots"
TOKEN = "ghs_writeToken0123456789abcdef"
FAST = {"poll_interval": 0.05, "timeout": "10m"}
#: Variables of the machine running the tests that must not leak into the runs.
FOREIGN = ("GITHUB_", "INPUT_", "OPENAI_", "AZURE_", "TOGETHER_", "FIREWORKS_", "WANDB_")


class Target(NamedTuple):
    """One provider, as the flows see it."""

    provider: dict[str, Any]  # finetune.yaml's provider block, pointing at the stand-in
    model: str
    key: str
    inputs: dict[str, str]  # action inputs carrying the key (and account)
    env: dict[str, str]  # the same for the CLI
    jobs: Callable[[], list[str]]  # ids of the jobs the stand-in holds, in creation order
    uploads: Callable[[], int]  # upload requests so far
    creates: Callable[[], int]  # job-creation requests so far
    polls: Callable[[], int]  # job reads so far
    hold: Callable[[str], None]
    release: Callable[[str], None]


def repository(tmp_path: Path, target: Target, **config: Any) -> tuple[Path, str]:
    repo = init_repo(tmp_path / "work")
    settings = minimal_config(provider=target.provider, model=target.model, wait=FAST, hyperparameters={"n_epochs": 2}) | config
    return repo, commit(repo, {"finetune.yaml": settings, "data/train.jsonl": chat_examples(20)}, "data")


def train(repo: Path, tmp_path: Path, github: GitHubStandIn, target: Target, sha: str, **inputs: str) -> ActionRun:
    return run_action(repo, tmp_path / "runner", "push", push_event(REPO, sha), repository=REPO, api_url=github.base_url, sha=sha,
                      ref="refs/heads/main", inputs={"github-token": TOKEN, **target.inputs, **inputs})


def resume(repo: Path, tmp_path: Path, github: GitHubStandIn, target: Target, sha: str) -> ActionRun:
    event = event_payload("workflow_dispatch")
    event["repository"].update(full_name=REPO, default_branch="main")
    return run_action(repo, tmp_path / "runner", "workflow_dispatch", event, repository=REPO, api_url=github.base_url, sha=sha,
                      ref="refs/heads/main", inputs={"github-token": TOKEN, **target.inputs, "mode": "resume"})


def no_secrets(target: Target, *runs: Run) -> None:
    for run in runs:
        assert "Traceback" not in run.stderr + run.stdout
        assert target.key not in run.stdout.replace(f"::add-mask::{target.key}", "") + run.stderr


def push_trains_and_a_rerun_spends_nothing(tmp_path: Path, github: GitHubStandIn, target: Target) -> dict[str, Any]:
    """push -> upload -> job -> release with model.json and outputs; the same run again spends nothing. Returns model.json."""
    repo, sha = repository(tmp_path, target)
    first = train(repo, tmp_path, github, target, sha)
    assert first.run.returncode == 0, first.run.stderr + first.run.stdout
    assert first.outputs["model-json"] == "finetune-output/support-bot/model.json"  # relative: the next step runs on the host
    model = json.loads((repo / first.outputs["model-json"]).read_text())
    [job_id] = target.jobs()
    assert first.outputs["job-id"] == model["job_id"] == job_id and first.outputs["status"] == "succeeded"
    assert first.outputs["model-id"] == model["fine_tuned_model"] and model["fine_tuned_model"]
    assert model["commit"] == sha and model["provider"]["type"] == target.provider["type"]
    [release] = github.releases(REPO)
    assert first.outputs["release-url"] == release["html_url"]
    assert json.loads(github.asset_bytes(REPO, release["tag_name"], "model.json")) == model

    uploads, creates = target.uploads(), target.creates()
    again = train(repo, tmp_path, github, target, sha)
    assert again.run.returncode == 0, again.run.stdout
    assert (target.uploads(), target.creates()) == (uploads, creates) and target.jobs() == [job_id]
    assert "reusing it; nothing uploaded, no new job" in again.run.stdout
    assert again.outputs["model-id"] == first.outputs["model-id"] and len(github.releases(REPO)) == 1
    no_secrets(target, first.run, again.run)
    return model


def killed_while_waiting_then_resume_completes(tmp_path: Path, github: GitHubStandIn, target: Target) -> None:
    repo, sha = repository(tmp_path, target)
    base = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    env = {**base, **target.env, "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": github.base_url}
    process = subprocess.Popen([*finetune_command(), "train"], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not target.jobs():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no job was created"
        time.sleep(0.005)
    [job_id] = target.jobs()
    target.hold(job_id)
    seen = target.polls()
    while target.polls() < seen + 2:  # the process is waiting on the held job
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    process.kill()
    process.communicate()
    assert github.releases(REPO) == []
    target.release(job_id)

    resumed = resume(repo, tmp_path, github, target, sha)
    assert resumed.run.returncode == 0, resumed.run.stdout
    assert "re-attaching to job" in resumed.run.stdout and resumed.outputs["job-id"] == job_id and resumed.outputs["status"] == "succeeded"
    assert target.uploads() == 1 and target.creates() == 1
    [release] = github.releases(REPO)
    assert json.loads(github.asset_bytes(REPO, release["tag_name"], "model.json"))["job_id"] == job_id
    no_secrets(target, resumed.run)


def timeout_detaches_then_resume_records(tmp_path: Path, github: GitHubStandIn, target: Target) -> None:
    repo, sha = repository(tmp_path, target)
    detached = train(repo, tmp_path, github, target, sha, **{"wait-timeout": "0"})
    assert detached.run.returncode == 0, detached.run.stdout
    assert detached.outputs["status"] == "running" and detached.outputs["job-id"] and detached.outputs["model-id"] == ""
    assert "detached from the job" in detached.run.stdout and github.releases(REPO) == []

    resumed = resume(repo, tmp_path, github, target, sha)
    assert resumed.run.returncode == 0, resumed.run.stdout
    assert resumed.outputs["job-id"] == detached.outputs["job-id"] and resumed.outputs["status"] == "succeeded"
    assert target.creates() == 1 and len(github.releases(REPO)) == 1
    no_secrets(target, detached.run, resumed.run)


def a_failed_job_gives_the_providers_reason(tmp_path: Path, github: GitHubStandIn, target: Target, reason: str) -> None:
    """The stand-in must be scripted to fail the next job with `reason`."""
    repo, sha = repository(tmp_path, target)
    failed = train(repo, tmp_path, github, target, sha)
    assert failed.run.returncode == 1, failed.run.stdout
    assert "::error title=fine-tuning job failed::" in failed.run.stdout and reason in failed.run.stdout
    assert failed.outputs["status"] == "failed" and failed.outputs["model-id"] == "" and github.releases(REPO) == []

    refused = train(repo, tmp_path, github, target, sha)
    assert refused.run.returncode == 1 and target.creates() == 1 and "Not starting another paid job automatically" in refused.run.stdout
    no_secrets(target, failed.run, refused.run)


def cli_train_status_and_cancel(tmp_path: Path, target: Target) -> None:
    """The CLI without GitHub: detach, status, cancel."""
    from testing.repo import run_finetune

    repo, _sha = repository(tmp_path, target)
    detached = run_finetune("train", "--wait-timeout", "0", cwd=repo, env=target.env)
    assert detached.returncode == 0, detached.stderr + detached.stdout
    [job_id] = target.jobs()
    status = run_finetune("status", cwd=repo, env=target.env)
    assert status.returncode == 0 and f"job {job_id}" in status.stdout
    cancelled = run_finetune("cancel", cwd=repo, env=target.env)
    assert cancelled.returncode == 0 and f"cancelled job {job_id}" in cancelled.stdout, cancelled.stdout + cancelled.stderr
    no_secrets(target, detached, status, cancelled)
