"""Training at Fireworks AI end to end: the action and the CLI as subprocesses against the Fireworks
stand-in (held to the shapes written down from Fireworks' API reference) and the GitHub stand-in."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from testing import train_flows
from testing.fireworks_standin import FireworksStandIn, serve
from testing.repo import run_finetune
from testing.train_flows import Target

KEY = "fw_trainKEY0123456789abcdefKEY"
ACCOUNT = "acme"


@pytest.fixture
def fireworks() -> Iterator[FireworksStandIn]:
    with serve(api_key=KEY, account=ACCOUNT) as server:
        yield server


@pytest.fixture
def target(fireworks: FireworksStandIn) -> Target:
    return Target(
        provider={"type": "fireworks", "base_url": fireworks.origin}, model="accounts/fireworks/models/llama-v3p1-8b-instruct", key=KEY,
        inputs={"fireworks-api-key": KEY, "fireworks-account-id": ACCOUNT}, env={"FIREWORKS_API_KEY": KEY, "FIREWORKS_ACCOUNT_ID": ACCOUNT},
        jobs=lambda: list(fireworks.jobs), uploads=lambda: len(fireworks.calls("datasets.upload")),
        creates=lambda: len(fireworks.calls("sft.create")), polls=lambda: len(fireworks.calls("sft.get")),
        hold=fireworks.hold, release=fireworks.release,
    )


def test_push_trains_under_a_fingerprint_id_and_a_rerun_spends_nothing(tmp_path, github, fireworks, target) -> None:
    model = train_flows.push_trains_and_a_rerun_spends_nothing(tmp_path, github, target)
    job_id = f"finetune-{model['fingerprint'][:12]}"
    assert model["job_id"] == f"accounts/{ACCOUNT}/supervisedFineTuningJobs/{job_id}"
    assert model["fine_tuned_model"] == f"accounts/{ACCOUNT}/models/{job_id}"
    assert fireworks.calls("sft.create")[0].body["baseModel"] == "accounts/fireworks/models/llama-v3p1-8b-instruct"


def test_killed_while_waiting_then_resume_completes_the_release(tmp_path, github, target) -> None:
    train_flows.killed_while_waiting_then_resume_completes(tmp_path, github, target)


def test_timeout_detaches_then_resume_records(tmp_path, github, target) -> None:
    train_flows.timeout_detaches_then_resume_records(tmp_path, github, target)


def test_a_failed_job_gives_fireworks_reason(tmp_path, github, fireworks, target) -> None:
    fireworks.script_job(["JOB_STATE_VALIDATING", "JOB_STATE_FAILED"], error="dataset line 4: the last message must be from the assistant")
    train_flows.a_failed_job_gives_the_providers_reason(tmp_path, github, target, "INVALID_ARGUMENT: dataset line 4: the last message must be from the assistant")


def test_a_job_created_by_a_lost_answer_is_attached_not_paid_twice(tmp_path, github, fireworks, target) -> None:
    repo, sha = train_flows.repository(tmp_path, target)
    # Fireworks made the job, but its answer was lost on the way back: the job's id is the fingerprint's.
    fireworks.drop("sft.create", after_acting=True)
    lost = train_flows.train(repo, tmp_path, github, target, sha)
    # The same run looks the job up (training/launch.py) and carries on with it.
    assert lost.run.returncode == 0, lost.run.stdout
    [job_id] = fireworks.jobs
    assert "the answer to creating the fine-tuning job" in lost.run.stdout and lost.outputs["job-id"] == job_id
    again = train_flows.train(repo, tmp_path, github, target, sha)
    assert again.run.returncode == 0, again.run.stdout
    assert list(fireworks.jobs) == [job_id] and len(fireworks.calls("sft.create")) == 1
    assert "reusing it" in again.run.stdout and again.outputs["job-id"] == job_id


def test_cli_needs_the_account_and_cancels_by_delete(tmp_path, fireworks, target) -> None:
    repo, _sha = train_flows.repository(tmp_path, target)
    missing = run_finetune("train", cwd=repo, env={"FIREWORKS_API_KEY": KEY})
    assert missing.returncode == 2 and "FIREWORKS_ACCOUNT_ID is not set" in missing.stderr and not fireworks.requests
    train_flows.cli_train_status_and_cancel(tmp_path / "again", target)
    assert fireworks.jobs == {}
