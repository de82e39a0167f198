"""OpenAI and OpenAI-compatible gateways (`base_url`), through the official `openai` SDK.

The Azure module reuses `SDKProvider` with its own client and wording: both serve the same
files, uploads and fine_tuning.jobs API. SDK exceptions become ProviderErrors here.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

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
    service_url,
    shown_host,
    unix_seconds,
)
from finetune_action.providers.rest import retry_after
from finetune_action.redact import redact

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PURPOSE = "fine-tune"
JOB_SCAN_LIMIT = 10_000  # jobs read when looking one up by metadata: every one, or none is started (a job missed is trained twice)
FILE_PAGE = 100
FILE_SCAN_LIMIT = 1000  # files read when looking for an earlier upload by name
EVENT_PAGE = 100
EVENT_SCAN_LIMIT = 2_000  # events read back per poll: a server whose pages never end (has_more for ever) cannot hold the wait
CHECKPOINT_SCAN_LIMIT = 1_000
#: Transport errors raised before a request was sent.
UNSENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})
MIN_REQUEST_TIMEOUT = 0.5  # seconds: below this even a healthy answer would be cut off
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
    base_url = service_url(settings.base_url, env.get("OPENAI_BASE_URL")) or DEFAULT_BASE_URL
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=options.max_retries, timeout=options.request_timeout)
    forbidden = f"this organisation can no longer create fine-tuning jobs at {label} ({OPENAI_SHUTDOWN}). {SWITCH_HINT}"
    return SDKProvider(client, Wording(label, settings.api_key_env, base_url, forbidden), options)


class SDKProvider:
    """A Provider over an `openai.OpenAI` (or `AzureOpenAI`) client.

    Calls that create something billable (files, uploads, jobs) are sent once, never retried by
    the SDK: an answer lost after the provider acted would otherwise create a second one. Their
    failures say whether the provider may have acted (ProviderError.ambiguous); training/launch.py
    looks before it tries again.
    """

    def __init__(self, client: openai.OpenAI, wording: Wording, options: ProviderOptions, job_fields: Mapping[str, Any] | None = None) -> None:
        self.label = wording.label
        self._client = client
        self._job_fields = dict(job_fields or {})  # service-specific job fields, e.g. Azure's trainingType
        self._wording = wording
        self._options = options

    # --- files ------------------------------------------------------------------------------

    def upload_file(self, path: Path, on_progress: OnProgress | None = None) -> UploadedFile:
        """Upload through the Files API, or the Uploads API in parallel parts above the threshold."""
        size = path.stat().st_size
        with self._calling(f"upload {path.name}", once=True):
            if size <= self._options.upload_threshold:
                with path.open("rb") as handle:
                    file = self._once.files.create(file=(path.name, handle), purpose=PURPOSE)
                if on_progress:
                    on_progress(size, size)
                return _uploaded(file)
            upload = self._once.uploads.create(filename=path.name, purpose=PURPOSE, bytes=size, mime_type="text/jsonl")
        try:
            part_ids = self._send_parts(path, upload.id, size, on_progress)
            with self._calling(f"finish the upload of {path.name}", once=True):
                done = self._once.uploads.complete(upload.id, part_ids=part_ids, md5=_md5(path))
        except BaseException:
            with contextlib.suppress(openai.OpenAIError):
                self._client.uploads.cancel(upload.id)
            raise
        if done.file is None:
            raise ProviderError(f"{self.label} completed the upload of {path.name} but returned no file; re-run to upload again.", ambiguous=True)
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
        return [f for f in _readable(_uploaded, files) if f.filename == filename]

    def wait_file_processed(self, file_id: str) -> UploadedFile:
        """Poll the file until it is processed; its `error` status becomes a ProviderError."""
        deadline = time.monotonic() + self._options.file_wait_seconds
        while True:
            with self._calling(f"check file {file_id}"):
                answer = self._client.files.retrieve(file_id)
                file = _uploaded(answer)
            if file.status == "processed":
                return file
            if file.status == "error":
                details = _text(_field(answer, "status_details")) or "no details given"
                raise ProviderError(f"{self.label} rejected {file.filename} ({file_id}): {redact(details)}. Fix the file and push again.", code="file_error")
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
        with self._calling("create the fine-tuning job", model, once=True):
            return _job(self._once.fine_tuning.jobs.create(**{k: v for k, v in fields.items() if v is not None}, extra_body=self._job_fields or None))

    def get_job(self, job_id: str, timeout: float | None = None) -> Job:
        """The job as it is now; with `timeout`, within about that many seconds."""
        with self._calling(f"read job {job_id}"):
            return _job(self._within(timeout).fine_tuning.jobs.retrieve(job_id))

    def cancel_job(self, job_id: str) -> Job:
        """Ask the provider to cancel the job."""
        with self._calling(f"cancel job {job_id}"):
            return _job(self._client.fine_tuning.jobs.cancel(job_id))

    def find_jobs(self, metadata: Mapping[str, str]) -> list[Job]:
        """Recent jobs holding every metadata pair, newest first; filtered here too, as some servers ignore the filter."""
        wanted = dict(metadata)
        with self._calling("list fine-tuning jobs"):
            try:
                jobs = list(itertools.islice(self._client.fine_tuning.jobs.list(limit=100, metadata=wanted), JOB_SCAN_LIMIT + 1))
            except (openai.BadRequestError, openai.UnprocessableEntityError):
                # A gateway that rejects the metadata filter: scan the jobs instead.
                jobs = list(itertools.islice(self._client.fine_tuning.jobs.list(limit=100), JOB_SCAN_LIMIT + 1))
        if len(jobs) > JOB_SCAN_LIMIT:
            # A service that ignores the filter (Azure) lists every job: the one sought may be past
            # the last read, and a lookup that misses it would start (and bill) a second one.
            raise ProviderError(
                f"{self.label} listed more than {JOB_SCAN_LIMIT:,} fine-tuning jobs for this lookup (it does not filter them by metadata), "
                "so the job of this data and config cannot be ruled out; nothing was started. Look the job up in the provider's console."
            )
        return [job for job in _readable(_job, jobs) if all(job.metadata.get(k) == v for k, v in wanted.items())]

    def list_events(self, job_id: str, after: str | None, timeout: float | None = None) -> list[Event]:
        """Events newer than `after`, oldest first. The API lists newest first, so read back to `after`."""
        newer = []
        with self._calling(f"read the events of job {job_id}"):
            for event in itertools.islice(self._within(timeout).fine_tuning.jobs.list_events(job_id, limit=EVENT_PAGE), EVENT_SCAN_LIMIT):
                if after is not None and _field(event, "id") == after:
                    break
                newer.append(event)
        return [e for e in (_event(e) for e in reversed(newer)) if e is not None]

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """The job's kept checkpoints, by step."""
        with self._calling(f"read the checkpoints of job {job_id}"):
            checkpoints = list(itertools.islice(self._client.fine_tuning.jobs.checkpoints.list(job_id, limit=100), CHECKPOINT_SCAN_LIMIT))
        return sorted((c for c in (_checkpoint(c) for c in checkpoints) if c is not None), key=lambda c: c.step)

    # --- clients ----------------------------------------------------------------------------

    @property
    def _once(self) -> openai.OpenAI:
        """The client for creating something billable: one attempt, no automatic retry."""
        return self._client.with_options(max_retries=0)

    def _within(self, seconds: float | None) -> openai.OpenAI:
        """The client for a call that must end within about `seconds`: each attempt waits at most
        that long, and only the retries that fit in it are made (the wait loop's deadline)."""
        options = self._options
        if seconds is None or seconds >= options.request_timeout * (options.max_retries + 1):
            return self._client
        seconds = max(seconds, MIN_REQUEST_TIMEOUT)
        retries = min(options.max_retries, max(int(seconds // options.request_timeout) - 1, 0))
        return self._client.with_options(timeout=min(options.request_timeout, seconds), max_retries=retries)

    # --- errors -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _calling(self, action: str, model: str | None = None, once: bool = False) -> Iterator[None]:
        tried = "tried once" if once else f"tried {self._options.max_retries + 1} times"
        try:
            yield
        except openai.APIStatusError as exc:
            message = self._status_message(exc, action, tried)
            if exc.code == "training_not_available" and model:
                # The same migration advice as the check's model-not-trainable, from the catalogue.
                message += " " + lifecycle.migration_for(model, "azure" if self.label == "Azure OpenAI" else "openai")
            # A 5xx or a 408 may come after the provider acted; a 4xx refusal means it did not.
            ambiguous = exc.status_code >= 500 or exc.status_code == 408
            raise ProviderError(redact(message[0].upper() + message[1:]), status=exc.status_code, code=exc.code, ambiguous=ambiguous) from exc
        except openai.APIConnectionError as exc:
            # Failing to connect means nothing was sent; any later failure may follow a sent request.
            # By name: the SDK's transport is httpx in some versions, httpx2 in others.
            unsent = type(exc.__cause__).__name__ in UNSENT
            reason = "timed out" if isinstance(exc, openai.APITimeoutError) else "could not connect" if unsent else "dropped the connection before answering"
            message = (
                f"Could not {action}: {self.label} at {shown_host(self._wording.where)} {reason} "
                f"({tried}). Check the network and the provider settings in finetune.yaml, then re-run."
            )
            raise ProviderError(redact(message), ambiguous=not unsent) from exc
        except (openai.APIResponseValidationError, ValueError, TypeError, AttributeError, KeyError) as exc:
            # JSON that does not parse, or parses into another shape: not the fine-tuning API.
            # It answered, so it may have acted.
            message = (
                f"Could not {action}: {self.label} at {shown_host(self._wording.where)} answered with something that is not "
                f"a fine-tuning API answer ({redact(str(exc))[:200]}). "
                "Check that the provider settings in finetune.yaml (type, base_url or endpoint) point at an OpenAI-compatible fine-tuning API."
            )
            raise ProviderError(redact(message), ambiguous=True) from exc

    def _status_message(self, exc: openai.APIStatusError, action: str, tried: str) -> str:
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
            return f"{refused}: {said}. The service failed ({tried}); this is usually temporary, re-run later."
        return f"{refused}: {said}"



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
    return retry_after(exc.response.headers.get("retry-after"))


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"].rstrip(".")
    return "the service gave no details"



def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- SDK objects -> neutral records -------------------------------------------------------------
# Every field of an answer is untrusted: the SDK keeps whatever JSON arrived (a list where an
# object belongs, a number as a string, a missing field). Here, and only here, each field is read
# with its expected type; what cannot be read is defaulted or skipped, so a strange answer never
# crashes the wait. Only a missing id is an error: without it there is nothing to follow.


def _field(value: Any, name: str) -> Any:
    """`value.name` for SDK objects, `value[name]` for plain JSON, None when absent."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _pairs(value: Any) -> dict[str, Any]:
    """An object's fields as a dict ({} for anything that is not an object)."""
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, openai.BaseModel):
        return {k: v for k, v in value if v is not None}  # fields and extras, as sent
    return {}


def _scalars(value: Any) -> dict[str, Any]:
    """An object's string, number and boolean fields; nested or unreadable values left out."""
    return {k: v for k, v in _pairs(value).items() if isinstance(v, (str, bool)) or _number(v) is not None}


def _required(value: Any, what: str) -> str:
    # A gateway that answers in another shape must not pass for a file or job with no id.
    if not isinstance(value, str) or not value:
        raise ValueError(f"no {what} in the answer")
    return value


def _readable(convert: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """Each item converted, leaving out those without an id (a list answer is read item by item)."""
    found = []
    for item in items:
        with contextlib.suppress(ValueError):
            found.append(convert(item))
    return found


def _uploaded(file: Any) -> UploadedFile:
    return UploadedFile(_required(_field(file, "id"), "file id"), _int(_field(file, "bytes")) or 0, _text(_field(file, "filename")), _text(_field(file, "status")))


def _job(job: Any) -> Job:
    method = _pairs(_field(job, "method"))
    kind = _text(method.get("type")) or "supervised"
    hyperparameters = _scalars(_field(method.get(kind), "hyperparameters")) or _scalars(_field(job, "hyperparameters"))
    raw_error = _field(job, "error")
    if isinstance(raw_error, list):  # a gateway's list of errors: the first that says something
        raw_error = next((e for e in raw_error if _pairs(e).get("message") or isinstance(e, str)), None)
    error = _pairs(raw_error) if not isinstance(raw_error, str) else {"message": raw_error}  # a bare string is the reason itself
    code, message = _text(error.get("code")), _text(error.get("message"))
    return Job(
        id=_required(_field(job, "id"), "job id"),
        # A status that is not a word is not FINISHED: the wait goes on and reads it again.
        status=_text(_field(job, "status")) or "unknown",
        model=_text(_field(job, "model")),
        fine_tuned_model=_optional_text(_field(job, "fine_tuned_model")),
        trained_tokens=_int(_field(job, "trained_tokens")),
        # Healthy jobs may carry `error: {}`: only an error with a code or message is one.
        error=JobError(code, message, _optional_text(error.get("param"))) if code or message else None,
        estimated_finish=unix_seconds(_field(job, "estimated_finish")),
        created_at=unix_seconds(_field(job, "created_at")) or 0,
        finished_at=unix_seconds(_field(job, "finished_at")),
        result_files=tuple(f for f in (_field(job, "result_files") or ()) if isinstance(f, str) and f) if isinstance(_field(job, "result_files"), list) else (),
        training_file=_text(_field(job, "training_file")),
        validation_file=_optional_text(_field(job, "validation_file")),
        metadata={k: v for k, v in _pairs(_field(job, "metadata")).items() if isinstance(v, str)},
        hyperparameters={k: v for k, v in hyperparameters.items() if not isinstance(v, bool)},
        method=kind,
    )


def _event(event: Any) -> Event | None:
    """The event, or None when it has no id (it could not be told apart from the next one)."""
    event_id = _field(event, "id")
    if not isinstance(event_id, str) or not event_id:
        return None
    return Event(
        event_id,
        unix_seconds(_field(event, "created_at")) or 0,
        _text(_field(event, "level")) or "info",
        _text(_field(event, "type")) or "message",
        _text(_field(event, "message")),
        _scalars(_field(event, "data")),
    )


def _checkpoint(checkpoint: Any) -> Checkpoint | None:
    """The checkpoint, or None without an id, a model or a step."""
    checkpoint_id, model, step = _field(checkpoint, "id"), _field(checkpoint, "fine_tuned_model_checkpoint"), _int(_field(checkpoint, "step_number"))
    if not (isinstance(checkpoint_id, str) and checkpoint_id and isinstance(model, str) and model and step is not None):
        return None
    metrics = {k: float(v) for k, v in _pairs(_field(checkpoint, "metrics")).items() if _number(v) is not None}
    return Checkpoint(checkpoint_id, model, step, metrics)
