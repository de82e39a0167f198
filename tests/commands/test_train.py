"""Training on merge end to end: `finetune action` and the CLI as subprocesses, in real git
repositories, against the OpenAI/Azure stand-in and the GitHub stand-in over real HTTP.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from testing.action import ActionRun, event_payload, push_event, run_action
from testing.github_standin import GitHubStandIn
from testing.openai_standin import StandIn, serve
from testing.repo import Run, chat_examples, commit, finetune_command, git, init_repo, minimal_config, run_finetune
from tests.commands.conftest import REPO, TOKEN

KEY = "sk-proj-trainKEY0123456789abcdefKEY"
FAST = {"poll_interval": 0.05, "timeout": "10m"}
#: Long enough that the test can pause the job before it finishes, whatever the machine's speed.
HELD = ["running"] * 20 + ["succeeded"]


@pytest.fixture
def openai_standin() -> Iterator[StandIn]:
    with serve(api_key=KEY) as server:
        yield server


@pytest.fixture
def work(tmp_path: Path) -> tuple[Path, str]:
    repo = init_repo(tmp_path / "work")
    sha = commit(repo, {"finetune.yaml": minimal_config(wait=FAST, hyperparameters={"n_epochs": 2}), "data/train.jsonl": chat_examples(20)}, "data")
    return repo, sha


def provider_env(standin: StandIn) -> dict[str, str]:
    return {"OPENAI_BASE_URL": standin.base_url}


def train_action(repo: Path, tmp_path: Path, github: GitHubStandIn, standin: StandIn, sha: str, **inputs: str) -> ActionRun:
    return run_action(
        repo, tmp_path / "runner", "push", push_event(REPO, sha), repository=REPO, api_url=github.base_url, sha=sha,
        ref="refs/heads/main", inputs={"github-token": TOKEN, "openai-api-key": KEY, **inputs}, env=provider_env(standin),
    )


def resume_action(repo: Path, tmp_path: Path, github: GitHubStandIn, standin: StandIn, sha: str) -> ActionRun:
    event = event_payload("workflow_dispatch")
    event["repository"].update(full_name=REPO, default_branch="main")
    return run_action(
        repo, tmp_path / "runner", "workflow_dispatch", event, repository=REPO, api_url=github.base_url, sha=sha,
        ref="refs/heads/main", inputs={"github-token": TOKEN, "openai-api-key": KEY, "mode": "resume"}, env=provider_env(standin),
    )


def no_secrets(*runs: Run) -> None:
    for run in runs:
        assert "Traceback" not in run.stderr + run.stdout
        # Only the request to mask it may name the key.
        assert KEY not in run.stdout.replace(f"::add-mask::{KEY}", "") + run.stderr


def start_train(repo: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`finetune train` in the background, as a runner step would run it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "OPENAI_", "AZURE_"))}
    return subprocess.Popen([*finetune_command(), "train"], cwd=repo, env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def hold_first_job(standin: StandIn, process: subprocess.Popen[str]) -> str:
    """Wait until the process has created its job, then pause it so it cannot finish meanwhile."""
    deadline = time.monotonic() + 60
    while not standin.jobs:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no job was created"
        time.sleep(0.005)
    job_id = next(iter(standin.jobs))
    sdk(standin).fine_tuning.jobs.pause(job_id)
    return job_id


def sdk(standin: StandIn) -> openai.OpenAI:
    return openai.OpenAI(base_url=standin.base_url, api_key=KEY, max_retries=0)


def wait_for_polls(standin: StandIn, job_id: str, count: int = 2) -> None:
    """Until the waiting process has read the paused job at least `count` more times."""
    seen = len(standin.calls("fine_tuning.jobs.retrieve"))
    while len(standin.calls("fine_tuning.jobs.retrieve")) < seen + count:
        time.sleep(0.01)


# --- the action ---------------------------------------------------------------------------


def test_push_with_an_invalid_config_annotates_each_problem_at_its_line(work, tmp_path, github, openai_standin) -> None:
    repo, _sha = work
    sha = commit(repo, {"finetune.yaml": minimal_config(wait=FAST, hyperparameters={"n_epochs": 99}, modle="x")}, "bad config")
    result = train_action(repo, tmp_path, github, openai_standin, sha)
    assert result.run.returncode == 2 and not openai_standin.requests
    errors = [line for line in result.run.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 2 and all(",line=" in line and ",col=" in line for line in errors), errors
    assert any(line.startswith("::error file=finetune.yaml,line=") and "title=finetune.yaml hyperparameters.n_epochs::" in line for line in errors)


def test_push_trains_records_and_a_rerun_spends_nothing(work, tmp_path, github, openai_standin) -> None:
    repo, sha = work
    first = train_action(repo, tmp_path, github, openai_standin, sha)
    assert first.run.returncode == 0, first.run.stderr + first.run.stdout
    # Relative to the workspace: later steps run on the host, where /github/workspace does not exist.
    assert first.outputs["model-json"] == "finetune-output/support-bot/model.json"
    model_json = repo / first.outputs["model-json"]
    model = json.loads(model_json.read_text())
    job_id = first.outputs["job-id"]
    assert first.outputs["status"] == "succeeded" and model["job_id"] == job_id
    assert first.outputs["model-id"] == model["fine_tuned_model"] == openai_standin.jobs[job_id]["fine_tuned_model"]
    assert model["commit"] == sha and model["repository"] == REPO and model["trained_tokens"] == 12_345
    assert model["hyperparameters"]["n_epochs"] == 2 and model["cost"]["actual_usd"] == pytest.approx(12_345 * 5 / 1e6)
    uploaded = openai_standin.calls("files.create")[0].body["file"]
    assert model["files"]["training"]["sha256"] == hashlib.sha256(uploaded.content).hexdigest()
    created = openai_standin.calls("fine_tuning.jobs.create")[0].body
    assert created["metadata"]["finetune_fingerprint"] == model["fingerprint"]
    assert created["metadata"]["finetune_commit"] == sha and created["method"]["supervised"]["hyperparameters"] == {"n_epochs": 2}

    [release] = github.releases(REPO)
    assert release["tag_name"] == f"support-bot-2026-01-01-{sha[:7]}" and release["target_commitish"] == sha
    assert first.outputs["release-url"] == release["html_url"]
    assert github.asset_bytes(REPO, release["tag_name"], "model.json") == model_json.read_bytes()
    assert github.asset_bytes(REPO, release["tag_name"], "metrics.csv").startswith(b"step,train_loss")
    assert "xychart-beta" in release["body"] and "| Trained tokens | 12,345 (estimated 1,520 billed) |" in release["body"]
    assert "::group::ftjob-" in first.run.stdout and "step 6 of 6 (100%25)" in first.run.stdout
    assert "xychart-beta" in first.summary

    uploads, creates = len(openai_standin.calls("files.create")), len(openai_standin.calls("fine_tuning.jobs.create"))
    again = train_action(repo, tmp_path, github, openai_standin, sha)
    assert again.run.returncode == 0, again.run.stdout
    assert (len(openai_standin.calls("files.create")), len(openai_standin.calls("fine_tuning.jobs.create"))) == (uploads, creates)
    assert "reusing it; nothing uploaded, no new job" in again.run.stdout
    assert again.outputs["model-id"] == first.outputs["model-id"] and len(github.releases(REPO)) == 1
    no_secrets(first.run, again.run)


def test_data_failing_the_check_is_never_uploaded(tmp_path, github, openai_standin) -> None:
    repo = init_repo(tmp_path / "work")
    sha = commit(repo, {"finetune.yaml": minimal_config(wait=FAST), "data/train.jsonl": "{not json\n" + "".join(json.dumps(e) + "\n" for e in chat_examples(12))})
    result = train_action(repo, tmp_path, github, openai_standin, sha)
    assert result.run.returncode == 1
    assert "invalid-json" in result.run.stdout and "nothing was uploaded and no job started" in result.run.stdout
    assert openai_standin.requests == [] and github.releases(REPO) == []


def test_a_failed_job_is_an_error_with_the_providers_reason_and_is_not_retried_unasked(work, tmp_path, github, openai_standin) -> None:
    repo, sha = work
    openai_standin.script_job(["validating_files", "failed"], error={"code": "invalid_training_file", "message": "Line 3 has no assistant message.", "param": "training_file"})
    failed = train_action(repo, tmp_path, github, openai_standin, sha)
    assert failed.run.returncode == 1
    assert "::error title=fine-tuning job failed::" in failed.run.stdout
    assert "invalid_training_file: Line 3 has no assistant message. (param training_file)" in failed.run.stdout
    assert "invalid_training_file" in failed.summary and failed.outputs["status"] == "failed" and failed.outputs["model-id"] == ""

    refused = train_action(repo, tmp_path, github, openai_standin, sha)
    assert refused.run.returncode == 1 and len(openai_standin.calls("fine_tuning.jobs.create")) == 1
    assert "Not starting another paid job automatically" in refused.run.stdout and "retry-failed: true" in refused.run.stdout

    retried = train_action(repo, tmp_path, github, openai_standin, sha, **{"retry-failed": "true"})
    assert retried.run.returncode == 0, retried.run.stdout
    assert len(openai_standin.calls("fine_tuning.jobs.create")) == 2 and retried.outputs["status"] == "succeeded"
    no_secrets(failed.run, refused.run, retried.run)


def test_a_forbidden_provider_says_how_to_switch(work, tmp_path, github, openai_standin) -> None:
    repo, sha = work
    openai_standin.fail("fine_tuning.jobs.create", 403, code="training_not_available", message="Fine-tuning is not available for your organization.")
    result = train_action(repo, tmp_path, github, openai_standin, sha)
    assert result.run.returncode == 1
    assert "HTTP 403, training_not_available" in result.run.stdout and "provider: {type: azure" in result.run.stdout
    # the same migration advice as the check's model-not-trainable, from the catalogue
    assert "the same model at Azure OpenAI" in result.run.stdout and "`model: openai/gpt-oss-20b`" in result.run.stdout
    assert result.run.stdout.count("::error ") == 1 and github.releases(REPO) == []

    # Once the provider accepts jobs again, a re-run creates the job from the files already uploaded.
    again = train_action(repo, tmp_path, github, openai_standin, sha)
    assert again.run.returncode == 0, again.run.stdout
    assert len(openai_standin.calls("files.create")) == 1 and "uploaded by an earlier run" in again.run.stdout
    no_secrets(result.run, again.run)


def test_timeout_detaches_and_resume_records(work, tmp_path, github, openai_standin) -> None:
    repo, sha = work
    detached = train_action(repo, tmp_path, github, openai_standin, sha, **{"wait-timeout": "0"})
    assert detached.run.returncode == 0, detached.run.stdout
    assert detached.outputs["status"] == "running" and detached.outputs["job-id"] and detached.outputs["model-id"] == ""
    assert "::notice title=finetune%3A detached from the job::" in detached.run.stdout and "mode: resume" in detached.run.stdout
    assert github.releases(REPO) == []

    resumed = resume_action(repo, tmp_path, github, openai_standin, sha)
    assert resumed.run.returncode == 0, resumed.run.stdout
    assert "re-attaching to job" in resumed.run.stdout and resumed.outputs["job-id"] == detached.outputs["job-id"]
    assert resumed.outputs["status"] == "succeeded" and len(openai_standin.calls("fine_tuning.jobs.create")) == 1
    [release] = github.releases(REPO)
    assert release["tag_name"] == f"support-bot-2026-01-01-{sha[:7]}"

    # A scheduled resume later: the record exists, nothing is rewritten.
    assets = len(github.sent("POST"))
    again = resume_action(repo, tmp_path, github, openai_standin, sha)
    assert again.run.returncode == 0 and "already holds model.json" in again.run.stdout
    assert again.outputs["release-url"] == release["html_url"] and again.outputs["model-id"] == resumed.outputs["model-id"]
    assert len(github.sent("POST")) == assets
    no_secrets(detached.run, resumed.run, again.run)


def test_killed_while_waiting_then_resume_completes_the_release(work, tmp_path, github, openai_standin) -> None:
    repo, sha = work
    openai_standin.script_job(HELD)
    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY, "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": github.base_url}
    process = start_train(repo, env)
    job_id = hold_first_job(openai_standin, process)
    wait_for_polls(openai_standin, job_id)
    process.kill()
    process.communicate()
    assert github.releases(REPO) == []
    sdk(openai_standin).fine_tuning.jobs.resume(job_id)

    resumed = resume_action(repo, tmp_path, github, openai_standin, sha)
    assert resumed.run.returncode == 0, resumed.run.stdout
    assert resumed.outputs["job-id"] == job_id and resumed.outputs["status"] == "succeeded"
    assert len(openai_standin.calls("files.create")) == 1 and len(openai_standin.calls("fine_tuning.jobs.create")) == 1
    [release] = github.releases(REPO)
    model = json.loads(github.asset_bytes(REPO, release["tag_name"], "model.json"))
    assert model["job_id"] == job_id and model["fine_tuned_model"] == resumed.outputs["model-id"]


@pytest.mark.parametrize("cancel_on_abort", [False, True])
def test_sigterm_leaves_the_job_running_unless_asked_to_cancel(tmp_path, github, openai_standin, cancel_on_abort) -> None:
    repo = init_repo(tmp_path / "work")
    commit(repo, {"finetune.yaml": minimal_config(wait={**FAST, "cancel_on_abort": cancel_on_abort}), "data/train.jsonl": chat_examples(20)})
    openai_standin.script_job(HELD)
    process = start_train(repo, {**provider_env(openai_standin), "OPENAI_API_KEY": KEY})
    job_id = hold_first_job(openai_standin, process)
    wait_for_polls(openai_standin, job_id)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr, stderr
    if cancel_on_abort:
        assert f"cancelled job {job_id} as wait.cancel_on_abort asks" in stdout
        assert openai_standin.jobs[job_id]["status"] == "cancelled"
    else:
        assert f"stopped by SIGTERM; job {job_id} keeps running" in stdout and "run `finetune resume finetune.yaml`" in stdout
        assert openai_standin.jobs[job_id]["status"] == "paused" and not openai_standin.calls("fine_tuning.jobs.cancel")


# --- the CLI ------------------------------------------------------------------------------


def test_cli_train_status_and_resume_without_github(work, openai_standin) -> None:
    repo, _sha = work
    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY}
    nothing = run_finetune("resume", cwd=repo, env=env)
    assert nothing.returncode == 0 and "nothing to resume" in nothing.stdout
    assert [r.route for r in openai_standin.requests] == ["fine_tuning.jobs.list"]  # resume never spends

    none = run_finetune("status", cwd=repo, env=env)
    assert none.returncode == 0 and "no job for fingerprint" in none.stdout

    trained = run_finetune("train", "-q", "finetune.yaml", cwd=repo, env=env)
    assert trained.returncode == 0, trained.stderr + trained.stdout
    assert "release skipped: set GITHUB_TOKEN and GITHUB_REPOSITORY" in trained.stdout
    # -q: the check is one line, no notes on stderr.
    assert "Checking finetune.yaml: PASSED" in trained.stdout and "the numbers rest on" not in trained.stdout and "checking data/" not in trained.stderr
    model = json.loads((repo / "finetune-output" / "support-bot" / "model.json").read_text())
    assert model["status"] == "succeeded" and (repo / "finetune-output" / "support-bot" / "metrics.csv").exists()
    assert git(repo, "status", "--porcelain") == ""  # finetune-output/ ignores itself: nothing untracked

    terse = run_finetune("status", "-q", cwd=repo, env=env)
    assert terse.returncode == 0 and len(terse.stdout.splitlines()) == 1 and f"job {model['job_id']}" in terse.stdout
    shown = run_finetune("status", "-v", cwd=repo, env=env)
    assert shown.returncode == 0 and f"job {model['job_id']}" in shown.stdout and f"model: {model['fine_tuned_model']}" in shown.stdout
    assert "The job has successfully completed" in shown.stdout
    later = run_finetune("status", cwd=repo, env={**env, "FINETUNE_TODAY": "2026-12-01"})
    assert "serves until: 2027-01-14" in later.stdout
    assert "warning: gpt-4.1-mini-2025-04-14 and every fine-tune of it stop serving at OpenAI on 2027-01-14, in 44 days" in later.stdout
    no_secrets(nothing, none, trained, shown)


def succeeded_while_detached(repo: Path, env: dict[str, str], standin: StandIn) -> dict:
    """Train with --wait-timeout 0, then move the job on to succeeded: the stand-in's job."""
    detached = run_finetune("train", "--wait-timeout", "0", cwd=repo, env=env)
    assert detached.returncode == 0, detached.stdout + detached.stderr
    [job_id] = standin.jobs
    for _poll in range(50):
        if sdk(standin).fine_tuning.jobs.retrieve(job_id).status == "succeeded":
            return standin.jobs[job_id]
    raise AssertionError("the job did not succeed")


