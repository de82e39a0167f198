"""Training at Together AI end to end: the action and the CLI as subprocesses against the Together
stand-in (held to Together's own OpenAPI description) and the GitHub stand-in."""
from __future__ import annotations

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
