"""The Fireworks AI provider against the Fireworks stand-in over real HTTP."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finetune_action.config import ProviderSettings
from finetune_action.errors import EnvironmentProblem, ProviderError
from finetune_action.providers import get_provider
from finetune_action.providers.base import ProviderOptions
from finetune_action.providers.fireworks import FireworksProvider, dataset_id, job_ids
from testing.fireworks_standin import FireworksStandIn, serve

KEY = "fw_SECRETvalue0123456789abcdefSECRET"
FP = "89abcdef01234567" * 4
FAST = ProviderOptions(max_retries=2, poll_interval=0, request_timeout=5)
SETTINGS = ProviderSettings("fireworks", None, None, None, "FIREWORKS_API_KEY")


@pytest.fixture
def standin() -> Iterator[FireworksStandIn]:
    with serve(api_key=KEY) as server:
        yield server


def connect(standin: FireworksStandIn, key: str = KEY, options: ProviderOptions = FAST, account: str = "acme") -> FireworksProvider:
    settings = SETTINGS._replace(base_url=standin.origin)
    return get_provider(settings, {"FIREWORKS_API_KEY": key, "FIREWORKS_ACCOUNT_ID": account}, options)  # type: ignore[return-value]


def request(training_file: str, **overrides: object) -> dict:
    base = {
        "model": "llama-v3p1-8b-instruct", "training_file": training_file, "validation_file": None, "method": "supervised",
        "hyperparameters": {"n_epochs": 2, "learning_rate": 0.0001, "lora_r": 16}, "grader": None, "suffix": "support-bot",
        "seed": None, "integrations": None, "metadata": {"finetune_fingerprint": FP},
    }
    return base | overrides


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / f"{FP[:12]}-train.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n' * 40)
    return path


def finish(provider: FireworksProvider, job):  # type: ignore[no-untyped-def]
    while job.status not in ("succeeded", "failed", "cancelled"):
        job = provider.get_job(job.id)
    return job


def test_dataset_upload_job_and_output_model(standin, data) -> None:
    provider = connect(standin)
    assert provider.find_files(data.name) == []
    uploaded = provider.upload_file(data)
    ds = dataset_id(data.name)
    assert uploaded.id == f"accounts/acme/datasets/{ds}" and standin.dataset_bytes[ds] == data.read_bytes()
    assert provider.wait_file_processed(uploaded.id).status == "processed"
    [again] = provider.find_files(data.name)
    assert again.bytes == data.stat().st_size and again.status == "processed"

    job = provider.create_job(**request(uploaded.id))
    create = standin.calls("sft.create")[0]
    assert create.query == {"supervisedFineTuningJobId": f"finetune-{FP[:12]}"}
    assert create.body == {"dataset": uploaded.id, "displayName": "support-bot", "baseModel": "accounts/fireworks/models/llama-v3p1-8b-instruct",
                           "epochs": 2, "learningRate": 0.0001, "loraRank": 16}
    job = finish(provider, job)
    assert job.status == "succeeded" and job.fine_tuned_model == f"accounts/acme/models/finetune-{FP[:12]}"
    assert job.hyperparameters == {"n_epochs": 2, "learning_rate": 0.0001, "lora_r": 16}
    assert [j.id for j in provider.find_jobs({"finetune_fingerprint": FP})] == [job.id]


def test_a_second_create_attaches_to_the_job_the_first_made(standin, data) -> None:
    provider = connect(standin)
    file_id = provider.upload_file(data).id
    first = provider.create_job(**request(file_id))
    second = provider.create_job(**request(file_id))  # as after a lost answer: 409 ALREADY_EXISTS
    assert second.id == first.id and len(standin.jobs) == 1


def test_a_retry_after_a_failure_takes_the_next_id(standin, data) -> None:
    provider = connect(standin)
    file_id = provider.upload_file(data).id
    standin.script_job(["JOB_STATE_RUNNING", "JOB_STATE_FAILED"], error="dataset line 3: no assistant message")
    failed = finish(provider, provider.create_job(**request(file_id)))
    assert failed.status == "failed" and failed.error.message == "dataset line 3: no assistant message" and failed.error.code == "INVALID_ARGUMENT"
    retried = provider.create_job(**request(file_id))
    assert retried.id.endswith(f"finetune-{FP[:12]}-2")
    assert [j.id for j in provider.find_jobs({"finetune_fingerprint": FP})] == [retried.id, failed.id]


def test_a_retry_is_found_after_the_failed_job_before_it_is_deleted(standin, data) -> None:
    # The lookup stopped at the first id that 404s: with the failed first job cleaned up, the
    # running retry behind it was not found, and the next train started a job of its own.
    provider = connect(standin)
    file_id = provider.upload_file(data).id
    standin.script_job(["JOB_STATE_FAILED"], error="bad data")
    failed = finish(provider, provider.create_job(**request(file_id)))
    standin.script_job(["JOB_STATE_RUNNING"] * 50)
    retried = provider.create_job(**request(file_id))
    del standin.jobs[failed.id]
    assert [j.id for j in provider.find_jobs({"finetune_fingerprint": FP})] == [retried.id]


def test_dpo_jobs_and_cancel_by_delete(standin, data) -> None:
    provider = connect(standin)
    file_id = provider.upload_file(data).id
    job = provider.create_job(**request(file_id, method="dpo", hyperparameters={"beta": 0.1, "n_epochs": 1}))
    body = standin.calls("dpo.create")[0].body
    assert body["trainingConfig"] == {"baseModel": "accounts/fireworks/models/llama-v3p1-8b-instruct", "epochs": 1}
    assert body["lossConfig"] == {"method": "DPO", "klBeta": 0.1} and job.method == "dpo"
    assert provider.cancel_job(job.id).status == "cancelled" and job.id not in standin.jobs


def test_large_files_go_to_a_signed_url(standin, data) -> None:
    provider = connect(standin, options=FAST._replace(upload_threshold=100))
    uploaded = provider.upload_file(data)
    ds = uploaded.id.rsplit("/", 1)[-1]
    assert not standin.calls("datasets.upload") and standin.calls("signed.put") and standin.calls("datasets.validate_upload")
    assert "authorization" not in standin.calls("signed.put")[0].headers  # the key never goes to storage
    assert standin.dataset_bytes[ds] == data.read_bytes() and provider.wait_file_processed(uploaded.id).status == "processed"


def test_unknown_states_mean_in_progress_and_early_stop_is_success(standin, data) -> None:
    provider = connect(standin)
    standin.extra_statuses = ("JOB_STATE_TOKENIZING",)
    standin.script_job(["JOB_STATE_CREATING", "JOB_STATE_TOKENIZING", "JOB_STATE_EARLY_STOPPED"])
    job = provider.create_job(**request(provider.upload_file(data).id))
    assert provider.get_job(job.id).status == "tokenizing"
    assert provider.get_job(job.id).status == "succeeded"


def test_creates_are_made_once_and_failures_are_clear(standin, data) -> None:
    provider = connect(standin)
    file_id = provider.upload_file(data).id
    standin.fail("sft.create", 500, message="internal error")
    with pytest.raises(ProviderError) as failed:
        provider.create_job(**request(file_id))
    assert failed.value.ambiguous and "HTTP 500, 13): internal error" in str(failed.value) and len(standin.calls("sft.create")) == 1
    standin.fail("sft.create", 429, message="quota exceeded: 1 concurrent job", headers={"retry-after": "120"})
    with pytest.raises(ProviderError, match=r"quota exceeded: 1 concurrent job\)\. Retry in about 2 minutes") as limited:
        provider.create_job(**request(file_id))
    assert not limited.value.ambiguous
    standin.fail("datasets.get", 503, times=2)
    assert provider.find_files(data.name)  # reads retry


def test_account_and_key_problems_say_what_to_set(standin) -> None:
    with pytest.raises(EnvironmentProblem, match="FIREWORKS_ACCOUNT_ID is not set.*fireworks-account-id"):
        get_provider(SETTINGS, {"FIREWORKS_API_KEY": KEY}, FAST)
    with pytest.raises(ProviderError, match="FIREWORKS_API_KEY was not accepted") as refused:
        connect(standin, key="fw_WRONG0123456789").find_files("a-train.jsonl")
    assert "WRONG" not in str(refused.value)
    with pytest.raises(ProviderError, match="HTTP 403.*may not use account other"):
        connect(standin, account="other").find_files("a-train.jsonl")


def test_ids_are_what_fireworks_accepts() -> None:
    assert dataset_id("0123456789AB-train.jsonl") == "finetune-0123456789ab-train"
    assert job_ids(FP)[:2] == [f"finetune-{FP[:12]}", f"finetune-{FP[:12]}-2"] and len(job_ids(FP)) == 20


def test_a_status_given_as_a_string_is_read_as_its_code(standin, data, monkeypatch) -> None:
    # A dataset or failed job whose `status` was a string, not {code, message}, was an unexpected AttributeError.
    import testing.fireworks_standin as fireworks_standin

    standin.strict = False  # answers off the description, on purpose
    def answering_with(method: str, change) -> None:
        original = getattr(fireworks_standin.FireworksStandIn, method)

        def changed(self, params, query, body):
            status, answer = original(self, params, query, body)
            return (status, change(answer)) if status == 200 else (status, answer)

        monkeypatch.setattr(fireworks_standin.FireworksStandIn, method, changed)

    answering_with("_datasets_get", lambda d: {**d, "status": "OK"} if "/datasets/" in d.get("name", "") else d)
    answering_with("_sft_get", lambda j: {**j, "status": "FAILED: bad data", "outputModel": 5} if j.get("state") == "JOB_STATE_FAILED" else j)
    provider = connect(standin)
    uploaded = provider.upload_file(data)
    assert provider.wait_file_processed(uploaded.id).status == "processed"
    standin.script_job(["JOB_STATE_RUNNING", "JOB_STATE_FAILED"], error="bad data")
    failed = finish(provider, provider.create_job(**request(uploaded.id)))
    assert failed.status == "failed" and failed.error.code == "FAILED: bad data"
