"""`finetune train` under faults, as subprocesses against the OpenAI stand-in: answers lost after
the provider acted (never a second paid job), requests that never answer (the wait ends on time)
and answers in shapes the API does not promise (the model is still recorded)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from testing.openai_standin import BREAKS, StandIn
from testing.repo import chat_examples, commit, init_repo, minimal_config, run_finetune
from tests.commands.conftest import REPO
from tests.commands.test_train import FAST, KEY, no_secrets, openai_standin, provider_env, train_action  # noqa: F401 - fixture

#: Short enough that a request that never answers ends the test quickly.
REQUEST_TIMEOUT = "2"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "work")
    commit(repo, {"finetune.yaml": minimal_config(wait=FAST), "data/train.jsonl": chat_examples(20)}, "data")
    return repo


def train(repo: Path, standin: StandIn, *args: str):
    env = {**provider_env(standin), "OPENAI_API_KEY": KEY, "FINETUNE_REQUEST_TIMEOUT": REQUEST_TIMEOUT}
    return run_finetune("train", *args, cwd=repo, env=env)


@pytest.mark.parametrize("how", BREAKS)
def test_a_job_created_but_its_answer_lost_is_found_not_created_again(repo, openai_standin, how) -> None:
    openai_standin.lose_answer("fine_tuning.jobs.create", how)
    run = train(repo, openai_standin)
    assert run.returncode == 0, run.stdout + run.stderr
    # Exactly one job exists at the provider, and it is the one the run trained and recorded.
    [job_id] = openai_standin.jobs
    assert len(openai_standin.calls("fine_tuning.jobs.create")) == 1
    model = json.loads((repo / "finetune-output" / "support-bot" / "model.json").read_text())
    assert model["job_id"] == job_id and model["fine_tuned_model"] == openai_standin.jobs[job_id]["fine_tuned_model"]
    assert "the answer to creating the fine-tuning job" in run.stdout and f"found the fine-tuning job" in run.stdout
    no_secrets(run)


@pytest.mark.parametrize("how", BREAKS)
def test_a_file_uploaded_but_its_answer_lost_is_found_not_uploaded_again(repo, openai_standin, how) -> None:
    openai_standin.lose_answer("files.create", how)
    run = train(repo, openai_standin)
    assert run.returncode == 0, run.stdout + run.stderr
    [upload] = openai_standin.calls("files.create")
    training_files = [f for f in openai_standin.files.values() if f["purpose"] == "fine-tune"]
    assert [f["filename"] for f in training_files] == [upload.body["file"].filename]
    [job] = openai_standin.jobs.values()
    assert job["training_file"] == training_files[0]["id"]
    no_secrets(run)


def test_a_job_that_never_shows_up_is_created_again_a_bounded_number_of_times(repo, openai_standin) -> None:
    # The provider says 500 and creates nothing: look, then try again, then give up with a way on.
    openai_standin.fail("fine_tuning.jobs.create", 500, times=3)
    run = train(repo, openai_standin)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert len(openai_standin.calls("fine_tuning.jobs.create")) == 3 and not openai_standin.jobs
    assert "tried 3 times" in run.stderr and "not created twice" in run.stderr
    openai_standin.fail("fine_tuning.jobs.create", 500)
    again = train(repo, openai_standin)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(openai_standin.jobs) == 1 and "creating it again (attempt 2 of 3)" in again.stdout


def test_a_poll_that_never_answers_ends_at_the_wait_timeout(repo, openai_standin) -> None:
    openai_standin.script_job(["running"] * 50 + ["succeeded"])
    openai_standin.hang("fine_tuning.jobs.retrieve", times=100)
    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY}  # the default request timeout: 60 s
    started = time.monotonic()
    run = run_finetune("train", "--wait-timeout", "3s", cwd=repo, env=env)
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    assert "stopped waiting after 3 s" in run.stdout and "is still running" in run.stdout
    assert took < 3 * 4, took  # a small multiple of the wait timeout, not the SDK's minutes


def _odd_job(job: dict) -> dict:
    return {**job, "hyperparameters": ["n_epochs", 3], "metadata": {**(job["metadata"] or {}), "n": 3}, "error": [], "estimated_finish": "soon",
            "trained_tokens": job["trained_tokens"] if job["status"] == "succeeded" else "many", "result_files": "file-x" if job["status"] != "succeeded" else job["result_files"],
            "status": job["status"] if job["status"] in ("succeeded", "validating_files") else 7, "extra": {"nested": [1]}}


def _odd_events(page: dict) -> dict:
    data = []
    for n, event in enumerate(page["data"]):
        shapes = [{**event, "data": "step 1"}, {**event, "data": [1, 2]}, {**event, "data": {"step": "2", "train_loss": "0.5", "total_steps": None}},
                  {**event, "created_at": "today", "level": None, "message": ["a"]}, {k: v for k, v in event.items() if k != "type"}]
        data.append(shapes[n % len(shapes)])
    return {**page, "data": data + [{"object": "fine_tuning.job.event"}, "not an event", None]}


def _odd_checkpoints(page: dict) -> dict:
    data = [{**c, "metrics": {"train_loss": "0.5", "step": [1]}} for c in page["data"]]
    return {**page, "data": data + [{"id": "ftckpt_x", "step_number": "three"}, ["x"]]}


def test_answers_in_unexpected_shapes_never_crash_the_wait_and_the_model_is_recorded(repo, openai_standin) -> None:
    openai_standin.mangle("fine_tuning.jobs.retrieve", _odd_job)
    openai_standin.mangle("fine_tuning.jobs.list_events", _odd_events)
    openai_standin.mangle("fine_tuning.jobs.checkpoints.list", _odd_checkpoints)
    run = train(repo, openai_standin)
    assert run.returncode == 0, run.stdout + run.stderr
    model = json.loads((repo / "finetune-output" / "support-bot" / "model.json").read_text())
    [job] = openai_standin.jobs.values()
    assert model["fine_tuned_model"] == job["fine_tuned_model"] and model["status"] == "succeeded"
    no_secrets(run)


def test_a_key_the_provider_echoes_back_is_redacted_from_every_output(tmp_path, github, openai_standin) -> None:
    repo = init_repo(tmp_path / "work")
    sha = commit(repo, {"finetune.yaml": minimal_config(wait=FAST), "data/train.jsonl": chat_examples(20)}, "data")
    echo = f"request made with {KEY}"
    # The key in an event, and in the model id: it flows into model.json, outputs, summary and release.
    openai_standin.script_job(["running", "succeeded"], events=[[echo], [{"message": echo, "level": "warn"}]], fine_tuned_model=f"ft:gpt-4.1-mini:{KEY}")
    trained = train_action(repo, tmp_path, github, openai_standin, sha)
    assert trained.run.returncode == 0, trained.run.stdout + trained.run.stderr
    assert "request made with ***" in trained.run.stdout
    [release] = github.releases(REPO)
    written = {
        "stdout": trained.run.stdout.replace(f"::add-mask::{KEY}", ""), "stderr": trained.run.stderr, "summary": trained.summary,
        "GITHUB_OUTPUT": (tmp_path / "runner" / "output.txt").read_text(), "model.json": (repo / "finetune-output" / "support-bot" / "model.json").read_text(),
        "release notes": release["body"], "release model.json": github.asset_bytes(REPO, release["tag_name"], "model.json").decode(),
    }
    assert {where for where, text in written.items() if KEY in text} == set()
    assert trained.outputs["model-id"] == "ft:gpt-4.1-mini:***"
    # Nothing sent to GitHub names it: release name and notes, model.json, metrics.csv, every request.
    assert [r.operation_id for r in github.requests if KEY in r.path + json.dumps(r.query) + r.body.decode("utf-8", "replace")] == []
    assert release["name"] == "support-bot: ft:gpt-4.1-mini:***"

    env = {**provider_env(openai_standin), "OPENAI_API_KEY": KEY}
    shown = run_finetune("status", cwd=repo, env=env)
    assert shown.returncode == 0 and "request made with ***" in shown.stdout

    # In a job error, and in an error message, through the CLI.
    commit(repo, {"data/train.jsonl": chat_examples(21)}, "more")
    openai_standin.script_job(["running", "failed"], error={"code": "invalid_key", "message": f"the job could not use {KEY}", "param": None})
    failed = run_finetune("train", cwd=repo, env=env)
    assert failed.returncode == 1 and "the job could not use ***" in failed.stderr, failed
    status = run_finetune("status", cwd=repo, env=env)
    openai_standin.fail("fine_tuning.jobs.list", 403, message=f"Forbidden for {KEY}.")
    refused = run_finetune("status", cwd=repo, env=env)
    assert refused.returncode == 1 and "Forbidden for ***" in refused.stderr, refused
    for run in (shown, failed, status, refused):
        assert KEY not in run.stdout + run.stderr
