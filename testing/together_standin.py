"""A stateful stand-in for Together AI's fine-tuning API on 127.0.0.1, held to Together's
official OpenAPI description (trimmed into tests/fixtures/openapi/together-fine-tuning.yaml).

Jobs follow a script: each GET /fine-tunes/{id} moves one status on (`script_job`); `hold`
keeps a job where it is (Together has no pause) until `release`. Errors come in Together's
ErrorData shape; `fail` and `drop` inject them.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from testing import rest_standin
from testing.openai_standin import FormFile
from testing.openapi import Description
from testing.rest_standin import RestStandIn, route

SPEC_PATH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "openapi" / "together-fine-tuning.yaml"
DEFAULT_API_KEY = "tgp_v1_standinKEY0123456789abcdef"
DEFAULT_STATUSES = ("pending", "queued", "running", "compressing", "uploading", "completed")
TERMINAL = ("completed", "error", "cancelled")
NAMESPACE = "standin-org"


class JobScript(NamedTuple):
    statuses: tuple[str, ...]
    token_count: int
    total_price: int  # nanodollars
    error: str | None  # the message of the job_error event when the job errors


def _iso(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class TogetherStandIn(RestStandIn):
    ROUTES = (
        route("GET", "/v1/files", "files.list", "/files"),
        route("POST", "/v1/files/upload", "files.upload", "/files/upload"),
        route("GET", "/v1/files/{id}", "files.retrieve", "/files/{id}"),
        route("GET", "/v1/files/{id}/content", "files.content", "/files/{id}/content"),
        route("POST", "/v1/fine-tunes", "fine_tunes.create", "/fine-tunes"),
        route("GET", "/v1/fine-tunes", "fine_tunes.list", "/fine-tunes"),
        route("POST", "/v1/fine-tunes/estimate-price", "fine_tunes.estimate_price", "/fine-tunes/estimate-price"),
        route("GET", "/v1/fine-tunes/{id}", "fine_tunes.retrieve", "/fine-tunes/{id}"),
        route("GET", "/v1/fine-tunes/{id}/events", "fine_tunes.events", "/fine-tunes/{id}/events"),
        route("GET", "/v1/fine-tunes/{id}/checkpoints", "fine_tunes.checkpoints", "/fine-tunes/{id}/checkpoints"),
        route("POST", "/v1/fine-tunes/{id}/cancel", "fine_tunes.cancel", "/fine-tunes/{id}/cancel"),
    )
    DESCRIPTION = None  # loaded on first use (class attribute shared by every instance)

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, strict: bool = True, extra_statuses: tuple[str, ...] = ()) -> None:
        if TogetherStandIn.DESCRIPTION is None:
            TogetherStandIn.DESCRIPTION = Description(SPEC_PATH, "urn:together-fine-tuning")
        super().__init__(api_key=api_key, strict=strict, extra_statuses=extra_statuses)
        self.files: dict[str, dict[str, Any]] = {}
        self.file_bytes: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.usd_per_million = 3.0  # what estimate-price charges per billed token
        self.credit_limit = 1000.0  # allowed_to_proceed is false above it
        self._scripts: list[JobScript] = []

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    # --- scripting ------------------------------------------------------------------------

    def script_job(self, statuses: tuple[str, ...] | list[str] = DEFAULT_STATUSES, *, token_count: int = 54_321, total_price: int = 163_000_000, error: str | None = None) -> None:
        """Script the next created job: it starts at statuses[0], each retrieve moves one step on."""
        with self._lock:
            self._scripts.append(JobScript(tuple(statuses), token_count, total_price, error))


    def error_body(self, status: int, message: str, code: str | None) -> Any:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def unauthorized(self) -> tuple[int, Any]:
        return 401, self.error_body(401, "Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.", "invalid_api_key")

    # --- files ----------------------------------------------------------------------------

    def _files_upload(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        upload = body.get("file") if isinstance(body, dict) else None
        if not isinstance(upload, FormFile):
            return 400, self.error_body(400, "No file was uploaded.", "invalid_request")
        file_id = f"file-{hashlib.sha256(upload.content + str(self.serial()).encode()).hexdigest()[:8]}-standin"
        self.files[file_id] = {
            "id": file_id, "object": "file", "created_at": self.tick(), "filename": body.get("file_name", upload.filename),
            "bytes": len(upload.content), "purpose": body.get("purpose", "fine-tune"), "FileType": body.get("file_type", "jsonl"), "Processed": False,
        }
        self.file_bytes[file_id] = upload.content
        return 200, self.files[file_id]

    def _files_list(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, {"data": list(self.files.values())}

    def _files_retrieve(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        file = self.files.get(params["id"])
        if file is None:
            return 404, self.error_body(404, f"File {params['id']} not found", "not_found")
        file["Processed"] = True  # Together checks a file soon after it arrives
        return 200, file

    def _files_content(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if params["id"] not in self.file_bytes:
            return 404, self.error_body(404, f"File {params['id']} not found", "not_found")
        return 200, self.file_bytes[params["id"]]

    # --- jobs -----------------------------------------------------------------------------

    def _check_files(self, body: dict[str, Any]) -> tuple[int, Any] | None:
        for field in ("training_file", "validation_file"):
            if field in body and body[field] not in self.files:
                return 400, self.error_body(400, f"{field} {body[field]} does not exist", "invalid_file")
        return None

    def _fine_tunes_estimate_price(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if (refused := self._check_files(body)) is not None:
            return refused
        epochs = body.get("n_epochs", 1)
        train = len(self.file_bytes[body["training_file"]]) // 4 * epochs
        evals = len(self.file_bytes[body["validation_file"]]) // 4 * body.get("n_evals", 0) if "validation_file" in body else 0
        price = round((train + evals) * self.usd_per_million / 1e6, 6)
        return 200, {
            "estimated_total_price": price, "allowed_to_proceed": price <= self.credit_limit, "user_limit": self.credit_limit,
            "estimated_train_token_count": train, "estimated_eval_token_count": evals,
        }

    def _fine_tunes_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if (refused := self._check_files(body)) is not None:
            return refused
        script = self._scripts.pop(0) if self._scripts else JobScript(DEFAULT_STATUSES, 54_321, 163_000_000, None)
        job_id = f"ft-{hashlib.sha256(str(self.serial()).encode()).hexdigest()[:8]}-standin"
        now = self.tick()
        suffix = body.get("suffix")
        job = {
            "id": job_id, "status": script.statuses[0], "created_at": _iso(now), "updated_at": _iso(now),
            "model": body["model"], "model_output_name": f"{NAMESPACE}/{body['model'].split('/')[-1]}-{suffix or 'ft'}-{job_id[3:11]}",
            "training_file": body["training_file"], "n_epochs": body.get("n_epochs", 1), "batch_size": body.get("batch_size", 16),
            "learning_rate": body.get("learning_rate", 0.00001), "training_method": body.get("training_method", {"method": "sft", "train_on_inputs": False}),
            "training_type": body.get("training_type", {"type": "Lora", "lora_r": 8, "lora_alpha": 16}), "events": [],
        }
        for key in ("validation_file", "suffix", "random_seed", "n_evals", "n_checkpoints", "wandb_project_name", "wandb_name"):
            if key in body:
                job[key] = body[key]
        self.jobs[job_id] = job
        self._progress[job_id] = {"script": script, "index": 0, "held": False, "events": [], "checkpoints": []}
        self._event(job, "job_pending", "Fine tune request created")
        return 200, self._truncated(job)

    def _truncated(self, job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if k not in ("events",)}

    def _event(self, job: dict[str, Any], kind: str, message: str, *, level: str = "info", step: int = 0, total: int = 0) -> None:
        self._progress[job["id"]]["events"].append({
            "object": "fine-tune-event", "created_at": _iso(self.tick()), "level": level, "message": message, "type": kind,
            "param_count": 0, "token_count": 0, "total_steps": total, "wandb_url": "", "step": step, "checkpoint_path": "",
            "model_path": "", "training_offset": 0, "hash": "",
        })

    def _advance(self, job: dict[str, Any]) -> None:
        progress = self._progress[job["id"]]
        script: JobScript = progress["script"]
        if progress["held"] or job["status"] in TERMINAL or progress["index"] >= len(script.statuses) - 1:
            return
        progress["index"] += 1
        status = script.statuses[progress["index"]]
        job["status"] = status
        job["updated_at"] = _iso(self.tick())
        if status == "running":
            total = 4
            step = min(progress["index"], total)
            self._event(job, "training_start" if step == 1 else "epoch_complete", f"Training step {step}/{total}: loss {2.0 / step:.3f}", step=step, total=total)
        elif status == "error":
            self._event(job, "job_error", script.error or "Fine-tuning failed: the training file has no assistant messages.", level="error")
        elif status == "completed":
            job["token_count"] = script.token_count
            job["total_price"] = script.total_price
            self._event(job, "checkpoint_save", "Checkpoint saved at step 4", step=4, total=4)
            progress["checkpoints"].append({"step": 4, "path": f"s3://standin/{job['id']}/checkpoint-4", "created_at": _iso(self.tick()), "checkpoint_type": "Intermediate"})
            self._event(job, "job_complete", f"Fine-tuning completed: {job['model_output_name']}")
        else:
            self._event(job, "job_start" if status == "queued" else "model_uploading", f"Job is {status}")

    def _missing(self, job_id: str) -> tuple[int, Any]:
        return 404, self.error_body(404, f"Fine-tune job {job_id} not found", "not_found")

    def _fine_tunes_retrieve(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        job = self.jobs.get(params["id"])
        if job is None:
            return self._missing(params["id"])
        self._advance(job)
        return 200, {k: v for k, v in job.items() if k not in ("suffix", "random_seed", "wandb_name")}

    def _fine_tunes_list(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, {"data": [self._truncated(j) for j in reversed(self.jobs.values())]}

    def _fine_tunes_events(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if params["id"] not in self.jobs:
            return self._missing(params["id"])
        return 200, {"data": self._progress[params["id"]]["events"]}

    def _fine_tunes_checkpoints(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if params["id"] not in self.jobs:
            return self._missing(params["id"])
        return 200, {"data": self._progress[params["id"]]["checkpoints"]}

    def _fine_tunes_cancel(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        job = self.jobs.get(params["id"])
        if job is None:
            return self._missing(params["id"])
        if job["status"] in TERMINAL:
            return 400, self.error_body(400, f"Job {job['id']} is already {job['status']}", "invalid_state")
        job["status"] = "cancelled"
        job["updated_at"] = _iso(self.tick())
        self._progress[job["id"]]["held"] = True
        self._event(job, "cancel_requested", "Cancel requested by user")
        return 200, self._truncated(job)


@contextlib.contextmanager
def serve(**options: Any) -> Iterator[TogetherStandIn]:
    """Run a TogetherStandIn on 127.0.0.1; on exit, fail if it ever broke the description."""
    with rest_standin.serve(TogetherStandIn(**options)) as standin:
        yield standin  # type: ignore[misc]
