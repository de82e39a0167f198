"""Fireworks AI fine-tuning over its account-scoped REST API (requests).

Shapes from the published API reference (tests/fixtures/fireworks/ names the pages and the
date they were read); Fireworks publishes no downloadable description of them.

Never paying twice rests on ids we choose: a dataset's id is derived from the upload file's
name (which holds the fingerprint), and a job's id from the fingerprint, so a re-run asks
for the same id; Fireworks answers 409 ALREADY_EXISTS and we attach to that job instead of
creating one. A retry of a failed job takes the next id (`<id>-2`, `-3`, ...).
"""
from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from finetune_action.config import ProviderSettings
from finetune_action.errors import EnvironmentProblem, ProviderError
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
)
from finetune_action.providers.rest import RestClient, Said, Wording, iso_seconds

LABEL = "Fireworks AI"
DEFAULT_BASE_URL = "https://api.fireworks.ai"
ACCOUNT_ENV = "FIREWORKS_ACCOUNT_ID"
METADATA_KEY = "finetune_fingerprint"  # the key launch looks jobs up by (training/fingerprint.py)
FINGERPRINT_CHARS = 12
DIRECT_UPLOAD_LIMIT = 150 * 1024 * 1024  # :upload takes "file sizes up to 150Mb"; larger go to a signed URL
MAX_RETRY_IDS = 20  # jobs a fingerprint may have: the first and 19 retries
#: Job collections by our method, with the query parameter that names a new job's id.
KINDS = {"supervised": ("supervisedFineTuningJobs", "supervisedFineTuningJobId"), "dpo": ("dpoJobs", "dpoJobId")}
#: Fireworks' states that end a job, as ours; every other state means in progress.
FINISHED = {
    "JOB_STATE_COMPLETED": "succeeded",
    "JOB_STATE_EARLY_STOPPED": "succeeded",  # stopped early by its own rule, with a model
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
}


def connect(settings: ProviderSettings, env: Mapping[str, str], options: ProviderOptions) -> FireworksProvider:
    """A Fireworks provider for the account in FIREWORKS_ACCOUNT_ID."""
    key = api_key(settings, env, LABEL)
    account = env.get(ACCOUNT_ENV, "").strip()
    if not account:
        raise EnvironmentProblem(
            f"{ACCOUNT_ENV} is not set: Fireworks keeps datasets and jobs under an account (accounts/<id>). In a workflow, pass "
            f"`fireworks-account-id: ${{{{ vars.{ACCOUNT_ENV} }}}}` to the action (or set it in `env:`); locally, export {ACCOUNT_ENV}. "
            "`firectl whoami` shows it."
        )
    base_url = service_url(settings.base_url, env.get("FIREWORKS_BASE_URL")) or DEFAULT_BASE_URL
    client = RestClient(Wording(LABEL, settings.api_key_env, base_url, _said), key, options)
    return FireworksProvider(client, account.removeprefix("accounts/"), options, env.get("WANDB_API_KEY", "").strip() or None)


def _said(body: Any) -> Said:
    # The gateway answers google.rpc.Status ({code, message, details}); inference-style
    # answers nest it under "error".
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("code")
        return Said(body["message"].rstrip("."), None if code is None else str(code))
    return Said("the service gave no details", None)


def dataset_id(filename: str) -> str:
    """The dataset id for an upload file: lower-case letters, digits and hyphens, at most 63."""
    stem = re.sub(r"[^a-z0-9-]+", "-", Path(filename).stem.lower()).strip("-")
    return f"finetune-{stem}"[:63].rstrip("-")


def job_ids(fingerprint: str) -> list[str]:
    """The ids a fingerprint's jobs take, in order: the first, then one per retry."""
    base = f"finetune-{fingerprint[:FINGERPRINT_CHARS]}"
    return [base] + [f"{base}-{n}" for n in range(2, MAX_RETRY_IDS + 1)]


