"""Training at Together AI end to end: the action and the CLI as subprocesses against the Together
stand-in (held to Together's own OpenAPI description) and the GitHub stand-in."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from testing import train_flows
from testing.together_standin import TogetherStandIn, serve
from testing.train_flows import Target

KEY = "tgp_v1_trainKEY0123456789abcdefKEY"
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@pytest.fixture
def together() -> Iterator[TogetherStandIn]:
    with serve(api_key=KEY) as server:
        yield server


@pytest.fixture
def target(together: TogetherStandIn) -> Target:
    return Target(
        provider={"type": "together", "base_url": together.base_url}, model=MODEL, key=KEY,
        inputs={"together-api-key": KEY}, env={"TOGETHER_API_KEY": KEY},
        jobs=lambda: list(together.jobs), uploads=lambda: len(together.calls("files.upload")),
        creates=lambda: len(together.calls("fine_tunes.create")), polls=lambda: len(together.calls("fine_tunes.retrieve")),
        hold=together.hold, release=together.release,
    )


def test_push_trains_records_the_actuals_and_a_rerun_spends_nothing(tmp_path, github, together, target) -> None:
    model = train_flows.push_trains_and_a_rerun_spends_nothing(tmp_path, github, target)
    [job] = together.jobs.values()
    assert model["fine_tuned_model"] == job["model_output_name"] and model["trained_tokens"] == 54_321
    assert model["cost"]["actual_usd"] == pytest.approx(0.163)  # total_price 163,000,000 nanodollars
    created = together.calls("fine_tunes.create")[0].body
    assert created["suffix"].endswith("-" + model["fingerprint"][:12]) and created["n_epochs"] == 2
    assert together.calls("fine_tunes.estimate_price")[0].body["training_file"] == created["training_file"]


def test_the_providers_estimate_is_shown_and_one_over_budget_creates_nothing(tmp_path, github, together, target) -> None:
    together.usd_per_million = 2_000_000.0  # Together prices this small file at thousands of dollars
    repo, sha = train_flows.repository(tmp_path, target, budget={"max_usd": 5})
    refused = train_flows.train(repo, tmp_path, github, target, sha)
    assert refused.run.returncode == 1, refused.run.stdout
    assert "Together AI estimates $" in refused.run.stdout and "finetune-action estimated" in refused.run.stdout
    assert "over budget.max_usd ($5.00); no job was created" in refused.run.stdout
    assert together.jobs == {} and github.releases(train_flows.REPO) == []


def test_killed_while_waiting_then_resume_completes_the_release(tmp_path, github, target) -> None:
    train_flows.killed_while_waiting_then_resume_completes(tmp_path, github, target)


def test_timeout_detaches_then_resume_records(tmp_path, github, target) -> None:
    train_flows.timeout_detaches_then_resume_records(tmp_path, github, target)


def test_a_failed_job_gives_togethers_reason(tmp_path, github, together, target) -> None:
    together.script_job(["pending", "running", "error"], error="Dataset validation failed: line 4 has no assistant message")
    train_flows.a_failed_job_gives_the_providers_reason(tmp_path, github, target, "Dataset validation failed: line 4 has no assistant message")


def test_cli_detach_status_and_cancel(tmp_path, together, target) -> None:
    train_flows.cli_train_status_and_cancel(tmp_path, target)
    [job] = together.jobs.values()
    assert job["status"] == "cancelled"


def test_an_eval_whose_key_is_missing_is_said_before_the_job_is_paid_for(tmp_path, github, together, target) -> None:
    """A config moved to Together whose eval still asks OpenAI (the retiring fine-tune, the judge):
    without OPENAI_API_KEY the eval after training cannot run. That is said before the upload, as
    a warning (training goes ahead: the model is recorded, and `finetune eval` evaluates it later)."""
    at_openai = {"model": "ft:gpt-4o-mini-2024-07-18:acme:support:abc123", "label": "retiring", "provider": "openai"}
    evaluation = {"split": {"fraction": 0.2, "seed": 1}, "graders": ["exact_match"], "models": [at_openai, {"model": "fine_tuned", "provider": target.provider}]}
    repo, sha = train_flows.repository(tmp_path, target, eval=evaluation)
    run = train_flows.train(repo, tmp_path, github, target, sha).run
    warning = "::warning::finetune.yaml: the eval after training will not run: OPENAI_API_KEY is not set: evaluating with OpenAI needs its API key."
    assert warning in run.stdout, run.stdout
    assert run.stdout.index(warning) < run.stdout.index("uploading")  # before anything is spent
    assert len(together.jobs) == 1  # and the training went ahead
    # The eval that could not run ended the run with an unexpected KeyError ('gate'), before the
    # release: the model trained and paid for, recorded nowhere a later run would look.
    assert run.returncode == 1 and "the model is trained, but the eval could not run: OPENAI_API_KEY is not set" in run.stdout
    [release] = github.releases(train_flows.REPO)
    assert release["name"].endswith("(eval not run)")
    [job] = together.jobs.values()
    assert job["model_output_name"] in release["name"]
    model = json.loads(github.asset_bytes(train_flows.REPO, release["tag_name"], "model.json"))
    assert model["eval"] == {"error": model["eval"]["error"]} and "OPENAI_API_KEY is not set" in model["eval"]["error"]
    train_flows.no_secrets(target, run)
