"""The OpenAI stand-in, driven only through the real openai SDK over real HTTP."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator

import openai
import pytest

from testing.openai_standin import StandIn, serve, spec

MODEL = "gpt-4o-mini-2024-07-18"
AZURE_VERSION = "2025-04-01-preview"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serve() as server:
        yield server


def client(standin: StandIn, *, max_retries: int = 0, api_key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=standin.base_url, api_key=api_key or standin.api_key, max_retries=max_retries)


def azure(standin: StandIn, *, max_retries: int = 0, api_key: str | None = None) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=standin.azure_endpoint, api_version=AZURE_VERSION, api_key=api_key or standin.api_key, max_retries=max_retries)


def training_file(sdk: openai.OpenAI) -> str:
    return sdk.files.create(file=("train.jsonl", b'{"messages": []}\n'), purpose="fine-tune").id


# --- files and uploads ----------------------------------------------------------------------


def test_files_round_trip(standin: StandIn) -> None:
    sdk = client(standin)
    created = sdk.files.create(file=("train.jsonl", b'{"a": 1}\n'), purpose="fine-tune")
    assert (created.filename, created.bytes, created.purpose, created.status) == ("train.jsonl", 9, "fine-tune", "processed")
    assert sdk.files.retrieve(created.id).id == created.id
    assert [f.id for f in sdk.files.list(purpose="fine-tune")] == [created.id]
    assert sdk.files.list(purpose="batch").data == []
    assert sdk.files.content(created.id).content == b'{"a": 1}\n'
    assert sdk.files.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(created.id)


def test_scripted_file_processing(standin: StandIn) -> None:
    sdk = client(standin)
    standin.script_file(("uploaded", "processed"))
    standin.script_file(("uploaded", "error"), status_details="Invalid file format. Line 3 is not JSON.")
    good = sdk.files.create(file=("a.jsonl", b"{}\n"), purpose="fine-tune")
    bad = sdk.files.create(file=("b.jsonl", b"{}\n"), purpose="fine-tune")
    assert good.status == bad.status == "uploaded"
    assert sdk.files.retrieve(good.id).status == "processed"
    failed = sdk.files.retrieve(bad.id)
    assert (failed.status, failed.status_details) == ("error", "Invalid file format. Line 3 is not JSON.")


def test_upload_joins_parts_in_the_order_given_and_checks_md5(standin: StandIn) -> None:
    sdk = client(standin)
    content = b"0123456789" * 3
    upload = sdk.uploads.create(filename="big.jsonl", purpose="fine-tune", bytes=len(content), mime_type="application/jsonl")
    assert upload.status == "pending" and upload.file is None
    parts = [sdk.uploads.parts.create(upload.id, data=content[i : i + 10]) for i in (20, 0, 10)]
    with pytest.raises(openai.BadRequestError, match="md5"):
        sdk.uploads.complete(upload.id, part_ids=[parts[1].id, parts[2].id, parts[0].id], md5="0" * 32)
    done = sdk.uploads.complete(upload.id, part_ids=[parts[1].id, parts[2].id, parts[0].id], md5=hashlib.md5(content).hexdigest())
    assert done.status == "completed" and done.file is not None
    assert sdk.files.content(done.file.id).content == content
    assert done.file.filename == "big.jsonl"


def test_upload_refuses_a_short_upload_and_anything_after_cancel(standin: StandIn) -> None:
    sdk = client(standin)
    upload = sdk.uploads.create(filename="big.jsonl", purpose="fine-tune", bytes=20, mime_type="application/jsonl")
    part = sdk.uploads.parts.create(upload.id, data=b"only ten b")
    with pytest.raises(openai.BadRequestError, match="declared 20 bytes"):
        sdk.uploads.complete(upload.id, part_ids=[part.id])
    assert sdk.uploads.cancel(upload.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        sdk.uploads.parts.create(upload.id, data=b"more")


# --- jobs -------------------------------------------------------------------------------------


def test_each_retrieve_moves_the_script_one_step_and_unknown_statuses_pass() -> None:
    with serve(extra_statuses=("mystery_status",)) as standin:
        sdk = client(standin)
        statuses = ["validating_files", "queued", "running", "paused", "mystery_status", "running", "succeeded"]
        standin.script_job(statuses, trained_tokens=4_321, fine_tuned_model="ft:gpt-4o-mini-2024-07-18:acme::abc123")
        job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=training_file(sdk))
        seen = [job.status] + [sdk.fine_tuning.jobs.retrieve(job.id).status for _ in range(7)]
        assert seen == [*statuses, "succeeded"]
        final = sdk.fine_tuning.jobs.retrieve(job.id)
        assert (final.fine_tuned_model, final.trained_tokens, final.error) == ("ft:gpt-4o-mini-2024-07-18:acme::abc123", 4_321, None)
        assert final.finished_at is not None and len(final.result_files) == 1
        assert len(standin.calls("fine_tuning.jobs.retrieve")) == 8


def test_a_failed_job_carries_its_error_and_scripted_events(standin: StandIn) -> None:
    sdk = client(standin)
    error = {"code": "invalid_training_file", "message": "Example 7 is missing messages.", "param": "training_file"}
    standin.script_job(
        ["validating_files", "failed"],
        events=[["Validating training file"], [{"message": "Example 7 is missing messages.", "level": "error"}]],
        error=error,
    )
    job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=training_file(sdk))
    failed = sdk.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error is not None
    assert (failed.error.code, failed.error.message, failed.error.param) == (error["code"], error["message"], error["param"])
    assert [(e.level, e.message) for e in sdk.fine_tuning.jobs.list_events(job.id)] == [("error", "Example 7 is missing messages."), ("info", "Validating training file")]


def test_healthy_jobs_may_carry_an_empty_error(standin: StandIn) -> None:
    sdk = client(standin)
    standin.script_job(["running", "succeeded"], empty_error=True)
    job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=training_file(sdk))
    raw = sdk.fine_tuning.jobs.with_raw_response.retrieve(job.id)
    assert raw.http_response.json()["error"] == {}
    assert raw.parse().error is not None and raw.parse().error.code is None  # what the product sees


def test_create_echoes_method_suffix_seed_integrations_and_metadata(standin: StandIn) -> None:
    sdk = client(standin)
    train, valid = training_file(sdk), training_file(sdk)
    job = sdk.fine_tuning.jobs.create(
        model=MODEL,
        training_file=train,
        validation_file=valid,
        suffix="support-bot",
        seed=7,
        metadata={"finetune_fingerprint": "abc"},
        integrations=[{"type": "wandb", "wandb": {"project": "ft", "tags": ["ci"]}}],
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1, "learning_rate_multiplier": 0.5}}},
    )
    assert (job.validation_file, job.seed, job.metadata) == (valid, 7, {"finetune_fingerprint": "abc"})
    assert job.method is not None and job.method.type == "dpo"
    assert job.integrations is not None and job.integrations[0].wandb.project == "ft"
    body = standin.calls("fine_tuning.jobs.create")[0].body
    assert body["suffix"] == "support-bot" and body["method"]["dpo"]["hyperparameters"]["beta"] == 0.1


def test_create_is_checked_against_the_request_schema_and_known_files(standin: StandIn) -> None:
    sdk = client(standin)
    train = training_file(sdk)
    with pytest.raises(openai.BadRequestError, match="suffix"):
        sdk.fine_tuning.jobs.create(model=MODEL, training_file=train, suffix="x" * 65)
    with pytest.raises(openai.BadRequestError, match="n_epochs"):
        sdk.fine_tuning.jobs.create(model=MODEL, training_file=train, method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 51}}})
    with pytest.raises(openai.BadRequestError, match="invalid training_file: file-nope"):
        sdk.fine_tuning.jobs.create(model=MODEL, training_file="file-nope")
    assert standin.jobs == {}


def test_list_filters_by_metadata_and_pages_with_after(standin: StandIn) -> None:
    sdk = client(standin)
    train = training_file(sdk)
    ids = [sdk.fine_tuning.jobs.create(model=MODEL, training_file=train, metadata={"fp": str(i % 2)}).id for i in range(5)]
    untagged = sdk.fine_tuning.jobs.create(model=MODEL, training_file=train).id
    assert [j.id for j in sdk.fine_tuning.jobs.list(metadata={"fp": "1"})] == [ids[3], ids[1]]
    first = sdk.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in first.data] == [untagged, ids[4]] and first.has_more
    assert [j.id for j in sdk.fine_tuning.jobs.list(limit=2, after=ids[4]).data] == [ids[3], ids[2]]
    assert [j.id for j in sdk.fine_tuning.jobs.list(limit=2)] == [untagged, *reversed(ids)]  # auto-paging
    assert [j.id for j in sdk.fine_tuning.jobs.list(extra_query={"metadata": "null"})] == [untagged]
    assert standin.calls("fine_tuning.jobs.list")[0].query == {"metadata[fp]": "1"}


def test_list_can_ignore_or_reject_the_metadata_filter(standin: StandIn) -> None:
    sdk = client(standin)
    train = training_file(sdk)
    tagged = sdk.fine_tuning.jobs.create(model=MODEL, training_file=train, metadata={"fp": "a"}).id
    other = sdk.fine_tuning.jobs.create(model=MODEL, training_file=train).id
    standin.metadata_filter = "ignore"
    assert [j.id for j in sdk.fine_tuning.jobs.list(metadata={"fp": "a"})] == [other, tagged]
    standin.metadata_filter = "reject"
    with pytest.raises(openai.BadRequestError, match="metadata"):
        sdk.fine_tuning.jobs.list(metadata={"fp": "a"})


def test_events_come_newest_first_and_after_pages_towards_older(standin: StandIn) -> None:
    sdk = client(standin)
    standin.script_job(["queued", "running", "running", "running", "succeeded"])
    job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=training_file(sdk))
    for _ in range(4):
        sdk.fine_tuning.jobs.retrieve(job.id)
    everything = [e for e in sdk.fine_tuning.jobs.list_events(job.id, limit=3)]  # auto-paging, 3 at a time
    assert everything[0].message == "The job has successfully completed"
    assert everything[-1].message == "Files validated, moving job to queued state"
    assert [e.created_at for e in everything] == sorted((e.created_at for e in everything), reverse=True)
    page = sdk.fine_tuning.jobs.list_events(job.id, limit=2, after=everything[1].id)
    assert [e.id for e in page.data] == [everything[2].id, everything[3].id] and page.has_more
    metrics = [e for e in everything if e.type == "metrics"]
    assert [e.data["step"] for e in metrics] == [6, 5, 4, 3, 2, 1]
    assert {"step", "train_loss", "train_mean_token_accuracy", "total_steps"} <= set(metrics[0].data)


def test_succeeded_job_has_checkpoints_and_a_result_csv(standin: StandIn) -> None:
    sdk = client(standin)
    train = training_file(sdk)
    standin.script_job(["running", "succeeded"])
    job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=train, validation_file=train)
    done = sdk.fine_tuning.jobs.retrieve(job.id)
    checkpoints = sdk.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [6, 5, 4]
    assert checkpoints[0].fine_tuned_model_checkpoint.startswith(done.fine_tuned_model or "?")
    assert checkpoints[0].metrics.valid_loss is not None
    csv = sdk.files.content(done.result_files[0]).text.splitlines()
    assert csv[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert len(csv) == 7 and csv[1].startswith("1,")
    assert sdk.files.retrieve(done.result_files[0]).purpose == "fine-tune-results"


def test_pause_resume_and_cancel_hold_the_script(standin: StandIn) -> None:
    sdk = client(standin)
    standin.script_job(["running", "running", "succeeded"])
    job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=training_file(sdk))
    assert sdk.fine_tuning.jobs.pause(job.id).status == "paused"
    assert sdk.fine_tuning.jobs.retrieve(job.id).status == "paused"
    with pytest.raises(openai.BadRequestError):
        sdk.fine_tuning.jobs.pause(job.id)
    assert sdk.fine_tuning.jobs.resume(job.id).status == "running"
    assert sdk.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    assert sdk.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    with pytest.raises(openai.NotFoundError):
        sdk.fine_tuning.jobs.retrieve("ftjob-missing")


def test_add_job_puts_an_earlier_job_in_place(standin: StandIn) -> None:
    earlier = standin.add_job(metadata={"fp": "x"})
    sdk = client(standin)
    assert [j.id for j in sdk.fine_tuning.jobs.list(metadata={"fp": "x"})] == [earlier["id"]]
    assert standin.calls("fine_tuning.jobs.create") == []


# --- Azure shape ------------------------------------------------------------------------------


def test_azure_paths_share_state_and_require_api_version(standin: StandIn) -> None:
    sdk = azure(standin)
    train = sdk.files.create(file=("train.jsonl", b"{}\n"), purpose="fine-tune").id
    job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=train)
    assert client(standin).fine_tuning.jobs.retrieve(job.id).id == job.id
    assert sdk.fine_tuning.jobs.list_events(job.id).data
    first = standin.requests[0]
    assert (first.api, first.path, first.query) == ("azure", "/openai/files", {"api-version": AZURE_VERSION})
    no_version = openai.OpenAI(base_url=standin.azure_endpoint + "/openai", api_key="unused", default_headers={"api-key": standin.api_key}, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        no_version.fine_tuning.jobs.retrieve(job.id)


def test_keys_are_required_and_never_recorded(standin: StandIn) -> None:
    with pytest.raises(openai.AuthenticationError) as wrong:
        client(standin, api_key="sk-wrong-key-000000000000").files.list()
    assert "sk-wrong-key-000000000000" not in str(wrong.value)  # masked, as the real API does
    with pytest.raises(openai.AuthenticationError):
        azure(standin, api_key="wrong").files.list()
    client(standin).files.list()
    azure(standin).files.list()
    for request in standin.requests:
        assert "authorization" not in request.headers and "api-key" not in request.headers


def test_unknown_routes_are_404(standin: StandIn) -> None:
    with pytest.raises(openai.NotFoundError, match="Invalid URL"):
        client(standin).models.list()


# --- injected failures and the SDK's own retries --------------------------------------------


def test_forbidden_is_not_retried(standin: StandIn) -> None:
    sdk = client(standin, max_retries=3)
    train = training_file(sdk)
    standin.fail("fine_tuning.jobs.create", 403, code="training_not_available", message="Fine-tuning is not available for your organization.")
    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk.fine_tuning.jobs.create(model=MODEL, training_file=train)
    assert denied.value.code == "training_not_available"
    assert len(standin.calls("fine_tuning.jobs.create")) == 1 and standin.jobs == {}


def test_rate_limits_are_retried_unless_the_wait_is_too_long(standin: StandIn) -> None:
    sdk = client(standin, max_retries=2)
    train = training_file(sdk)
    standin.fail("fine_tuning.jobs.create", 429, code="rate_limit_exceeded", message="Your organization has reached the maximum of 3 active requests.")
    assert sdk.fine_tuning.jobs.create(model=MODEL, training_file=train).status == "validating_files"
    assert len(standin.calls("fine_tuning.jobs.create")) == 2
    standin.fail("fine_tuning.jobs.create", 429, code="daily_rate_limit_exceeded", headers={"retry-after": "3600"})
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.fine_tuning.jobs.create(model=MODEL, training_file=train)
    assert limited.value.code == "daily_rate_limit_exceeded" and limited.value.response.headers["retry-after"] == "3600"
    assert len(standin.calls("fine_tuning.jobs.create")) == 3 and len(standin.jobs) == 1


def test_server_errors_exhaust_the_retries(standin: StandIn) -> None:
    sdk = client(standin, max_retries=2)
    standin.fail("fine_tuning.jobs.retrieve", 500, times=3)
    with pytest.raises(openai.InternalServerError):
        sdk.fine_tuning.jobs.retrieve("ftjob-anything")
    assert len(standin.calls("fine_tuning.jobs.retrieve")) == 3
    standin.fail("*", 502)
    assert sdk.files.list().data == []


def test_dropped_connections_surface_as_connection_errors(standin: StandIn) -> None:
    standin.drop("files.list")
    with pytest.raises(openai.APIConnectionError):
        client(standin).files.list()
    standin.drop("files.list")
    assert client(standin, max_retries=1).files.list().data == []
    assert len(standin.calls("files.list")) == 3


# --- honesty ----------------------------------------------------------------------------------


def test_an_off_spec_answer_fails_the_request_and_the_test() -> None:
    with pytest.raises(AssertionError, match="files.retrieve"):
        with serve() as standin:
            file = standin.add_file(b"{}\n", "train.jsonl")
            standin.files[file["id"]]["bytes"] = "nine"
            with pytest.raises(openai.InternalServerError, match="breaks the spec"):
                client(standin, max_retries=3).files.retrieve(file["id"])
            assert len(standin.calls("files.retrieve")) == 1  # x-should-retry: false


def test_the_spec_is_the_trimmed_copy_loaded_once() -> None:
    assert spec() is spec()
    assert "/fine_tuning/jobs/{fine_tuning_job_id}/events" in spec()["paths"]
    assert "/chat/completions" not in spec()["paths"]


def test_scripting_a_route_that_does_not_exist_is_an_error(standin: StandIn) -> None:
    with pytest.raises(ValueError, match="no route 'jobs.create'"):
        standin.fail("jobs.create", 500)
