"""Training at Azure OpenAI end to end on its GA v1 surface: the action and the CLI as subprocesses
against the OpenAI stand-in's Azure paths (held to OpenAI's description) and the GitHub stand-in."""
from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from testing import train_flows
from testing.openai_standin import StandIn, serve
from testing.repo import run_finetune
from testing.train_flows import Target

KEY = "azureKEY0123456789abcdef0123456789"


@pytest.fixture
def azure() -> Iterator[StandIn]:
    with serve(api_key=KEY) as server:
        yield server


@pytest.fixture
def target(azure: StandIn) -> Target:
    sdk = openai.OpenAI(base_url=azure.base_url, api_key=KEY, max_retries=0)  # Together and Fireworks have no pause: hold by pausing
    return Target(
        provider={"type": "azure", "endpoint": azure.azure_endpoint}, model="gpt-4.1-mini-2025-04-14", key=KEY,
        inputs={"azure-openai-api-key": KEY}, env={"AZURE_OPENAI_API_KEY": KEY},
        jobs=lambda: list(azure.jobs), uploads=lambda: len(azure.calls("files.create")),
        creates=lambda: len(azure.calls("fine_tuning.jobs.create")), polls=lambda: len(azure.calls("fine_tuning.jobs.retrieve")),
        hold=lambda job_id: sdk.fine_tuning.jobs.pause(job_id) and None, release=lambda job_id: sdk.fine_tuning.jobs.resume(job_id) and None,
    )


def test_push_trains_on_the_v1_surface_and_a_rerun_spends_nothing(tmp_path, github, azure, target) -> None:
    model = train_flows.push_trains_and_a_rerun_spends_nothing(tmp_path, github, target)
    assert {r.api for r in azure.requests} == {"azure-v1"} and model["provider"]["endpoint"] == azure.azure_endpoint


def test_killed_while_waiting_then_resume_completes_the_release(tmp_path, github, azure, target) -> None:
    azure.script_job(["running"] * 20 + ["succeeded"])
    train_flows.killed_while_waiting_then_resume_completes(tmp_path, github, target)


def test_timeout_detaches_then_resume_records(tmp_path, github, target) -> None:
    train_flows.timeout_detaches_then_resume_records(tmp_path, github, target)


def test_a_failed_job_gives_azures_reason(tmp_path, github, azure, target) -> None:
    azure.script_job(["validating_files", "failed"], error={"code": "invalidTrainingFile", "message": "Line 2: the conversation has no assistant turn.", "param": None})
    train_flows.a_failed_job_gives_the_providers_reason(tmp_path, github, target, "invalidTrainingFile: Line 2: the conversation has no assistant turn.")


def test_a_busy_resource_says_how_to_queue_and_a_training_tier_uses_the_preview_surface(tmp_path, azure, target) -> None:
    repo, _sha = train_flows.repository(tmp_path, target._replace(provider={**target.provider, "training_type": "global"}))
    azure.fail("fine_tuning.jobs.create", 429, message="Only 1 fine-tuning job can be running at a time for this resource.", times=10)
    busy = run_finetune("train", cwd=repo, env=target.env)
    assert busy.returncode == 1 and "one fine-tuning job per resource" in busy.stderr and "nothing was created" in busy.stderr
    azure._failures.clear()  # the running job finished; whether the SDK retried the refusal or not
    trained = run_finetune("train", cwd=repo, env=target.env)
    assert trained.returncode == 0, trained.stderr + trained.stdout
    assert len(azure.calls("files.create")) == 1 and "uploaded by an earlier run" in trained.stdout
    create = azure.calls("fine_tuning.jobs.create")[-1]
    assert create.api == "azure" and create.query["api-version"] == "2025-04-01-preview" and create.body["trainingType"] == "globalstandard"
    assert json.loads((repo / "finetune-output" / "support-bot" / "model.json").read_text())["status"] == "succeeded"
    train_flows.no_secrets(target, busy, trained)


def test_an_eval_of_the_fine_tune_at_azure_says_it_needs_a_deployment_and_the_model_is_released(tmp_path, github, azure, target) -> None:
    """Azure answers a fine-tune only once it is deployed, which finetune-action does not do (its
    hosting is billed by the hour): the check says so, and after training the eval is not run,
    instead of asking `<base>.ft-<job>` for every held-out example and failing on each 404."""
    repo, sha = train_flows.repository(tmp_path, target, eval={"split": {"fraction": 0.2, "seed": 1}, "graders": ["exact_match"]})
    checked = run_finetune("check", "--format", "json", cwd=repo)
    [warning] = [w for w in json.loads(checked.stdout)["configs"][0]["warnings"] if w["code"] == "eval-needs-deployment"]
    assert warning["message"].startswith("the eval after training will not run: eval.models fine_tuned is a fine-tune at Azure OpenAI, which answers a fine-tune only once it is deployed")
    assert "`finetune eval finetune.yaml --models base <deployment>`" in warning["message"]
    run = train_flows.train(repo, tmp_path, github, target, sha).run
    said = "::warning::finetune.yaml: the eval after training will not run: eval.models fine_tuned is a fine-tune at Azure OpenAI"
    assert said in run.stdout and run.stdout.index(said) < run.stdout.index("uploading")  # said before anything is spent
    assert run.returncode == 1 and "the model is trained, but the eval could not run: finetune.yaml: eval.models fine_tuned is a fine-tune at Azure OpenAI" in run.stdout
    assert "held-out examples; cache" not in run.stdout  # the eval asked nothing (its start is logged before the first call)
    [release] = github.releases(train_flows.REPO)
    assert release["name"].endswith("(eval not run)")
    train_flows.no_secrets(target, run)
