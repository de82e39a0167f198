"""The provider boundary: what training code may ask of a fine-tuning service, in neutral records.

Only modules in this package import `openai`. Job statuses are plain strings: anything not in
FINISHED (`paused`, or a status invented tomorrow) means the job is still in progress.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from finetune_action.config import ProviderSettings
from finetune_action.errors import EnvironmentProblem
from finetune_action.redact import mask

FINISHED = frozenset({"succeeded", "failed", "cancelled"})

#: Called with (bytes sent so far, total bytes) while a file uploads.
OnProgress = Callable[[int, int], None]

#: The action input that carries each default key variable into the container.
ACTION_INPUTS = {
    "OPENAI_API_KEY": "openai-api-key",
    "AZURE_OPENAI_API_KEY": "azure-openai-api-key",
    "TOGETHER_API_KEY": "together-api-key",
    "FIREWORKS_API_KEY": "fireworks-api-key",
}
#: Action inputs that carry other provider settings (not secrets: never masked, as masking
#: an account id would blank the model ids that contain it).
ACTION_SETTINGS = {"FIREWORKS_ACCOUNT_ID": "fireworks-account-id"}


class JobError(NamedTuple):
    code: str
    message: str
    param: str | None


class Job(NamedTuple):
    id: str
    status: str
    model: str
    fine_tuned_model: str | None
    trained_tokens: int | None
    error: JobError | None  # why a failed job failed; data, not an exception
    estimated_finish: int | None  # unix seconds
    created_at: int
    finished_at: int | None
    result_files: tuple[str, ...]  # file ids of the step-metrics CSV
    training_file: str
    validation_file: str | None
    metadata: dict[str, str]
    hyperparameters: dict[str, Any]  # as resolved by the provider ("auto" until it decides)
    method: str  # supervised | dpo | reinforcement
    billed_usd: float | None = None  # what the provider says the job cost, where it says so


class Quote(NamedTuple):
    """The provider's own price estimate for a job, asked before creating it."""

    usd: float
    billed_tokens: int | None
    allowed: bool  # the provider lets this account proceed (credit limit)
    limit_usd: float | None  # the account's credit limit, when the provider gives it


class Event(NamedTuple):
    id: str
    created_at: int
    level: str  # info | warn | error
    type: str  # message | metrics
    message: str
    data: dict[str, Any]  # metrics events: step, train_loss, train_mean_token_accuracy, ...


class Checkpoint(NamedTuple):
    id: str
    model: str  # usable as a model id
    step: int
    metrics: dict[str, float]


class UploadedFile(NamedTuple):
    id: str
    bytes: int
    filename: str
    status: str  # uploaded | processed | error (the provider's word)


#: Overrides ProviderOptions.request_timeout (seconds), for slow networks and for tests.
REQUEST_TIMEOUT_ENV = "FINETUNE_REQUEST_TIMEOUT"


class ProviderOptions(NamedTuple):
    """How hard and how fast to talk to the provider; tests shrink the sizes and intervals."""

    max_retries: int = 4  # the SDK's own retries on 429, 5xx and dropped connections; never for creation
    upload_threshold: int = 512 * 1024 * 1024  # larger files go through the Uploads API
    part_size: int = 64 * 1024 * 1024
    parallel_parts: int = 4
    poll_interval: float = 2.0  # between file status checks
    file_wait_seconds: float = 1800.0
    request_timeout: float = 60.0  # seconds for any one request to the provider


