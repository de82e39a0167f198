"""OpenAI and OpenAI-compatible gateways (`base_url`), through the official `openai` SDK.

The Azure module reuses `SDKProvider` with its own client and wording: both serve the same
files, uploads and fine_tuning.jobs API. SDK exceptions become ProviderErrors here.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import openai

from finetune_action import lifecycle
from finetune_action.config import ProviderSettings
from finetune_action.errors import ProviderError
from finetune_action.providers.base import (
    Checkpoint,
    Event,
    Job,
    JobError,
    OnProgress,
    ProviderOptions,
    UploadedFile,
    api_key,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PURPOSE = "fine-tune"
JOB_SCAN_LIMIT = 500  # jobs read when looking one up by metadata
FILE_PAGE = 100
FILE_SCAN_LIMIT = 1000  # files read when looking for an earlier upload by name
EVENT_PAGE = 100
OPENAI_SHUTDOWN = "OpenAI stops new fine-tuning jobs for every customer on 2027-01-06"
SWITCH_HINT = (
    "To train elsewhere, change `provider` and `model` in finetune.yaml: `provider: together` (TOGETHER_API_KEY) or "
    "`provider: fireworks` (FIREWORKS_API_KEY, FIREWORKS_ACCOUNT_ID) with an open model, or `provider: {type: azure, "
    "endpoint: https://<resource>.openai.azure.com}` with AZURE_OPENAI_API_KEY, or `provider: {type: openai, base_url: "
    "https://<gateway>/v1}` for an OpenAI-compatible service (README: Moving off OpenAI)."
)


class Wording(NamedTuple):
    """What differs between services that share the OpenAI API, as users read it."""

    label: str  # "OpenAI", "Azure OpenAI"
    key_env: str  # the variable the key came from
    where: str  # the URL talked to
    forbidden: str  # what a 403 on job creation means at this service and what to do


def connect(settings: ProviderSettings, env: Mapping[str, str], options: ProviderOptions) -> SDKProvider:
    """An OpenAI provider from the settings, falling back to OPENAI_BASE_URL."""
    label = "OpenAI" if not (settings.base_url or env.get("OPENAI_BASE_URL")) else "the OpenAI-compatible service"
    key = api_key(settings, env, label)
    base_url = settings.base_url or env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=options.max_retries)
    forbidden = f"this organisation can no longer create fine-tuning jobs at {label} ({OPENAI_SHUTDOWN}). {SWITCH_HINT}"
    return SDKProvider(client, Wording(label, settings.api_key_env, base_url, forbidden), options, key)


class SDKProvider:
    """A Provider over an `openai.OpenAI` (or `AzureOpenAI`) client."""

    def __init__(self, client: openai.OpenAI, wording: Wording, options: ProviderOptions, key: str, job_fields: Mapping[str, Any] | None = None) -> None:
        self.label = wording.label
        self._client = client
        self._job_fields = dict(job_fields or {})  # service-specific job fields, e.g. Azure's trainingType
        self._wording = wording
        self._options = options
        self._key = key  # only to scrub it from messages

    # --- files ------------------------------------------------------------------------------

    def upload_file(self, path: Path, on_progress: OnProgress | None = None) -> UploadedFile:
        """Upload through the Files API, or the Uploads API in parallel parts above the threshold."""
        size = path.stat().st_size
        with self._calling(f"upload {path.name}"):
            if size <= self._options.upload_threshold:
                with path.open("rb") as handle:
                    file = self._client.files.create(file=(path.name, handle), purpose=PURPOSE)
                if on_progress:
                    on_progress(size, size)
                return _uploaded(file)
            upload = self._client.uploads.create(filename=path.name, purpose=PURPOSE, bytes=size, mime_type="text/jsonl")
        try:
            part_ids = self._send_parts(path, upload.id, size, on_progress)
            with self._calling(f"finish the upload of {path.name}"):
                done = self._client.uploads.complete(upload.id, part_ids=part_ids, md5=_md5(path))
        except BaseException:
            with contextlib.suppress(openai.OpenAIError):
                self._client.uploads.cancel(upload.id)
            raise
        if done.file is None:
            raise ProviderError(f"{self.label} completed the upload of {path.name} but returned no file; re-run to upload again.")
        return _uploaded(done.file)

    def _send_parts(self, path: Path, upload_id: str, size: int, on_progress: OnProgress | None) -> list[str]:
        part_size = self._options.part_size
        sent = 0
        lock = threading.Lock()

        def send(offset: int) -> str:
            nonlocal sent
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read(part_size)
            number = offset // part_size + 1
            with self._calling(f"upload part {number} of {path.name}"):
                part = self._client.uploads.parts.create(upload_id, data=data)
            with lock:
                sent += len(data)
                if on_progress:
                    on_progress(sent, size)
            return part.id

        with ThreadPoolExecutor(max_workers=self._options.parallel_parts, thread_name_prefix="upload-part") as pool:
            return list(pool.map(send, range(0, size, part_size)))  # in file order, whatever finishes first

    def find_files(self, filename: str) -> list[UploadedFile]:
        """Recent fine-tuning files named `filename`, newest first."""
        with self._calling("list files"):
            files = list(itertools.islice(self._client.files.list(purpose=PURPOSE, order="desc", limit=FILE_PAGE), FILE_SCAN_LIMIT))
        return [_uploaded(f) for f in files if f.filename == filename]

    def wait_file_processed(self, file_id: str) -> UploadedFile:
        """Poll the file until it is processed; its `error` status becomes a ProviderError."""
        deadline = time.monotonic() + self._options.file_wait_seconds
        while True:
            with self._calling(f"check file {file_id}"):
                file = self._client.files.retrieve(file_id)
            if file.status == "processed":
                return _uploaded(file)
            if file.status == "error":
                details = file.status_details or "no details given"
                raise ProviderError(f"{self.label} rejected {file.filename} ({file_id}): {self._scrub(details)}. Fix the file and push again.", code="file_error")
            if time.monotonic() >= deadline:
                raise ProviderError(f"{self.label} is still processing {file.filename} ({file_id}) after {self._options.file_wait_seconds:.0f} s; re-run later.")
            time.sleep(self._options.poll_interval)

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a file, e.g. a job's result CSV."""
        with self._calling(f"download file {file_id}"):
            return self._client.files.content(file_id).content

    # --- jobs -------------------------------------------------------------------------------

    def create_job(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None,
        method: str,
        hyperparameters: Mapping[str, Any],
        grader: Mapping[str, Any] | None,
        suffix: str | None,
        seed: int | None,
        integrations: list[dict[str, Any]] | None,
        metadata: Mapping[str, str],
    ) -> Job:
        """Create a fine-tuning job with `method: {type, <type>: {hyperparameters, grader}}`."""
        settings: dict[str, Any] = {}
        if hyperparameters:
            settings["hyperparameters"] = dict(hyperparameters)
        if grader is not None:
            settings["grader"] = dict(grader)
        fields: dict[str, Any] = {
            "model": model,
            "training_file": training_file,
            "method": {"type": method, method: settings},
            "validation_file": validation_file,
            "suffix": suffix,
            "seed": seed,
            "integrations": integrations,
            "metadata": dict(metadata) or None,
        }
        with self._calling("create the fine-tuning job", model):
            return _job(self._client.fine_tuning.jobs.create(**{k: v for k, v in fields.items() if v is not None}, extra_body=self._job_fields or None))

    def get_job(self, job_id: str) -> Job:
        """The job as it is now."""
        with self._calling(f"read job {job_id}"):
            return _job(self._client.fine_tuning.jobs.retrieve(job_id))

    def cancel_job(self, job_id: str) -> Job:
        """Ask the provider to cancel the job."""
        with self._calling(f"cancel job {job_id}"):
            return _job(self._client.fine_tuning.jobs.cancel(job_id))

    def find_jobs(self, metadata: Mapping[str, str]) -> list[Job]:
        """Recent jobs holding every metadata pair, newest first; filtered here too, as some servers ignore the filter."""
        wanted = dict(metadata)
        with self._calling("list fine-tuning jobs"):
            try:
                jobs = list(itertools.islice(self._client.fine_tuning.jobs.list(limit=100, metadata=wanted), JOB_SCAN_LIMIT))
            except (openai.BadRequestError, openai.UnprocessableEntityError):
                # A gateway that rejects the metadata filter: scan the recent jobs instead.
                jobs = list(itertools.islice(self._client.fine_tuning.jobs.list(limit=100), JOB_SCAN_LIMIT))
        found = (_job(j) for j in jobs)
        return [job for job in found if all(job.metadata.get(k) == v for k, v in wanted.items())]

    def list_events(self, job_id: str, after: str | None) -> list[Event]:
        """Events newer than `after`, oldest first. The API lists newest first, so read back to `after`."""
        newer = []
        with self._calling(f"read the events of job {job_id}"):
            for event in self._client.fine_tuning.jobs.list_events(job_id, limit=EVENT_PAGE):
                if event.id == after:
                    break
                newer.append(event)
        return [_event(e) for e in reversed(newer)]

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """The job's kept checkpoints, by step."""
        with self._calling(f"read the checkpoints of job {job_id}"):
            checkpoints = list(self._client.fine_tuning.jobs.checkpoints.list(job_id, limit=100))
        return sorted((_checkpoint(c) for c in checkpoints), key=lambda c: c.step)

    # --- errors -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _calling(self, action: str, model: str | None = None) -> Iterator[None]:
        try:
            yield
        except openai.APIStatusError as exc:
            message = self._status_message(exc, action)
            if exc.code == "training_not_available" and model:
                # The same migration advice as the check's model-not-trainable, from the catalogue.
                message += " " + lifecycle.migration_for(model, "azure" if self.label == "Azure OpenAI" else "openai")
            raise ProviderError(self._scrub(message[0].upper() + message[1:]), status=exc.status_code, code=exc.code) from exc
        except openai.APIConnectionError as exc:
            reason = "timed out" if isinstance(exc, openai.APITimeoutError) else "could not connect"
            message = (
                f"Could not {action}: {self.label} at {_host(self._wording.where)} {reason} "
                f"(tried {self._options.max_retries + 1} times). Check the network and the provider settings in finetune.yaml, then re-run."
            )
            raise ProviderError(self._scrub(message)) from exc
        except (openai.APIResponseValidationError, ValueError, TypeError, AttributeError, KeyError) as exc:
            # JSON that does not parse, or parses into another shape: not the fine-tuning API.
            message = (
                f"Could not {action}: {self.label} at {_host(self._wording.where)} answered with something that is not "
                f"a fine-tuning API answer ({str(exc)[:200]}). "
                "Check that the provider settings in finetune.yaml (type, base_url or endpoint) point at an OpenAI-compatible fine-tuning API."
            )
            raise ProviderError(self._scrub(message)) from exc

    def _status_message(self, exc: openai.APIStatusError, action: str) -> str:
        status, code = exc.status_code, exc.code
        said = _server_message(exc)
        shown_code = f", {code}" if code and code != str(status) else ""  # Azure repeats the status as code
        refused = f"{self.label} refused to {action} (HTTP {status}{shown_code})"
        if status == 401:
            # The server's text may echo part of the key: leave it out.
            return f"{refused}: the API key in {self._wording.key_env} was not accepted. Check that the secret holds a current key for {self._wording.where}."
        if status == 403 and (code == "training_not_available" or action == "create the fine-tuning job"):
            return f"{refused}: {self._wording.forbidden}"
        if status == 403:
            return f"{refused}: {said}. Check that the key in {self._wording.key_env} may use fine-tuning and files (restricted keys need write access to both)."
        if status == 429:
            return f"{refused}: {_rate_limit_advice(exc, said)}"
        if status >= 500:
            return f"{refused}: {said}. The service failed after {self._options.max_retries + 1} attempts; this is usually temporary, re-run later."
        return f"{refused}: {said}"

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


