"""Together AI fine-tuning over its REST API (requests), as its published OpenAPI description lists it.

Not the `together` SDK: it uploads through routes the description does not list (POST /files
redirecting to a signed URL, /files/{id}/preprocess, /files/multipart/*) and sends
`train_on_inputs: "auto"` where the description says boolean. Here every route and field is
the description's, and the tests hold the stand-in to it.

Together has no job metadata and no idempotency key: the fingerprint rides in the job's
`suffix` (which Together keeps and echoes in `model_output_name`), and a re-run finds the job
again by listing jobs and matching it.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from finetune_action.config import ProviderSettings
from finetune_action.errors import ProviderError
from finetune_action.providers.base import (
    Checkpoint,
    Event,
    Job,
    JobError,
    OnProgress,
    ProviderOptions,
    Quote,
    UploadedFile,
    api_key,
    service_url,
)
from finetune_action.providers.rest import RestClient, Said, Wording, iso_seconds

LABEL = "Together AI"
DEFAULT_BASE_URL = "https://api.together.ai/v1"
METADATA_KEY = "finetune_fingerprint"  # the key launch looks jobs up by (training/fingerprint.py)
FINGERPRINT_CHARS = 12
MAX_SUFFIX = 40  # Together's suffix limit as its CLI enforces it (unverified against the API)
NANODOLLARS = 1_000_000_000  # total_price is an integer in nanodollars
#: Together's statuses that end a job, as ours; every other status means in progress.
FINISHED = {"completed": "succeeded", "error": "failed", "cancelled": "cancelled"}
LEVELS = {"warning": "warn", "legacy_iwarning": "warn", "error": "error", "legacy_ierror": "error"}
METHODS = {"supervised": "sft", "dpo": "dpo"}


def connect(settings: ProviderSettings, env: Mapping[str, str], options: ProviderOptions) -> TogetherProvider:
    """A Together provider from the settings (base_url for another host, e.g. a stand-in)."""
    key = api_key(settings, env, LABEL)
    base_url = service_url(settings.base_url, env.get("TOGETHER_BASE_URL")) or DEFAULT_BASE_URL
    client = RestClient(Wording(LABEL, settings.api_key_env, base_url, _said), key, options)
    return TogetherProvider(client, options, env.get("WANDB_API_KEY", "").strip() or None)


def _said(body: Any) -> Said:
    # ErrorData: {"error": {"message", "type", "param", "code"}}; some answers are {"message"}.
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return Said(error["message"].rstrip("."), error.get("code") or error.get("type"))
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return Said(body["message"].rstrip("."), None)
    return Said("the service gave no details", None)


def tagged_suffix(suffix: str | None, fingerprint: str) -> str:
    """The job suffix carrying the fingerprint at its end, within Together's length limit."""
    tag = fingerprint[:FINGERPRINT_CHARS]
    if not tag:
        return (suffix or "")[:MAX_SUFFIX]
    head = (suffix or "")[: MAX_SUFFIX - len(tag) - 1].strip("-_.")
    return f"{head}-{tag}" if head else tag


