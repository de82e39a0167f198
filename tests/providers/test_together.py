"""The Together AI provider against the Together stand-in over real HTTP."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finetune_action.config import ProviderSettings
from finetune_action.errors import ProviderError
from finetune_action.providers import get_provider
from finetune_action.providers.base import ProviderOptions
from finetune_action.providers.together import TogetherProvider, tagged_suffix
from testing.together_standin import TogetherStandIn, serve

KEY = "tgp_v1_SECRETvalue0123456789abcdefSECRET"
FP = "0123456789abcdef" * 4
FAST = ProviderOptions(max_retries=2, poll_interval=0, request_timeout=5)


@pytest.fixture
def standin() -> Iterator[TogetherStandIn]:
    with serve(api_key=KEY) as server:
        yield server


def connect(standin: TogetherStandIn, key: str = KEY, env: dict[str, str] | None = None) -> TogetherProvider:
    settings = ProviderSettings("together", standin.base_url, None, None, "TOGETHER_API_KEY")
    return get_provider(settings, {"TOGETHER_API_KEY": key, **(env or {})}, FAST)  # type: ignore[return-value]


def request(training_file: str, **overrides: object) -> dict:
    base = {
        "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "training_file": training_file, "validation_file": None,
        "method": "supervised", "hyperparameters": {"n_epochs": 2, "learning_rate": 0.0002, "lora_r": 16, "lora_alpha": 32},
        "grader": None, "suffix": "support-bot", "seed": 7, "integrations": None, "metadata": {"finetune_fingerprint": FP},
    }
    return base | overrides


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / f"{FP[:12]}-train.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n' * 40)
    return path


def test_upload_estimate_create_wait_and_find_again(standin, data) -> None:
    provider = connect(standin)
    uploaded = provider.upload_file(data)
    form = standin.calls("files.upload")[0].body
    assert form["purpose"] == "fine-tune" and form["file_name"] == data.name and form["file"].content == data.read_bytes()
    assert provider.wait_file_processed(uploaded.id).status == "processed"
    assert [f.id for f in provider.find_files(data.name)] == [uploaded.id]

    quote = provider.estimate_job(**request(uploaded.id))
    assert quote.usd == pytest.approx(len(data.read_bytes()) // 4 * 2 * 3 / 1e6) and quote.allowed
    job = provider.create_job(**request(uploaded.id))
    sent = standin.calls("fine_tunes.create")[0].body
    assert sent["training_method"] == {"method": "sft", "train_on_inputs": False}  # the description's boolean, not "auto"
    assert sent["training_type"] == {"type": "Lora", "lora_r": 16, "lora_alpha": 32} and sent["random_seed"] == 7
    assert sent["suffix"] == f"support-bot-{FP[:12]}" and sent["learning_rate"] == 0.0002 and sent["n_epochs"] == 2

    while job.status not in ("succeeded", "failed", "cancelled"):
        job = provider.get_job(job.id)
    assert job.status == "succeeded" and job.trained_tokens == 54_321 and job.billed_usd == pytest.approx(0.163)
    assert job.fine_tuned_model == standin.jobs[job.id]["model_output_name"]
    events = provider.list_events(job.id, None)
    assert events[-1].message.startswith("Fine-tuning completed") and provider.list_events(job.id, events[-1].id) == []
    assert any(e.data.get("step") == 2 and e.data.get("total_steps") == 4 for e in events)
    [checkpoint] = provider.list_checkpoints(job.id)
    assert checkpoint.model == f"{job.fine_tuned_model}:4"

    assert [j.id for j in provider.find_jobs({"finetune_fingerprint": FP})] == [job.id]
    assert provider.find_jobs({"finetune_fingerprint": "f" * 64}) == []


def test_the_fingerprint_fits_togethers_suffix_limit() -> None:
    assert tagged_suffix("x" * 80, FP) == "x" * 27 + "-" + FP[:12]
    assert len(tagged_suffix("x" * 80, FP)) == 40 and tagged_suffix(None, FP) == FP[:12]


def test_dpo_full_training_and_wandb(standin, data) -> None:
    provider = connect(standin, env={"WANDB_API_KEY": "wandb-secret"})
    uploaded = provider.upload_file(data)
    wandb = [{"type": "wandb", "wandb": {"project": "bots", "name": "run-1"}}]
    provider.create_job(**request(uploaded.id, method="dpo", hyperparameters={"beta": 0.2, "lora": False}, integrations=wandb))
    sent = standin.calls("fine_tunes.create")[0].body
    assert sent["training_method"] == {"method": "dpo", "dpo_beta": 0.2} and sent["training_type"] == {"type": "Full"}
    assert sent["wandb_api_key"] == "wandb-secret" and sent["wandb_project_name"] == "bots" and sent["wandb_name"] == "run-1"

    without = connect(standin)
    with pytest.raises(ProviderError, match="set WANDB_API_KEY"):
        without.create_job(**request(uploaded.id, integrations=wandb))


def test_a_failed_job_carries_the_reason_from_its_events(standin, data) -> None:
    provider = connect(standin)
    standin.script_job(["pending", "running", "error"], error="Training file line 3: missing assistant message")
    job = provider.create_job(**request(provider.upload_file(data).id))
    while job.status not in ("succeeded", "failed", "cancelled"):
        job = provider.get_job(job.id)
    assert job.status == "failed" and job.error.message == "Training file line 3: missing assistant message"


def test_cancel_and_unknown_statuses_mean_in_progress(standin, data) -> None:
    provider = connect(standin)
    standin.extra_statuses = ("tokenizing",)
    standin.script_job(["pending", "tokenizing", "running", "completed"])
    job = provider.create_job(**request(provider.upload_file(data).id))
    assert provider.get_job(job.id).status == "tokenizing"  # unknown to us: still in progress
    assert provider.cancel_job(job.id).status == "cancelled"


def test_create_is_never_retried_and_a_5xx_or_drop_is_ambiguous(standin, data) -> None:
    provider = connect(standin)
    file_id = provider.upload_file(data).id
    standin.fail("fine_tunes.create", 503, message="upstream overloaded")
    with pytest.raises(ProviderError) as failed:
        provider.create_job(**request(file_id))
    assert failed.value.ambiguous and "HTTP 503" in str(failed.value) and "upstream overloaded" in str(failed.value)
    standin.drop("fine_tunes.create")
    with pytest.raises(ProviderError) as dropped:
        provider.create_job(**request(file_id))
    assert dropped.value.ambiguous and len(standin.calls("fine_tunes.create")) == 2

    standin.fail("fine_tunes.create", 400, message="Model xyz is not supported for fine-tuning", code="invalid_model")
    with pytest.raises(ProviderError) as refused:
        provider.create_job(**request(file_id))
    assert not refused.value.ambiguous and "HTTP 400, invalid_model): Model xyz is not supported" in str(refused.value)
    assert "Check `model`, `method` and `hyperparameters` in finetune.yaml" in str(refused.value)
    standin.drop("files.upload")
    with pytest.raises(ProviderError) as upload:
        provider.upload_file(data)
    assert upload.value.ambiguous and len(standin.calls("files.upload")) == 2


def test_reads_retry_429_with_retry_after_and_5xx(standin) -> None:
    provider = connect(standin)
    standin.fail("fine_tunes.list", 429, message="Rate limit exceeded", headers={"retry-after": "0"})
    standin.fail("fine_tunes.list", 502)
    assert provider.find_jobs({"finetune_fingerprint": FP}) == [] and len(standin.calls("fine_tunes.list")) == 3
    standin.fail("fine_tunes.list", 429, message="Rate limit exceeded", headers={"retry-after": "0"}, times=3)
    with pytest.raises(ProviderError, match=r"HTTP 429, invalid_request_error\): rate limited or over a quota \(Rate limit exceeded\)\. Retry in 0 seconds"):
        provider.find_jobs({"finetune_fingerprint": FP})


def test_a_bad_key_is_named_and_never_echoed(standin) -> None:
    provider = connect(standin, key="tgp_v1_WRONGkey0123456789")
    with pytest.raises(ProviderError) as refused:
        provider.find_files("x.jsonl")
    message = str(refused.value)
    assert "TOGETHER_API_KEY was not accepted" in message and "WRONGkey" not in message and refused.value.status == 401


@pytest.mark.parametrize("status", [502, 200])
def test_a_key_echoed_in_a_page_that_is_not_json_is_redacted_before_the_page_is_cut(status: int) -> None:
    # The page was cut to 200 characters and then redacted: a key the cut split no longer
    # matched, and all but its last character were shown.
    from testing.http import answering

    prefix = "<html><body>proxy error; request headers: Authorization: Bearer "
    page = "x" * (200 - len(prefix) - len(KEY) + 1) + prefix + KEY + "</body></html>"
    with answering(page.encode(), "text/html", status) as url:
        provider = get_provider(ProviderSettings("together", url, None, None, "TOGETHER_API_KEY"), {"TOGETHER_API_KEY": KEY}, FAST)
        with pytest.raises(ProviderError) as failed:
            provider.find_jobs({"finetune_fingerprint": FP})
    message = str(failed.value)
    assert KEY[:12] not in message and "Bearer **" in message


def test_the_stand_in_holds_requests_to_the_description(standin: TogetherStandIn, data) -> None:
    provider = connect(standin)
    file_id = provider.upload_file(data).id
    body = request(file_id)
    # What the SDK sends (train_on_inputs "auto") breaks the description: the stand-in refuses it.
    import requests

    answer = requests.post(standin.base_url + "/fine-tunes", json={"model": body["model"], "training_file": file_id, "training_method": {"method": "sft", "train_on_inputs": "auto"}}, headers={"authorization": f"Bearer {KEY}"}, timeout=5)
    assert answer.status_code == 400 and "training_method" in answer.json()["error"]["message"]


@pytest.mark.parametrize("header", ["-1", "nan", "inf", "-inf"])
def test_a_retry_after_that_is_no_wait_is_not_slept_nor_shown(header: str) -> None:
    # A negative Retry-After reached time.sleep (an unexpected ValueError); the message said
    # "Retry in -1 seconds" or "in about nan hours".
    from finetune_action.providers import rest

    assert rest.retry_after(header) is None and 0 <= rest._backoff(1, header) <= rest.MAX_BACKOFF
    assert rest.retry_after("30") == "in 30 seconds" and rest._backoff(1, "2") == 2


def answering_with(monkeypatch: pytest.MonkeyPatch, method: str, change) -> None:
    """Pass the stand-in's successful answers of `method` through `change`: a service answering outside its description."""
    import testing.together_standin as together_standin

    original = getattr(together_standin.TogetherStandIn, method)

    def changed(self, params, query, body):
        status, answer = original(self, params, query, body)
        return (status, change(answer)) if status == 200 else (status, answer)

    monkeypatch.setattr(together_standin.TogetherStandIn, method, changed)