class FireworksProvider:
    """A Provider over Fireworks' /v1/accounts/{account} datasets and fine-tuning jobs."""

    label = LABEL

    def __init__(self, client: RestClient, account: str, options: ProviderOptions, wandb_key: str | None) -> None:
        self._client = client
        self._account = account
        self._options = options
        self._wandb_key = wandb_key

    @property
    def _prefix(self) -> str:
        return f"/v1/accounts/{self._account}"

    # --- datasets ---------------------------------------------------------------------------

    def upload_file(self, path: Path, on_progress: OnProgress | None = None) -> UploadedFile:
        """Create the dataset (its id from the file name), then upload: directly up to 150 MB, else to a signed URL."""
        ds, size = dataset_id(path.name), path.stat().st_size
        examples = sum(1 for line in path.open("rb") if line.strip())
        action = f"create dataset {ds} for {path.name}"
        body = {"datasetId": ds, "dataset": {"displayName": _display(path.name, size), "exampleCount": str(examples), "userUploaded": {}}}
        created = self._client.call("POST", f"{self._prefix}/datasets", action=action, json=body, creates=True, allow=(409,))
        if created.status_code == 409:
            # An earlier run made it: reuse it when its upload finished, else upload into it.
            existing = self._dataset(self._get_dataset(ds), path.name)
            if existing is not None and existing.status == "processed":
                return existing
        where = f"{self._prefix}/datasets/{ds}"
        if size <= min(DIRECT_UPLOAD_LIMIT, self._options.upload_threshold):
            with path.open("rb") as handle:
                self._client.call("POST", f"{where}:upload", action=f"upload {path.name}", creates=True, files={"file": (path.name, handle, "application/jsonl")})
        else:
            action = f"ask for an upload URL for {path.name}"
            answer = self._client.json(self._client.call("POST", f"{where}:getUploadEndpoint", action=action, json={"filenameToSize": {path.name: str(size)}}), action)
            url = (answer.get("filenameToSignedUrls") or {}).get(path.name)
            if not isinstance(url, str) or not url:
                raise self._client.not_the_api(action, "no signed URL for the file in the answer")
            with path.open("rb") as handle:
                self._client.call("PUT", "", url=url, action=f"upload {path.name} to its signed URL", creates=True, data=handle, headers={"content-type": "application/octet-stream"})
            self._client.call("POST", f"{where}:validateUpload", action=f"finish the upload of {path.name}", json={})
        if on_progress:
            on_progress(size, size)
        return UploadedFile(f"accounts/{self._account}/datasets/{ds}", size, path.name, "uploaded")

    def _get_dataset(self, ds: str) -> dict[str, Any] | None:
        action = f"read dataset {ds}"
        answer = self._client.call("GET", f"{self._prefix}/datasets/{ds}", action=action, allow=(404,))
        return None if answer.status_code == 404 else self._client.json(answer, action)

    def _dataset(self, body: dict[str, Any] | None, filename: str) -> UploadedFile | None:
        if body is None:
            return None
        if not isinstance(body.get("name"), str):
            raise self._client.not_the_api("read a dataset", "no dataset name in the answer")
        size = re.search(r"\((\d+) bytes\)$", str(body.get("displayName") or ""))
        status = {"READY": "processed", "UPLOADING": "uploading"}.get(str(body.get("state")), "pending")
        return UploadedFile(body["name"], int(size.group(1)) if size else 0, filename, status)

    def find_files(self, filename: str) -> list[UploadedFile]:
        """The dataset an earlier run made for `filename`, if any."""
        found = self._dataset(self._get_dataset(dataset_id(filename)), filename)
        return [found] if found else []

    def wait_file_processed(self, file_id: str) -> UploadedFile:
        """Poll the dataset until READY; a failed status becomes a ProviderError."""
        ds = file_id.rsplit("/", 1)[-1]
        deadline = time.monotonic() + self._options.file_wait_seconds
        while True:
            body = self._get_dataset(ds)
            if body is None:
                raise ProviderError(f"{LABEL} has no dataset {file_id} any more; re-run to upload it again.")
            status = _status(body.get("status"))
            if status.get("code") not in (None, "OK"):
                raise ProviderError(f"{LABEL} rejected dataset {ds}: {status.get('code')}: {status.get('message') or 'no details'}. Fix the file and push again.", code="file_error")
            found = self._dataset(body, str(body.get("displayName") or ds))
            if found is not None and found.status == "processed":
                return found
            if time.monotonic() >= deadline:
                raise ProviderError(f"{LABEL} is still processing dataset {ds} after {self._options.file_wait_seconds:.0f} s; re-run later.")
            time.sleep(self._options.poll_interval)

    def file_content(self, file_id: str) -> bytes:
        raise ProviderError(f"{LABEL} keeps no result files for finetune-action to read ({file_id}).")

    # --- jobs -------------------------------------------------------------------------------

    def _body(self, *, model: str, training_file: str, validation_file: str | None, method: str, hyperparameters: Mapping[str, Any],
              suffix: str | None, integrations: list[dict[str, Any]] | None) -> dict[str, Any]:
        hp = dict(hyperparameters)
        config = {"baseModel": model if "/" in model else f"accounts/fireworks/models/{model}"}
        for ours, theirs in (("n_epochs", "epochs"), ("learning_rate", "learningRate"), ("lora_r", "loraRank"), ("max_context_length", "maxContextLength")):
            if ours in hp:
                config[theirs] = hp[ours]
        body: dict[str, Any] = {"dataset": training_file}
        if suffix:
            body["displayName"] = suffix
        if method == "dpo":
            body["trainingConfig"] = config
            body["lossConfig"] = {"method": "DPO", **({"klBeta": hp["beta"]} if "beta" in hp else {})}
        else:
            body |= config
            if validation_file:
                body["evaluationDataset"] = validation_file
        for integration in integrations or ():
            wandb = integration.get("wandb") or {}
            if self._wandb_key is None:
                raise ProviderError(f"integrations.wandb: {LABEL} logs to Weights & Biases with your W&B key; set WANDB_API_KEY on the step, or remove integrations.wandb.")
            body["wandbConfig"] = {"enabled": True, "apiKey": self._wandb_key, **{k: wandb[k] for k in ("project", "entity") if wandb.get(k)}}
        return body

    def create_job(self, *, model: str, training_file: str, validation_file: str | None, method: str, hyperparameters: Mapping[str, Any],
                   grader: Mapping[str, Any] | None, suffix: str | None, seed: int | None, integrations: list[dict[str, Any]] | None,
                   metadata: Mapping[str, str]) -> Job:
        """Create the job under an id derived from the fingerprint; 409 means it exists: attach, or take the next id after a failed one."""
        collection, id_param = KINDS[method]
        body = self._body(model=model, training_file=training_file, validation_file=validation_file, method=method,
                          hyperparameters=hyperparameters, suffix=suffix, integrations=integrations)
        action = "create the fine-tuning job"
        for job_id in job_ids(metadata.get(METADATA_KEY, "")):
            answer = self._client.call("POST", f"{self._prefix}/{collection}", action=action, creates=True, json=body, params={id_param: job_id}, allow=(409,))
            if answer.status_code != 409:
                return self._client.made(answer, action, self._job)
            existing = self.get_job(f"accounts/{self._account}/{collection}/{job_id}")
            if existing.status not in ("failed", "cancelled"):
                return existing  # made by an earlier attempt whose answer was lost: the same job, not a second one
        raise ProviderError(f"{LABEL} already holds {MAX_RETRY_IDS} jobs for this data and config; change the data or config, or delete old jobs.")

    def get_job(self, job_id: str, timeout: float | None = None) -> Job:
        """The job (by its resource name, accounts/<a>/<collection>/<id>) as it is now; `timeout` as in base.Provider."""
        action = f"read job {job_id}"
        return self._job(self._client.json(self._client.call("GET", f"/v1/{job_id}", action=action, within=timeout), action), action)

    def find_jobs(self, metadata: Mapping[str, str]) -> list[Job]:
        """The jobs under the fingerprint's ids, newest first: read by id, as ids are the only handle Fireworks offers.

        Every id is read: a job deleted (a failed one cleaned up, or `finetune cancel`) leaves a
        gap, and a later retry's job behind it, still running or succeeded, must be found.
        """
        found = []
        for collection, _param in KINDS.values():
            for job_id in job_ids(metadata.get(METADATA_KEY, "")):
                action = f"look for job {job_id}"
                answer = self._client.call("GET", f"{self._prefix}/{collection}/{job_id}", action=action, allow=(404,))
                if answer.status_code != 404:
                    found.append(self._job(self._client.json(answer, action), action))
        return sorted(found, key=lambda j: j.created_at, reverse=True)

    def cancel_job(self, job_id: str) -> Job:
        """Fireworks has no cancel for these jobs: deleting stops the job and removes it."""
        job = self.get_job(job_id)
        self._client.call("DELETE", f"/v1/{job_id}", action=f"cancel (delete) job {job_id}")
        return job._replace(status="cancelled", finished_at=int(time.time()))

    def list_events(self, job_id: str, after: str | None, timeout: float | None = None) -> list[Event]:
        return []  # no events API for these jobs: the wait shows the state as it changes

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        return []

    def _job(self, body: dict[str, Any], action: str) -> Job:
        name = body.get("name")
        if not isinstance(name, str) or name.count("/") != 3:
            raise self._client.not_the_api(action, "no job name (accounts/<a>/<collection>/<id>) in the answer")
        state = str(body.get("state") or "JOB_STATE_UNSPECIFIED")
        status = FINISHED.get(state, state.removeprefix("JOB_STATE_").lower())
        dpo = name.split("/")[2] == KINDS["dpo"][0]
        config = (body.get("trainingConfig") or {}) if dpo else body
        hyperparameters = {ours: config[theirs] for ours, theirs in (("n_epochs", "epochs"), ("learning_rate", "learningRate"), ("lora_r", "loraRank"), ("max_context_length", "maxContextLength")) if config.get(theirs) is not None}
        if dpo and (body.get("lossConfig") or {}).get("klBeta") is not None:
            hyperparameters["beta"] = body["lossConfig"]["klBeta"]
        output = config.get("outputModel") if isinstance(config.get("outputModel"), str) and config["outputModel"] else f"accounts/{self._account}/models/{name.rsplit('/', 1)[-1]}"  # "If not specified, the job ID will be used"
        problem = _status(body.get("status"))
        return Job(
            id=name,
            status=status,
            model=str(config.get("baseModel") or ""),
            fine_tuned_model=output if status == "succeeded" else None,
            trained_tokens=None,
            error=JobError(str(problem.get("code") or "FAILED"), str(problem.get("message") or "Fireworks gave no reason"), None) if status == "failed" else None,
            estimated_finish=None,
            created_at=iso_seconds(body.get("createTime")) or 0,
            finished_at=iso_seconds(body.get("completedTime")),
            result_files=(),
            training_file=str(body.get("dataset") or ""),
            validation_file=body.get("evaluationDataset") or None,
            metadata={},
            hyperparameters=hyperparameters,
            method="dpo" if dpo else "supervised",
        )


def _display(filename: str, size: int) -> str:
    # Datasets carry no byte count; the display name keeps it so a re-run can check an upload is whole.
    return f"{filename} ({size} bytes)"


def _status(value: Any) -> dict[str, Any]:
    """A `status` object ({code, message}); a bare string is its code, anything else nothing."""
    if isinstance(value, dict):
        return value
    return {"code": value} if isinstance(value, str) and value else {}