class Provider(Protocol):
    """A fine-tuning service. Every method raises ProviderError for a refused or failed call."""

    label: str  # for messages, e.g. "OpenAI"

    def upload_file(self, path: Path, on_progress: OnProgress | None = None) -> UploadedFile:
        """Upload a JSONL file for fine-tuning; large files go up in parallel parts."""
        ...

    def find_files(self, filename: str) -> list[UploadedFile]:
        """Recent fine-tuning files named `filename`, newest first (an upload a stopped run left behind)."""
        ...

    def wait_file_processed(self, file_id: str) -> UploadedFile:
        """Block until the provider has processed the file; raise if it rejected it."""
        ...

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
        """Create a fine-tuning job. There is no idempotency key: look for `metadata` first."""
        ...

    def get_job(self, job_id: str, timeout: float | None = None) -> Job:
        """The job as it is now; with `timeout`, the call (retries included) ends within about that many seconds."""
        ...

    def find_jobs(self, metadata: Mapping[str, str]) -> list[Job]:
        """Recent jobs whose metadata holds every given pair, newest first."""
        ...

    def list_events(self, job_id: str, after: str | None, timeout: float | None = None) -> list[Event]:
        """The job's events newer than event `after` (all when None), oldest first; `timeout` as for get_job."""
        ...

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """The job's kept checkpoints, by step."""
        ...

    def cancel_job(self, job_id: str) -> Job:
        """Ask the provider to cancel the job."""
        ...

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a file, e.g. a job's result CSV."""
        ...

    # Optional: `estimate_job(**create_job arguments) -> Quote` where the provider prices a job
    # before it exists (Together); launch asks it and refuses what breaks budget.max_usd.


def options_from_env(env: Mapping[str, str]) -> ProviderOptions:
    """The default options, with the request timeout from FINETUNE_REQUEST_TIMEOUT when set."""
    value = env.get(REQUEST_TIMEOUT_ENV, "").strip()
    if not value:
        return ProviderOptions()
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise EnvironmentProblem(f"{REQUEST_TIMEOUT_ENV}={value!r} is not a number of seconds above 0; set it like 30, or unset it for the default ({ProviderOptions().request_timeout:g}).")
    return ProviderOptions(request_timeout=seconds)


#: The last second of year 9999: a time past it is no time (datetime cannot show it).
LAST_SECOND = 253_402_300_799


def unix_seconds(value: Any) -> int | None:
    """A provider's unix time as seconds, or None: milliseconds (a gateway's `Date.now()`) are
    read as such, and a time datetime cannot show (it was "year 57971 is out of range", ending
    the wait mid-job) is no time at all."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    if value > LAST_SECOND:
        value //= 1000
    return value if value <= LAST_SECOND else None


def service_url(*given: str | None) -> str | None:
    """The first URL given (the config's, then the environment's), without the whitespace a
    pasted secret brings ("https://host/v1\\n" was an unexpected InvalidURL); a password in it
    (https://user:password@host), a token in the user's place (https://TOKEN@host) and the
    query's values (a gateway's ?subscription-key=...) are masked from all output from now on."""
    for value in given:
        if value and value.strip():
            url = value.strip()
            try:
                parts = urlsplit(url)
                secret = [parts.password, parts.username, *(v for _k, v in parse_qsl(parts.query, keep_blank_values=False))]
            except ValueError:
                secret = []
            for part in secret:
                if part:
                    mask(part)  # values under redact.MIN_LENGTH are left alone
            return url
    return None


def shown_url(url: str) -> str:
    """A URL as messages and records show it: scheme, host and path, never the user:password
    before the host, nor the query or fragment (where a gateway takes its key)."""
    try:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=shown_host(url), query="", fragment=""))
    except ValueError:
        return shown_host(url).partition("?")[0]


def shown_host(url: str) -> str:
    """The host (and port) of a URL as messages show it: never the user:password before it."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    return netloc.rpartition("@")[2] or url.rpartition("@")[2]


def api_key(settings: ProviderSettings, env: Mapping[str, str], label: str, doing: str = "training") -> str:
    """The key from the variable `settings.api_key_env`, or an EnvironmentProblem saying how to set it."""
    name = settings.api_key_env
    key = env.get(name, "").strip()
    if key:
        mask(key)  # whatever the variable is called, the key in use never reaches output
        return key
    if name in ACTION_INPUTS:
        how = f"add the key as a repository secret and pass it to the action with `{ACTION_INPUTS[name]}: ${{{{ secrets.{name} }}}}`"
    else:
        how = f"add the key as a repository secret and set it on the step with `env: {{{name}: ${{{{ secrets.{name} }}}}}}`"
    raise EnvironmentProblem(f"{name} is not set: {doing} with {label} needs its API key. In a workflow, {how}; locally, export {name}. Checking data needs no key.")