def test_answers_with_strings_where_the_description_has_objects_or_integers_are_read(standin, data, monkeypatch) -> None:
    # training_method "sft", training_type "Lora", bytes "4.3 KB" and a checkpoint step "final"
    # were each an unexpected AttributeError or ValueError.
    standin.strict = False  # answers off the description, on purpose
    answering_with(monkeypatch, "_files_upload", lambda f: {**f, "bytes": "4.3 KB"})
    answering_with(monkeypatch, "_fine_tunes_retrieve", lambda j: {**j, "training_method": "sft", "training_type": "Lora", "model_output_name": 5})
    answering_with(monkeypatch, "_fine_tunes_checkpoints", lambda a: {"data": [{**c, "step": "final"} for c in a["data"]] + ["junk"]})
    provider = connect(standin)
    uploaded = provider.upload_file(data)
    assert uploaded.bytes == 0
    job = provider.create_job(**request(uploaded.id))
    read = provider.get_job(job.id)
    assert read.method == "supervised" and "lora" not in read.hyperparameters and read.fine_tuned_model is None
    assert all(c.step == 0 for c in provider.list_checkpoints(job.id))


def test_a_create_answer_that_does_not_read_is_one_the_service_may_have_acted_on(standin, data, monkeypatch) -> None:
    # It said "check `provider` settings" and was taken as refused, though the job was made: a
    # lookup (here, or the next run's) must find it rather than the run giving up on it.
    standin.strict = False
    answering_with(monkeypatch, "_fine_tunes_create", lambda j: {**j, "status": None})
    provider = connect(standin)
    uploaded = provider.upload_file(data)
    with pytest.raises(ProviderError, match=r"It accepted the call \(HTTP 200\), so it may have made it") as failed:
        provider.create_job(**request(uploaded.id))
    assert failed.value.ambiguous and len(standin.calls("fine_tunes.create")) == 1
    assert [j.id for j in provider.find_jobs({"finetune_fingerprint": FP})] == list(standin.jobs)