def _rate_limit_advice(exc: openai.APIStatusError, said: str) -> str:
    code = exc.code or ""
    lowered = said.lower()
    wait = _retry_after(exc)
    if code == "daily_rate_limit_exceeded" or "per day" in lowered:
        return f"the daily limit on fine-tuning jobs is reached ({said}). Retry {wait or 'tomorrow: the limit counts jobs created in the last 24 hours'}."
    if "concurrent" in code or "active" in lowered or "concurrent" in lowered or "running" in lowered:
        return f"the limit on jobs running at once is reached ({said}). Retry {wait or 'when one of your running jobs finishes'}."
    return f"rate limited ({said}). Retry {wait or 'in a few minutes'}."


def _retry_after(exc: openai.APIStatusError) -> str | None:
    value = exc.response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return f"after {value}"
    if seconds is None:
        return None
    if seconds < 120:
        return f"in {seconds:.0f} seconds"
    if seconds < 7200:
        return f"in about {seconds / 60:.0f} minutes"
    return f"in about {seconds / 3600:.0f} hours"


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"].rstrip(".")
    return "the service gave no details"


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- SDK objects -> neutral records -------------------------------------------------------------


def _required(value: Any, what: str) -> str:
    # A gateway that answers in another shape must not pass for a file or job with no id.
    if not isinstance(value, str) or not value:
        raise ValueError(f"no {what} in the answer")
    return value