def test_a_succeeded_job_whose_metrics_file_is_gone_is_recorded_without_it(work, openai_standin) -> None:
    # The model is paid for: a metrics file that cannot be read (404) failed every train and
    # resume, and the model was never recorded.
    repo, _sha = work
    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY}
    job = succeeded_while_detached(repo, env, openai_standin)
    [result] = job["result_files"]
    del openai_standin.files[result]
    resumed = run_finetune("resume", cwd=repo, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"its metrics file {result} could not be read" in resumed.stdout + resumed.stderr and "recorded without metrics.csv" in resumed.stdout + resumed.stderr
    model = json.loads((repo / "finetune-output" / "support-bot" / "model.json").read_text())
    assert model["fine_tuned_model"] == job["fine_tuned_model"] and model["metrics_csv"] is None
    assert not (repo / "finetune-output" / "support-bot" / "metrics.csv").exists()
    no_secrets(resumed)


def test_a_key_in_the_providers_metrics_file_is_redacted_in_the_local_copy(work, openai_standin) -> None:
    repo, _sha = work
    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY}
    job = succeeded_while_detached(repo, env, openai_standin)
    [result] = job["result_files"]
    openai_standin.file_bytes[result] += f"# debug: authorization=Bearer {KEY}\n\xff\n".encode("latin-1")
    resumed = run_finetune("resume", cwd=repo, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    written = (repo / "finetune-output" / "support-bot" / "metrics.csv").read_bytes()
    assert KEY.encode() not in written and written.endswith(b"# debug: authorization=Bearer ***\n\xff\n")  # other bytes kept as they are
    no_secrets(resumed)


def test_a_job_that_succeeds_without_naming_its_model_is_recorded_once_it_does(work, openai_standin) -> None:
    # It was recorded as a success with fine_tuned_model null: a model.json and a release naming no model.
    repo, _sha = work
    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY}
    openai_standin.mangle("fine_tuning.jobs.retrieve", lambda job: {**job, "fine_tuned_model": None})
    trained = run_finetune("train", cwd=repo, env=env)
    assert trained.returncode == 1 and "says it succeeded but names no fine-tuned model; nothing is recorded yet" in trained.stdout + trained.stderr
    assert not (repo / "finetune-output" / "support-bot" / "model.json").exists()
    openai_standin.mangle("fine_tuning.jobs.retrieve", lambda job: job)
    resumed = run_finetune("resume", cwd=repo, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    model = json.loads((repo / "finetune-output" / "support-bot" / "model.json").read_text())
    assert model["fine_tuned_model"].startswith("ft:") and len(openai_standin.calls("fine_tuning.jobs.create")) == 1
    no_secrets(trained, resumed)


def test_cancel_stops_every_job_in_progress_for_the_fingerprint(work, openai_standin) -> None:
    # Two runs at once can leave two jobs for one fingerprint: status showed one, and cancel
    # stopped one (exit 0) while the other kept running and billing.
    repo, _sha = work
    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY}
    openai_standin.script_job(["running"] * 200 + ["succeeded"])
    assert run_finetune("train", "--wait-timeout", "0", cwd=repo, env=env).returncode == 0
    [first] = openai_standin.jobs
    openai_standin.script_job(["running"] * 200 + ["succeeded"])
    second = openai_standin.add_job(model="gpt-4.1-mini-2025-04-14", metadata=openai_standin.jobs[first]["metadata"])["id"]
    shown = run_finetune("status", cwd=repo, env=env)
    assert shown.returncode == 0 and "also in progress for this fingerprint: " in shown.stdout and (first in shown.stdout and second in shown.stdout)
    cancelled = run_finetune("cancel", cwd=repo, env=env)
    assert cancelled.returncode == 0 and f"cancelled job {first}" in cancelled.stdout and f"cancelled job {second}" in cancelled.stdout
    assert {job["status"] for job in openai_standin.jobs.values()} == {"cancelled"}
    no_secrets(shown, cancelled)