class TogetherProvider:
    """A Provider over Together's /v1 fine-tuning API."""

    label = LABEL

    def __init__(self, client: RestClient, options: ProviderOptions, wandb_key: str | None) -> None:
        self._client = client
        self._options = options
        self._wandb_key = wandb_key  # Together logs to W&B with the caller's key

    # --- files ------------------------------------------------------------------------------

    def upload_file(self, path: Path, on_progress: OnProgress | None = None) -> UploadedFile:
        """POST /files/upload (multipart), once: a failed upload may still have stored the file."""
        size = path.stat().st_size
        with path.open("rb") as handle:
            answer = self._client.call(
                "POST", "/files/upload", action=f"upload {path.name}", creates=True,
                data={"purpose": "fine-tune", "file_name": path.name, "file_type": "jsonl"},
                files={"file": (path.name, handle, "application/octet-stream")},
            )
        if on_progress:
            on_progress(size, size)
        return self._file(self._client.json(answer, f"upload {path.name}"), f"upload {path.name}")

    def find_files(self, filename: str) -> list[UploadedFile]:
        """Fine-tuning files named `filename`, newest first."""
        body = self._client.json(self._client.call("GET", "/files", action="list files"), "list files")
        found = [f for f in _items(body, "list files", self._client) if f.get("filename") == filename and f.get("purpose") == "fine-tune"]
        found.sort(key=lambda f: f.get("created_at") or 0, reverse=True)
        return [self._file(f, "list files") for f in found]

    def wait_file_processed(self, file_id: str) -> UploadedFile:
        """Poll the file until Together has checked it (`Processed`)."""
        deadline = time.monotonic() + self._options.file_wait_seconds
        while True:
            action = f"check file {file_id}"
            file = self._file(self._client.json(self._client.call("GET", f"/files/{file_id}", action=action), action), action)
            if file.status == "processed":
                return file
            if time.monotonic() >= deadline:
                raise ProviderError(f"{LABEL} is still checking {file.filename} ({file_id}) after {self._options.file_wait_seconds:.0f} s; re-run later.")
            time.sleep(self._options.poll_interval)

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a file."""
        return self._client.call("GET", f"/files/{file_id}/content", action=f"download file {file_id}").content

    def _file(self, body: dict[str, Any], action: str) -> UploadedFile:
        if not isinstance(body.get("id"), str) or not body["id"]:
            raise self._client.not_the_api(action, "no file id in the answer")
        return UploadedFile(body["id"], _whole(body.get("bytes")), str(body.get("filename") or ""), "processed" if body.get("Processed") else "uploaded")

    # --- jobs -------------------------------------------------------------------------------

    def _request(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None,
        method: str,
        hyperparameters: Mapping[str, Any],
        suffix: str | None,
        seed: int | None,
        integrations: list[dict[str, Any]] | None,
        metadata: Mapping[str, str],
    ) -> dict[str, Any]:
        """The POST /fine-tunes body for the neutral job request."""
        hp = dict(hyperparameters)
        training_method: dict[str, Any] = {"method": METHODS[method]}
        if method == "dpo":
            if "beta" in hp:
                training_method["dpo_beta"] = hp.pop("beta")
        else:
            # Mask the prompt, train on the answers, as OpenAI does (the description's boolean).
            training_method["train_on_inputs"] = False
        body: dict[str, Any] = {"model": model, "training_file": training_file, "training_method": training_method}
        if validation_file:
            body["validation_file"] = validation_file
        lora = hp.pop("lora", True)
        lora_settings = {k: hp.pop(k) for k in ("lora_r", "lora_alpha", "lora_dropout") if k in hp}
        if not lora:
            body["training_type"] = {"type": "Full"}
        elif lora_settings:
            body["training_type"] = {"type": "Lora", **lora_settings}
        for key in ("n_epochs", "batch_size", "learning_rate", "n_evals", "n_checkpoints", "warmup_ratio", "weight_decay", "max_seq_length"):
            if key in hp:
                body[key] = hp.pop(key)
        body["suffix"] = tagged_suffix(suffix, metadata.get(METADATA_KEY, ""))
        if seed is not None:
            body["random_seed"] = seed
        for integration in integrations or ():
            wandb = integration.get("wandb") or {}
            if self._wandb_key is None:
                raise ProviderError(f"integrations.wandb: {LABEL} logs to Weights & Biases with your W&B key; set WANDB_API_KEY on the step, or remove integrations.wandb.")
            body["wandb_api_key"] = self._wandb_key
            for ours, theirs in (("project", "wandb_project_name"), ("entity", "wandb_entity"), ("name", "wandb_name")):
                if wandb.get(ours):
                    body[theirs] = wandb[ours]
        return body

    def estimate_job(self, **request: Any) -> Quote:
        """Together's own price for this job (POST /fine-tunes/estimate-price), before it exists."""
        request.pop("grader", None)
        body = self._request(**request)
        asked = {k: body[k] for k in ("training_file", "validation_file", "model", "n_epochs", "n_evals", "training_method", "training_type") if k in body}
        action = "estimate the price of the fine-tuning job"
        answer = self._client.json(self._client.call("POST", "/fine-tunes/estimate-price", action=action, json=asked), action)
        price = answer.get("estimated_total_price")
        if not isinstance(price, (int, float)) or isinstance(price, bool):
            raise self._client.not_the_api(action, "no estimated_total_price in the answer")
        tokens = [answer.get(k) for k in ("estimated_train_token_count", "estimated_eval_token_count")]
        billed = int(sum(t for t in tokens if isinstance(t, (int, float)))) if any(isinstance(t, (int, float)) for t in tokens) else None
        limit = answer.get("user_limit")
        return Quote(float(price), billed, answer.get("allowed_to_proceed", True) is not False, float(limit) if isinstance(limit, (int, float)) else None)

    def create_job(self, *, grader: Mapping[str, Any] | None = None, **request: Any) -> Job:
        """POST /fine-tunes, once: a failure where Together may have made the job is `ambiguous`."""
        body = self._request(**request)
        action = "create the fine-tuning job"
        return self._client.made(self._client.call("POST", "/fine-tunes", action=action, json=body, creates=True), action, self._job)

    def get_job(self, job_id: str, timeout: float | None = None) -> Job:
        """The job as it is now; with `timeout`, within about that many seconds."""
        action = f"read job {job_id}"
        return self._job(self._client.json(self._client.call("GET", f"/fine-tunes/{job_id}", action=action, within=timeout), action), action)

    def cancel_job(self, job_id: str) -> Job:
        """POST /fine-tunes/{id}/cancel; the job passes through cancel_requested to cancelled."""
        action = f"cancel job {job_id}"
        return self._job(self._client.json(self._client.call("POST", f"/fine-tunes/{job_id}/cancel", action=action), action), action)

    def find_jobs(self, metadata: Mapping[str, str]) -> list[Job]:
        """Jobs whose suffix ends in the fingerprint (the only place Together keeps it), newest first."""
        tag = metadata.get(METADATA_KEY, "")[:FINGERPRINT_CHARS]
        body = self._client.json(self._client.call("GET", "/fine-tunes", action="list fine-tuning jobs"), "list fine-tuning jobs")
        jobs = [j for j in _items(body, "list fine-tuning jobs", self._client) if tag and _carries(j, tag)]
        jobs.sort(key=lambda j: iso_seconds(j.get("created_at")) or 0, reverse=True)
        return [self._job(j, "list fine-tuning jobs") for j in jobs]

    def list_events(self, job_id: str, after: str | None, timeout: float | None = None) -> list[Event]:
        """Events after event `after`, oldest first. Together's events have no id: their place in the list is one."""
        action = f"read the events of job {job_id}"
        events = _items(self._client.json(self._client.call("GET", f"/fine-tunes/{job_id}/events", action=action, within=timeout), action), action, self._client)
        start = int(after) + 1 if after is not None and after.isdigit() else 0
        return [_event(index, e) for index, e in enumerate(events) if index >= start]

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """The job's checkpoints, each usable as `<model_output_name>:<step>`."""
        action = f"read the checkpoints of job {job_id}"
        checkpoints = _items(self._client.json(self._client.call("GET", f"/fine-tunes/{job_id}/checkpoints", action=action), action), action, self._client)
        output = self.get_job(job_id).fine_tuned_model or job_id
        found = [Checkpoint(str(c.get("path") or c.get("step")), f"{output}:{c.get('step')}", _whole(c.get("step")), {}) for c in checkpoints if isinstance(c, dict)]
        return sorted(found, key=lambda c: c.step)

    def _job(self, body: dict[str, Any], action: str) -> Job:
        if not isinstance(body.get("id"), str) or not isinstance(body.get("status"), str):
            raise self._client.not_the_api(action, "no job id or status in the answer")
        status = FINISHED.get(body["status"], body["status"])
        # Objects in the description; a string ("sft", "Lora") or anything else is read as no detail.
        training_method = body.get("training_method") if isinstance(body.get("training_method"), dict) else {}
        training_type = body.get("training_type") if isinstance(body.get("training_type"), dict) else {}
        hyperparameters = {k: body[k] for k in ("n_epochs", "batch_size", "learning_rate", "n_evals", "n_checkpoints", "warmup_ratio", "weight_decay", "max_seq_length") if body.get(k) is not None}
        if training_type:
            hyperparameters["lora"] = training_type.get("type") != "Full"
            hyperparameters |= {k: training_type[k] for k in ("lora_r", "lora_alpha", "lora_dropout") if k in training_type}
        if "dpo_beta" in training_method:
            hyperparameters["beta"] = training_method["dpo_beta"]
        price = body.get("total_price")
        created = iso_seconds(body.get("created_at")) or 0
        return Job(
            id=body["id"],
            status=status,
            model=str(body.get("model") or ""),
            fine_tuned_model=body.get("model_output_name") if isinstance(body.get("model_output_name"), str) and body["model_output_name"] else None,
            trained_tokens=body.get("token_count") if isinstance(body.get("token_count"), int) else None,
            error=self._failure(body["id"]) if status == "failed" else None,
            estimated_finish=None,
            created_at=created,
            finished_at=iso_seconds(body.get("updated_at")) if status in ("succeeded", "failed", "cancelled") else None,
            result_files=(),
            training_file=str(body.get("training_file") or ""),
            validation_file=body.get("validation_file") or None,
            metadata={},
            hyperparameters=hyperparameters,
            method="dpo" if training_method.get("method") == "dpo" else "supervised",
            billed_usd=round(price / NANODOLLARS, 6) if isinstance(price, int) and price > 0 else None,
        )

    def _failure(self, job_id: str) -> JobError:
        """Why a job failed: Together says it in its last error event, not on the job."""
        try:
            events = self.list_events(job_id, None)
        except ProviderError:
            events = []
        reasons = [e for e in events if e.level == "error" or e.data.get("type") == "job_error"]
        message = reasons[-1].message if reasons else "Together gave no reason; see the job's events in its dashboard"
        return JobError("job_error", message, None)


def _carries(job: dict[str, Any], tag: str) -> bool:
    suffix = job.get("suffix")
    if isinstance(suffix, str):
        return suffix == tag or suffix.endswith("-" + tag)
    return tag in str(job.get("model_output_name") or "")


def _items(body: dict[str, Any], action: str, client: RestClient) -> list[dict[str, Any]]:
    data = body.get("data")
    if not isinstance(data, list):
        raise client.not_the_api(action, "no `data` list in the answer")
    return [item for item in data if isinstance(item, dict)]


def _event(index: int, event: dict[str, Any]) -> Event:
    data: dict[str, Any] = {"type": event.get("type")}
    if isinstance(event.get("step"), int) and event["step"] > 0:
        data["step"] = event["step"]
        if isinstance(event.get("total_steps"), int) and event["total_steps"] > 0:
            data["total_steps"] = event["total_steps"]
    level = LEVELS.get(str(event.get("level") or ""), "info")
    return Event(str(index), iso_seconds(event.get("created_at")) or 0, level, "message", str(event.get("message") or event.get("type") or ""), data)


def _whole(value: Any) -> int:
    """A count the description gives as an integer; 0 when the answer has another shape ("4.3 KB", "final")."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