def _uploaded(file: Any) -> UploadedFile:
    return UploadedFile(_required(file.id, "file id"), file.bytes, file.filename, file.status)


def _job(job: Any) -> Job:
    _required(job.id, "job id")
    _required(job.status, "job status")
    error = job.error
    method = job.method.type if job.method is not None else "supervised"
    settings = getattr(job.method, method, None) if job.method is not None else None
    hyperparameters = settings.hyperparameters if settings is not None and settings.hyperparameters is not None else job.hyperparameters
    return Job(
        id=job.id,
        status=job.status,
        model=job.model,
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        # Healthy jobs may carry `error: {}`: only an error with a code or message is one.
        error=JobError(error.code or "", error.message or "", error.param) if error is not None and (error.code or error.message) else None,
        estimated_finish=job.estimated_finish,
        created_at=job.created_at,
        finished_at=job.finished_at,
        result_files=tuple(job.result_files or ()),
        training_file=job.training_file,
        validation_file=job.validation_file,
        metadata=dict(job.metadata or {}),
        hyperparameters=hyperparameters.model_dump(exclude_none=True) if hyperparameters is not None else {},
        method=method,
    )


def _event(event: Any) -> Event:
    return Event(event.id, event.created_at, event.level, event.type or "message", event.message, dict(event.data or {}))


def _checkpoint(checkpoint: Any) -> Checkpoint:
    metrics = checkpoint.metrics.model_dump(exclude_none=True) if checkpoint.metrics is not None else {}
    return Checkpoint(checkpoint.id, checkpoint.fine_tuned_model_checkpoint, checkpoint.step_number, metrics)