def test_cli_azure_detach_status_cancel_and_retry(tmp_path, openai_standin) -> None:
    repo = init_repo(tmp_path / "work")
    commit(repo, {"finetune.yaml": minimal_config(provider="azure", model="gpt-4o-mini-2024-07-18", wait=FAST), "data/train.jsonl": chat_examples(20)})
    env = {"AZURE_OPENAI_ENDPOINT": openai_standin.azure_endpoint, "AZURE_OPENAI_API_KEY": KEY}
    missing = run_finetune("train", cwd=repo, env={"AZURE_OPENAI_ENDPOINT": openai_standin.azure_endpoint})
    assert missing.returncode == 2 and "AZURE_OPENAI_API_KEY is not set" in missing.stderr and not openai_standin.requests
    # The key is asked for before the data is checked: no check report, no "checking" log.
    assert "checking data/train.jsonl" not in missing.stdout + missing.stderr and "Checking finetune.yaml" not in missing.stdout + missing.stderr

    detached = run_finetune("train", "--wait-timeout", "0", cwd=repo, env=env)
    assert detached.returncode == 0, detached.stderr + detached.stdout
    assert "run `finetune resume finetune.yaml`" in detached.stdout
    assert {r.api for r in openai_standin.requests} == {"azure-v1"}  # the GA surface by default
    [job_id] = openai_standin.jobs

    status = run_finetune("status", cwd=repo, env=env)
    assert f"job {job_id} at Azure OpenAI" in status.stdout

    cancelled = run_finetune("cancel", cwd=repo, env=env)
    assert cancelled.returncode == 0 and f"cancelled job {job_id}" in cancelled.stdout
    assert openai_standin.jobs[job_id]["status"] == "cancelled"
    again = run_finetune("cancel", "--job", job_id, cwd=repo, env=env)
    assert "already cancelled: nothing to cancel" in again.stdout

    refused = run_finetune("train", cwd=repo, env=env)
    assert refused.returncode == 1 and "--retry-failed" in refused.stderr

    retried = run_finetune("train", "--retry-failed", cwd=repo, env=env)
    assert retried.returncode == 0, retried.stderr + retried.stdout
    model = json.loads((repo / "finetune-output" / "support-bot" / "model.json").read_text())
    assert model["provider"]["type"] == "azure" and model["job_id"] != job_id
    no_secrets(missing, detached, status, cancelled, again, refused, retried)


