"""The Azure OpenAI provider against the stand-in's Azure URL shape over real HTTP."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from finetune_action.config import ProviderSettings
from finetune_action.errors import EnvironmentProblem, ProviderError
from finetune_action.providers import get_provider
from finetune_action.providers.base import Provider
from testing.openai_standin import StandIn

VERSION = "2025-04-01-preview"


@pytest.fixture
def azure(connect: Callable[..., Provider]) -> Provider:
    return connect("azure")


def test_the_whole_flow_uses_azure_paths_and_the_api_key_header(standin: StandIn, azure: Provider, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"messages": []}\n' * 150_000)  # 2.5 MB: parts of 1 MB
    uploaded = azure.upload_file(path)
    assert azure.wait_file_processed(uploaded.id).status == "processed"
    standin.script_job(["running", "succeeded"])
    job = azure.create_job(
        model="gpt-4.1-mini-2025-04-14",
        training_file=uploaded.id,
        validation_file=None,
        method="supervised",
        hyperparameters={"n_epochs": 1},
        grader=None,
        suffix=None,
        seed=None,
        integrations=None,
        metadata={"finetune_fingerprint": "abc"},
    )
    assert azure.get_job(job.id).fine_tuned_model
    assert [j.id for j in azure.find_jobs({"finetune_fingerprint": "abc"})] == [job.id]
    assert azure.list_events(job.id, None)[-1].message == "The job has successfully completed"
    assert len(azure.list_checkpoints(job.id)) == 3
    assert len(standin.calls("uploads.parts.create")) == 3
    assert {r.api for r in standin.requests} == {"azure"}
    assert all(r.path.startswith("/openai/") and r.query["api-version"] == VERSION for r in standin.requests)


def test_azure_errors_name_the_azure_key_and_not_the_openai_shutdown(standin: StandIn, connect: Callable[..., Provider]) -> None:
    with pytest.raises(ProviderError, match="AZURE_OPENAI_API_KEY was not accepted") as refused:
        connect("azure", key="sk-proj-SECRETwrong").get_job("ftjob-x")
    assert "SECRET" not in str(refused.value) and "(HTTP 401)" in str(refused.value)
    train = standin.add_file(b"{}\n", "t.jsonl")["id"]
    standin.fail("fine_tuning.jobs.create", 403, message="This model cannot be fine-tuned in this region.")
    with pytest.raises(ProviderError, match="Azure OpenAI refused to create the fine-tuning job") as forbidden:
        connect("azure").create_job(model="gpt-4o", training_file=train, validation_file=None, method="supervised", hyperparameters={}, grader=None, suffix=None, seed=None, integrations=None, metadata={})
    assert "region" in str(forbidden.value) and "2027" not in str(forbidden.value)


def test_the_endpoint_may_come_from_the_environment(standin: StandIn) -> None:
    settings = ProviderSettings("azure", None, None, VERSION, "AZURE_OPENAI_API_KEY")
    provider = get_provider(settings, {"AZURE_OPENAI_API_KEY": standin.api_key, "AZURE_OPENAI_ENDPOINT": standin.azure_endpoint})
    assert provider.find_jobs({"x": "y"}) == []
    assert standin.requests[0].api == "azure"


def test_missing_endpoint_or_key_is_an_environment_problem(standin: StandIn) -> None:
    with pytest.raises(EnvironmentProblem, match="provider.endpoint.*AZURE_OPENAI_ENDPOINT"):
        get_provider(ProviderSettings("azure", None, None, VERSION, "AZURE_OPENAI_API_KEY"), {"AZURE_OPENAI_API_KEY": "k"})
    with pytest.raises(EnvironmentProblem, match=r"AZURE_OPENAI_API_KEY is not set.*azure-openai-api-key: \$\{\{ secrets.AZURE_OPENAI_API_KEY \}\}"):
        get_provider(ProviderSettings("azure", None, standin.azure_endpoint, VERSION, "AZURE_OPENAI_API_KEY"), {"OPENAI_API_KEY": "k"})
    assert standin.requests == []


def _job_request(training_file: str) -> dict:
    return {"model": "gpt-4.1-mini-2025-04-14", "training_file": training_file, "validation_file": None, "method": "supervised",
            "hyperparameters": {}, "grader": None, "suffix": None, "seed": None, "integrations": None, "metadata": {"finetune_fingerprint": "abc"}}


def test_the_ga_v1_surface_is_the_default_and_needs_no_api_version(standin: StandIn, tmp_path: Path) -> None:
    settings = ProviderSettings("azure", None, standin.azure_endpoint, None, "AZURE_OPENAI_API_KEY")
    azure = get_provider(settings, {"AZURE_OPENAI_API_KEY": standin.api_key})
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"messages": []}\n' * 20)
    uploaded = azure.upload_file(path)
    job = azure.create_job(**_job_request(uploaded.id))
    assert [j.id for j in azure.find_jobs({"finetune_fingerprint": "abc"})] == [job.id]
    assert {r.api for r in standin.requests} == {"azure-v1"}
    assert all(r.path.startswith("/openai/v1/") and "api-version" not in r.query for r in standin.requests)
    assert "trainingType" not in standin.calls("fine_tuning.jobs.create")[0].body


@pytest.mark.parametrize(("tier", "sent"), [("global", "globalstandard"), ("developer", "developerTier"), ("standard", "standard")])
def test_a_training_tier_goes_to_the_preview_surface_as_training_type(standin: StandIn, tier: str, sent: str) -> None:
    settings = ProviderSettings("azure", None, standin.azure_endpoint, VERSION, "AZURE_OPENAI_API_KEY", tier)
    azure = get_provider(settings, {"AZURE_OPENAI_API_KEY": standin.api_key})
    azure.create_job(**_job_request(standin.add_file(b"{}\n", "t.jsonl")["id"]))
    [create] = standin.calls("fine_tuning.jobs.create")
    assert create.api == "azure" and create.query["api-version"] == VERSION and create.body["trainingType"] == sent


def test_one_running_job_per_resource_says_how_to_queue_or_retry(standin: StandIn) -> None:
    settings = ProviderSettings("azure", None, standin.azure_endpoint, None, "AZURE_OPENAI_API_KEY")
    azure = get_provider(settings, {"AZURE_OPENAI_API_KEY": standin.api_key})
    standin.fail("fine_tuning.jobs.create", 429, message="Only 1 fine-tuning job may be running at a time for this resource.", code="quotaExceeded", headers={"retry-after-ms": "1"}, times=10)
    with pytest.raises(ProviderError) as busy:
        azure.create_job(**_job_request(standin.add_file(b"{}\n", "t.jsonl")["id"]))
    message = str(busy.value)
    assert "one fine-tuning job per resource" in message and "nothing was created" in message and "re-run" in message
    assert "another resource" in message and not standin.jobs
