"""The OpenAI provider against the stand-in server over real HTTP."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from finetune_action.errors import ProviderError
from finetune_action.providers.base import FINISHED, Job, JobError, Provider
from testing.openai_standin import StandIn

MODEL = "gpt-4o-mini-2024-07-18"
Connect = Callable[..., Provider]


def write(path: Path, size: int) -> Path:
    line = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
    path.write_bytes((line * (size // len(line) + 1))[:size])
    return path


def create(provider: Provider, training_file: str, **fields: object) -> Job:
    defaults: dict[str, object] = {
        "model": MODEL,
        "training_file": training_file,
        "validation_file": None,
        "method": "supervised",
        "hyperparameters": {},
        "grader": None,
        "suffix": None,
        "seed": None,
        "integrations": None,
        "metadata": {},
    }
    return provider.create_job(**{**defaults, **fields})  # type: ignore[arg-type]


def assert_secret_free(standin: StandIn, error: pytest.ExceptionInfo[ProviderError]) -> None:
    message = str(error.value)
    assert standin.api_key not in message and "SECRET" not in message and "*" not in message


# --- files --------------------------------------------------------------------------------------


def test_a_small_file_goes_through_the_files_api(standin: StandIn, provider: Provider, tmp_path: Path) -> None:
    path = write(tmp_path / "train.jsonl", 5_000)
    progress: list[tuple[int, int]] = []
    uploaded = provider.upload_file(path, lambda sent, total: progress.append((sent, total)))
    assert (uploaded.bytes, uploaded.filename, uploaded.status) == (5_000, "train.jsonl", "processed")
    assert progress == [(5_000, 5_000)]
    assert provider.file_content(uploaded.id) == path.read_bytes()
    assert [r.route for r in standin.requests] == ["files.create", "files.content"]


def test_a_large_file_goes_up_in_parallel_parts_with_md5(standin: StandIn, provider: Provider, tmp_path: Path) -> None:
    path = write(tmp_path / "big.jsonl", 3 * 1024 * 1024 + 123)
    progress: list[tuple[int, int]] = []
    uploaded = provider.upload_file(path, lambda sent, total: progress.append((sent, total)))
    assert uploaded.bytes == path.stat().st_size and uploaded.filename == "big.jsonl"
    assert standin.file_bytes[uploaded.id] == path.read_bytes()
    assert standin.calls("files.create") == []
    assert len(standin.calls("uploads.parts.create")) == 4
    (complete,) = standin.calls("uploads.complete")
    assert complete.body["md5"] == hashlib.md5(path.read_bytes()).hexdigest()
    assert standin.calls("uploads.create")[0].body == {"filename": "big.jsonl", "purpose": "fine-tune", "bytes": path.stat().st_size, "mime_type": "text/jsonl"}
    assert sorted(progress)[-1] == (path.stat().st_size, path.stat().st_size) and len(progress) == 4


def test_a_failed_part_cancels_the_upload(standin: StandIn, provider: Provider, tmp_path: Path) -> None:
    path = write(tmp_path / "big.jsonl", 2 * 1024 * 1024 + 1)
    standin.fail("uploads.parts.create", 400, message="Part too large.")
    with pytest.raises(ProviderError, match=r"refused to upload part \d of big.jsonl \(HTTP 400\): Part too large"):
        provider.upload_file(path)
    (upload,) = standin.uploads.values()
    assert upload["status"] == "cancelled" and standin.calls("uploads.complete") == []


def test_wait_file_processed_polls_until_processed_or_rejected(standin: StandIn, provider: Provider, tmp_path: Path) -> None:
    path = write(tmp_path / "train.jsonl", 100)
    standin.script_file(("uploaded", "uploaded", "processed"))
    standin.script_file(("uploaded", "error"), status_details="Invalid file format. Example 3 is not valid JSON.")
    good, bad = provider.upload_file(path), provider.upload_file(path)
    assert good.status == "uploaded"
    assert provider.wait_file_processed(good.id).status == "processed"
    assert len(standin.calls("files.retrieve")) == 2
    with pytest.raises(ProviderError, match="rejected train.jsonl .*Example 3 is not valid JSON") as rejected:
        provider.wait_file_processed(bad.id)
    assert rejected.value.code == "file_error"


# --- jobs ---------------------------------------------------------------------------------------


def test_create_job_builds_the_method_object_and_leaves_out_empty_fields(standin: StandIn, provider: Provider) -> None:
    train = standin.add_file(b"{}\n", "train.jsonl")["id"]
    valid = standin.add_file(b"{}\n", "valid.jsonl")["id"]
    job = create(
        provider,
        train,
        validation_file=valid,
        hyperparameters={"n_epochs": 2, "batch_size": "auto"},
        suffix="support",
        seed=11,
        integrations=[{"type": "wandb", "wandb": {"project": "ft"}}],
        metadata={"finetune_fingerprint": "f00d"},
    )
    assert (job.status, job.model, job.training_file, job.validation_file, job.method) == ("validating_files", MODEL, train, valid, "supervised")
    assert job.metadata == {"finetune_fingerprint": "f00d"} and job.hyperparameters["n_epochs"] == 2 and job.error is None
    body = standin.calls("fine_tuning.jobs.create")[0].body
    assert body["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": "auto"}}}
    assert (body["suffix"], body["seed"], body["integrations"][0]["wandb"]["project"]) == ("support", 11, "ft")
    create(provider, train, method="dpo", hyperparameters={})
    assert standin.calls("fine_tuning.jobs.create")[1].body == {"model": MODEL, "training_file": train, "method": {"type": "dpo", "dpo": {}}}


def test_get_job_follows_the_job_through_unknown_statuses(standin: StandIn, provider: Provider) -> None:
    standin.extra_statuses = frozenset({"mystery_status"})
    statuses = ["validating_files", "queued", "running", "paused", "mystery_status", "running", "succeeded"]
    standin.script_job(statuses, trained_tokens=9_999, empty_error=True)
    job = create(provider, standin.add_file(b"{}\n", "t.jsonl")["id"])
    seen = [job.status] + [provider.get_job(job.id).status for _ in statuses[1:]]
    assert seen == statuses
    assert [s in FINISHED for s in seen] == [False] * 6 + [True]
    done = provider.get_job(job.id)
    assert done.error is None  # `error: {}` on a healthy job is no error
    assert done.fine_tuned_model and done.trained_tokens == 9_999 and done.finished_at and len(done.result_files) == 1
    assert done.hyperparameters == {"batch_size": 1, "learning_rate_multiplier": 2.0, "n_epochs": 3}


def test_a_failed_job_reports_its_error_as_data(standin: StandIn, provider: Provider) -> None:
    standin.script_job(["validating_files", "failed"], error={"code": "invalid_training_file", "message": "Example 4 has no assistant message.", "param": "training_file"})
    job = create(provider, standin.add_file(b"{}\n", "t.jsonl")["id"])
    failed = provider.get_job(job.id)
    assert failed.status == "failed"
    assert failed.error == JobError("invalid_training_file", "Example 4 has no assistant message.", "training_file")


def test_find_jobs_uses_the_server_filter(standin: StandIn, provider: Provider) -> None:
    mine = standin.add_job(metadata={"finetune_fingerprint": "abc", "repository": "o/r"})
    standin.add_job(metadata={"finetune_fingerprint": "other"})
    standin.add_job()
    assert [j.id for j in provider.find_jobs({"finetune_fingerprint": "abc"})] == [mine["id"]]
    (listing,) = standin.calls("fine_tuning.jobs.list")
    assert listing.query == {"limit": "100", "metadata[finetune_fingerprint]": "abc"}


@pytest.mark.parametrize("behaviour", ["ignore", "reject"])
def test_find_jobs_filters_itself_when_the_server_does_not(standin: StandIn, provider: Provider, behaviour: str) -> None:
    older = standin.add_job(metadata={"fp": "abc"})
    standin.add_job(metadata={"fp": "other"})
    newer = standin.add_job(metadata={"fp": "abc", "extra": "1"})
    standin.add_job()
    standin.metadata_filter = behaviour
    assert [j.id for j in provider.find_jobs({"fp": "abc"})] == [newer["id"], older["id"]]
    assert len(standin.calls("fine_tuning.jobs.list")) == (2 if behaviour == "reject" else 1)


def test_find_jobs_reads_past_the_recent_jobs_when_the_server_ignores_the_filter(standin: StandIn, provider: Provider) -> None:
    # Azure lists every job whatever the filter: the fingerprint's job, older than 600 others, was
    # missed when only the 500 newest were read, and train started (and billed) a second one.
    mine = standin.add_job(metadata={"fp": "abc"})
    for n in range(600):
        standin.add_job(metadata={"fp": f"other{n}"})
    standin.metadata_filter = "ignore"
    assert [j.id for j in provider.find_jobs({"fp": "abc"})] == [mine["id"]]


def test_find_jobs_refuses_when_it_cannot_read_every_job(standin: StandIn, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_action.providers import openai as openai_provider

    monkeypatch.setattr(openai_provider, "JOB_SCAN_LIMIT", 250)
    standin.add_job(metadata={"fp": "abc"})
    for n in range(300):
        standin.add_job(metadata={"fp": f"other{n}"})
    standin.metadata_filter = "ignore"
    with pytest.raises(ProviderError, match="more than 250 fine-tuning jobs .* cannot be ruled out; nothing was started"):
        provider.find_jobs({"fp": "abc"})
    standin.metadata_filter = "honour"  # a server that filters lists only the fingerprint's jobs
    assert len(provider.find_jobs({"fp": "abc"})) == 1


def test_list_events_returns_only_new_events_oldest_first_across_pages(standin: StandIn, provider: Provider) -> None:
    standin.script_job(["queued", "running", "succeeded"], events=[["queued"], [f"step {i}" for i in range(150)], ["done"]])
    job = create(provider, standin.add_file(b"{}\n", "t.jsonl")["id"])
    first = provider.list_events(job.id, None)
    assert [e.message for e in first] == ["queued"]
    provider.get_job(job.id)
    second = provider.list_events(job.id, first[-1].id)
    assert [e.message for e in second] == [f"step {i}" for i in range(150)]
    assert len(standin.calls("fine_tuning.jobs.list_events")) == 3  # 150 new events: two pages of 100
    provider.get_job(job.id)
    assert [e.message for e in provider.list_events(job.id, second[-1].id)] == ["done"]
    assert provider.list_events(job.id, provider.list_events(job.id, None)[-1].id) == []


def test_a_server_whose_pages_never_end_cannot_hold_the_wait(standin: StandIn, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server that ignores the `after` cursor and always says has_more: reading events or
    # checkpoints went on for ever (33,000 requests in 40 s), past the wait's timeout.
    import testing.openai_standin as openai_standin
    from finetune_action.providers import openai as openai_provider

    standin.script_job(["running", "succeeded"], events=[["step 1", "step 2"], ["done"]])
    job = create(provider, standin.add_file(b"{}\n", "t.jsonl")["id"])
    provider.get_job(job.id)
    monkeypatch.setattr(openai_standin, "_page", lambda items, query, default_limit: (items[: int(query.get("limit") or default_limit)], True))
    monkeypatch.setattr(openai_provider, "EVENT_SCAN_LIMIT", 300)
    monkeypatch.setattr(openai_provider, "CHECKPOINT_SCAN_LIMIT", 300)
    assert len(provider.list_events(job.id, None)) == 300 and len(standin.calls("fine_tuning.jobs.list_events")) <= 300
    provider.list_checkpoints(job.id)
    assert len(standin.calls("fine_tuning.jobs.checkpoints.list")) <= 300


@pytest.mark.parametrize("error", ["boom: the file was bad", [{"code": "bad_file", "message": "boom: the file was bad"}]])
def test_times_in_milliseconds_and_errors_of_other_shapes_are_read(standin: StandIn, provider: Provider, error: object) -> None:
    # Milliseconds ended the wait with "year 57971 is out of range"; an error given as a string
    # or a list was dropped, and the failure said no reason.
    standin.script_job(["running", "failed"])
    job = create(provider, standin.add_file(b"{}\n", "t.jsonl")["id"])
    created = standin.jobs[job.id]["created_at"]

    def odd(answer: dict) -> dict:
        failed = answer["status"] == "failed"
        return {**answer, "created_at": created * 1000, "estimated_finish": 1_767_225_600_000, "finished_at": 10**20 if failed else None, "error": error if failed else None}

    standin.mangle("fine_tuning.jobs.retrieve", odd)
    running = provider.get_job(job.id)
    assert (running.created_at, running.estimated_finish) == (created, 1_767_225_600)
    failed = provider.get_job(job.id)
    assert failed.status == "failed" and failed.finished_at is None and failed.error is not None and failed.error.message == "boom: the file was bad"


def test_metrics_events_checkpoints_and_the_result_csv(standin: StandIn, provider: Provider) -> None:
    standin.script_job(["running", "succeeded"])
    job = create(provider, standin.add_file(b"{}\n", "t.jsonl")["id"])
    done = provider.get_job(job.id)
    metrics = [e for e in provider.list_events(job.id, None) if e.type == "metrics"]
    assert [e.data["step"] for e in metrics] == [1, 2, 3, 4, 5, 6] and metrics[0].level == "info"
    checkpoints = provider.list_checkpoints(job.id)
    assert [c.step for c in checkpoints] == [4, 5, 6]
    assert checkpoints[-1].model.startswith(done.fine_tuned_model or "?") and "train_loss" in checkpoints[-1].metrics
    csv = provider.file_content(done.result_files[0]).decode()
    assert csv.splitlines()[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"


def test_cancel_job(standin: StandIn, provider: Provider) -> None:
    job = create(provider, standin.add_file(b"{}\n", "t.jsonl")["id"])
    assert provider.cancel_job(job.id).status == "cancelled"
    assert provider.get_job(job.id).status == "cancelled"


# --- errors -------------------------------------------------------------------------------------


def test_a_wrong_key_names_the_variable_and_never_the_key(standin: StandIn, connect: Connect) -> None:
    wrong = "sk-proj-SECRETwrongkey99999999999999SECRET"
    with pytest.raises(ProviderError, match="OPENAI_API_KEY was not accepted") as refused:
        connect(key=wrong).get_job("ftjob-x")
    assert refused.value.status == 401
    assert wrong not in str(refused.value) and "wrongkey" not in str(refused.value) and "9999" not in str(refused.value)
    assert_secret_free(standin, refused)


def test_forbidden_job_creation_says_openai_stopped_and_how_to_switch(standin: StandIn, provider: Provider) -> None:
    train = standin.add_file(b"{}\n", "t.jsonl")["id"]
    standin.fail("fine_tuning.jobs.create", 403, code="training_not_available", message="Fine-tuning is not available for your organization.")
    with pytest.raises(ProviderError) as refused:
        create(provider, train)
    message = str(refused.value)
    assert (refused.value.status, refused.value.code) == (403, "training_not_available")
    assert "can no longer create fine-tuning jobs" in message and "2027-01-06" in message
    assert "type: azure" in message and "endpoint" in message and "provider: together" in message and "base_url" in message
    assert len(standin.calls("fine_tuning.jobs.create")) == 1 and standin.jobs == {}
    assert_secret_free(standin, refused)


def test_forbidden_elsewhere_points_at_the_key_permissions(standin: StandIn, provider: Provider) -> None:
    standin.fail("files.retrieve", 403, message="You have insufficient permissions for this operation. Missing scopes: api.files.read.")
    with pytest.raises(ProviderError, match="Missing scopes: api.files.read. Check that the key in OPENAI_API_KEY") as refused:
        provider.wait_file_processed("file-x")
    assert "2027" not in str(refused.value)


def test_daily_rate_limit_says_which_limit_and_when(standin: StandIn, provider: Provider) -> None:
    train = standin.add_file(b"{}\n", "t.jsonl")["id"]
    message = "This fine-tune request has been rate-limited. Your organization has reached the maximum of 3 fine-tuning requests per day for the model 'gpt-4o-mini-2024-07-18'."
    standin.fail("fine_tuning.jobs.create", 429, code="daily_rate_limit_exceeded", message=message, headers={"retry-after": "3600"})
    with pytest.raises(ProviderError, match=r"daily limit .* Retry in about 60 minutes") as limited:
        create(provider, train)
    assert (limited.value.status, limited.value.code) == (429, "daily_rate_limit_exceeded")
    assert len(standin.calls("fine_tuning.jobs.create")) == 1  # an hour's wait is not the SDK's to sit out
    standin.fail("fine_tuning.jobs.create", 429, code="daily_rate_limit_exceeded", message=message, headers={"retry-after": "86400"})
    with pytest.raises(ProviderError, match="Retry in about 24 hours"):
        create(provider, train)


def test_concurrent_job_limit_is_explained_and_creation_is_never_retried_by_the_sdk(standin: StandIn, provider: Provider) -> None:
    train = standin.add_file(b"{}\n", "t.jsonl")["id"]
    message = "This fine-tune request has been rate-limited. Your organization has reached the maximum of 6 active requests (6 running) for the model 'gpt-4o-mini-2024-07-18'."
    standin.fail("fine_tuning.jobs.create", 429, code="rate_limit_exceeded", message=message)
    with pytest.raises(ProviderError, match="limit on jobs running at once .* Retry when one of your running jobs finishes") as limited:
        create(provider, train)
    # One attempt: a retried creation could start a second paid job. A 429 is a refusal, not a lost answer.
    assert len(standin.calls("fine_tuning.jobs.create")) == 1 and not limited.value.ambiguous
    assert create(provider, train).status == "validating_files"


def test_server_errors_after_the_sdk_retries(standin: StandIn, provider: Provider) -> None:
    standin.fail("fine_tuning.jobs.retrieve", 503, message="The server is overloaded.", times=2)
    with pytest.raises(ProviderError, match=r"HTTP 503\): The server is overloaded. .*tried 2 times.*temporary") as failed:
        provider.get_job("ftjob-x")
    assert failed.value.status == 503
    assert_secret_free(standin, failed)


def test_dropped_connections_after_the_sdk_retries(standin: StandIn, provider: Provider) -> None:
    standin.drop("fine_tuning.jobs.list_events", times=2)
    with pytest.raises(ProviderError, match=r"Could not read the events of job ftjob-x: .* dropped the connection before answering") as failed:
        provider.list_events("ftjob-x", None)
    assert "127.0.0.1" in str(failed.value) and "tried 2 times" in str(failed.value)
    assert failed.value.status is None
    assert_secret_free(standin, failed)


def test_other_refusals_carry_the_server_message(standin: StandIn, provider: Provider) -> None:
    with pytest.raises(ProviderError, match=r"refused to create the fine-tuning job \(HTTP 400, invalid_file\): invalid training_file: file-nope") as refused:
        create(provider, "file-nope")
    assert refused.value.code == "invalid_file"
    with pytest.raises(ProviderError, match="HTTP 404"):
        provider.get_job("ftjob-missing")


def test_find_files_lists_fine_tuning_files_by_name_newest_first(standin: StandIn, provider: Provider) -> None:
    older = standin.add_file(b'{"a": 1}\n', "abc-train.jsonl")
    standin.add_file(b"step\n", "abc-train.jsonl", purpose="fine-tune-results")
    standin.add_file(b'{"b": 1}\n', "other.jsonl")
    newer = standin.add_file(b'{"c": 1}\n', "abc-train.jsonl")
    assert [f.id for f in provider.find_files("abc-train.jsonl")] == [newer["id"], older["id"]]
    assert provider.find_files("missing.jsonl") == []
    assert standin.calls("files.list")[0].query["purpose"] == "fine-tune"


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'{"id": 5, "status": "running"}'])
def test_an_answer_in_another_shape_is_a_clear_error(body: bytes) -> None:
    from finetune_action.config import ProviderSettings
    from finetune_action.errors import ProviderError
    from finetune_action.providers import get_provider
    from testing.http import answering

    with answering(body) as url:
        provider = get_provider(ProviderSettings("openai", f"{url}/v1", None, None, "KEY"), {"KEY": "sk-gateway-secret"})
        with pytest.raises(ProviderError, match="is not a fine-tuning API answer") as caught:
            provider.get_job("ftjob-1")
    assert "sk-gateway-secret" not in str(caught.value)