def test_cancel_terse_and_detailed(work, openai_standin) -> None:
    repo, _sha = work
    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY}
    assert run_finetune("train", "--wait-timeout", "0", cwd=repo, env=env).returncode == 0
    [job_id] = openai_standin.jobs
    detailed = run_finetune("cancel", "-v", cwd=repo, env=env)
    assert detailed.returncode == 0 and detailed.stderr == ""
    first, *details = detailed.stdout.splitlines()
    assert first == f"finetune.yaml: cancelled job {job_id} (now cancelled); `finetune train --retry-failed` starts a new one"
    fingerprint = openai_standin.jobs[job_id]["metadata"]["finetune_fingerprint"]
    # -v: the fingerprint it was found by, and every event of the job, as `status -v` shows them.
    assert details[0] == f"  fingerprint: {fingerprint}" and any(line.endswith("Fine-tuning job cancelled") for line in details[1:])
    assert all(line.startswith("  ") for line in details)

    assert run_finetune("train", "--retry-failed", "--wait-timeout", "0", cwd=repo, env=env).returncode == 0
    [new_job] = [j for j in openai_standin.jobs if j != job_id]
    terse = run_finetune("cancel", "-q", cwd=repo, env=env)
    # -q: one line per config, no advice.
    assert terse.returncode == 0 and terse.stdout == f"finetune.yaml: cancelled job {new_job} (now cancelled)\n" and terse.stderr == ""
    assert run_finetune("cancel", "-q", "-v", cwd=repo, env=env).returncode == 2  # one or the other
    no_secrets(detailed, terse)


def test_data_with_a_planted_secret_is_never_uploaded(tmp_path, github, openai_standin) -> None:
    from testing import planted

    secret = planted.secrets()["aws-access-token"]
    rows = chat_examples(12)
    rows[4]["messages"][1]["content"] = f"our config says {secret}"
    repo = init_repo(tmp_path / "work")
    sha = commit(repo, {"finetune.yaml": minimal_config(wait=FAST), "data/train.jsonl": rows})
    result = train_action(repo, tmp_path, github, openai_standin, sha)
    assert result.run.returncode == 1
    assert "secret-in-data" in result.run.stdout and "nothing was uploaded and no job started" in result.run.stdout
    assert openai_standin.requests == [] and github.releases(REPO) == []
    assert secret.split()[-1] not in result.run.stdout + result.run.stderr + result.summary


def test_train_refuses_to_spend_over_budget_unless_allowed(tmp_path, github, openai_standin) -> None:
    repo = init_repo(tmp_path / "work")
    sha = commit(repo, {"finetune.yaml": minimal_config(wait=FAST, budget={"max_usd": 0.0001}), "data/train.jsonl": chat_examples(20)})
    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY}
    refused = run_finetune("train", cwd=repo, env=env)
    assert refused.returncode == 1 and "not starting a paid job: estimated cost $" in refused.stderr
    assert "Nothing was uploaded" in refused.stderr and "--allow-over-budget" in refused.stderr
    assert not openai_standin.calls("files.create") and not openai_standin.jobs

    in_action = train_action(repo, tmp_path, github, openai_standin, sha)
    assert in_action.run.returncode == 1 and "allow-over-budget: true" in in_action.run.stdout and "not trained" in in_action.summary
    assert not openai_standin.calls("files.create") and not openai_standin.jobs

    allowed = train_action(repo, tmp_path, github, openai_standin, sha, **{"allow-over-budget": "true"})
    assert allowed.run.returncode == 0, allowed.run.stdout
    assert "::warning::finetune.yaml: estimated cost $" in allowed.run.stdout and "as allow-over-budget asks" in allowed.run.stdout
    assert len(openai_standin.jobs) == 1 and allowed.outputs["status"] == "succeeded"
    # The job exists now: a re-run reuses it, spends nothing, and needs no permission.
    again = run_finetune("train", cwd=repo, env=env)
    assert again.returncode == 0 and "reusing it; nothing uploaded" in again.stdout


def test_train_refuses_a_budget_it_cannot_evaluate(tmp_path, openai_standin) -> None:
    repo = init_repo(tmp_path / "work")
    # Behind a gateway: a model the catalogue cannot know, so no price.
    provider = {"type": "openai", "base_url": openai_standin.base_url}
    commit(repo, {"finetune.yaml": minimal_config(model="my-own-model", provider=provider, wait=FAST, budget={"max_usd": 50}), "data/train.jsonl": chat_examples(20)})
    env = {"OPENAI_API_KEY": KEY}
    refused = run_finetune("train", cwd=repo, env=env)
    assert refused.returncode == 1 and "cannot be evaluated: no price known for my-own-model" in refused.stderr
    assert not openai_standin.calls("files.create") and not openai_standin.jobs
    allowed = run_finetune("train", "--allow-over-budget", cwd=repo, env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert "warning: finetune.yaml: the budget (budget.max_usd) cannot be evaluated" in allowed.stderr and len(openai_standin.jobs) == 1
