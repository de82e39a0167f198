"""A stateful stand-in for Fireworks AI's datasets and fine-tuning jobs on 127.0.0.1, held to the
description written down from Fireworks' API reference (tests/fixtures/fireworks/).

Job ids are the caller's (`?supervisedFineTuningJobId=`): a second create with a taken id is a
409 ALREADY_EXISTS. Jobs follow a script (`script_job`), one state per GET; `hold` keeps one
where it is. Large uploads go to a signed URL this server also serves (PUT /signed/...).
"""
from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from testing import rest_standin
from testing.openai_standin import FormFile
from testing.openapi import Description
from testing.rest_standin import RestStandIn, route

SPEC_PATH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "fireworks" / "fireworks-fine-tuning.yaml"
DEFAULT_API_KEY = "fw_standinKEY0123456789abcdef"
DEFAULT_STATES = ("JOB_STATE_CREATING", "JOB_STATE_VALIDATING", "JOB_STATE_RUNNING", "JOB_STATE_RUNNING", "JOB_STATE_WRITING_RESULTS", "JOB_STATE_COMPLETED")
TERMINAL = ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_EARLY_STOPPED")
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 503: 14}
A = "/v1/accounts/{account_id}"


class JobScript(NamedTuple):
    states: tuple[str, ...]
    error: str | None


def _iso(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FireworksStandIn(RestStandIn):
    ROUTES = (
        route("POST", f"{A}/datasets", "datasets.create"),
        route("GET", f"{A}/datasets/{{dataset_id}}", "datasets.get"),
        route("POST", f"{A}/datasets/{{dataset_id}}:upload", "datasets.upload"),
        route("POST", f"{A}/datasets/{{dataset_id}}:getUploadEndpoint", "datasets.get_upload_endpoint"),
        route("POST", f"{A}/datasets/{{dataset_id}}:validateUpload", "datasets.validate_upload"),
        route("PUT", "/signed/{dataset_id}/{filename}", "signed.put", None),
        route("POST", f"{A}/supervisedFineTuningJobs", "sft.create"),
        route("GET", f"{A}/supervisedFineTuningJobs/{{job_id}}", "sft.get"),
        route("DELETE", f"{A}/supervisedFineTuningJobs/{{job_id}}", "sft.delete"),
        route("POST", f"{A}/dpoJobs", "dpo.create"),
        route("GET", f"{A}/dpoJobs/{{job_id}}", "dpo.get"),
        route("DELETE", f"{A}/dpoJobs/{{job_id}}", "dpo.delete"),
    )
    DESCRIPTION = None

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, account: str = "acme", strict: bool = True, extra_statuses: tuple[str, ...] = ()) -> None:
        if FireworksStandIn.DESCRIPTION is None:
            FireworksStandIn.DESCRIPTION = Description(SPEC_PATH, "urn:fireworks-fine-tuning")
        super().__init__(api_key=api_key, strict=strict, extra_statuses=extra_statuses)
        self.account = account
        self.datasets: dict[str, dict[str, Any]] = {}
        self.dataset_bytes: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}  # by resource name
        self._scripts: list[JobScript] = []

    # --- scripting ------------------------------------------------------------------------

    def script_job(self, states: tuple[str, ...] | list[str] = DEFAULT_STATES, *, error: str | None = None) -> None:
        with self._lock:
            self._scripts.append(JobScript(tuple(states), error))


    def error_body(self, status: int, message: str, code: str | None) -> Any:
        return {"code": GRPC_CODES.get(status, 2), "message": message, "details": []}

    def unauthorized(self) -> tuple[int, Any]:
        return 401, self.error_body(401, "unauthenticated: invalid API key", None)

    def _account_ok(self, params: dict[str, str]) -> tuple[int, Any] | None:
        if params["account_id"] != self.account:
            return 403, self.error_body(403, f"permission denied: the key may not use account {params['account_id']}", None)
        return None

    # --- datasets -------------------------------------------------------------------------

    def _datasets_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if (denied := self._account_ok(params)) is not None:
            return denied
        ds = body["datasetId"]
        name = f"accounts/{self.account}/datasets/{ds}"
        if ds in self.datasets:
            return 409, self.error_body(409, f"dataset \"{name}\" already exists", None)
        self.datasets[ds] = {**body["dataset"], "name": name, "createTime": _iso(self.tick()), "state": "UPLOADING", "status": {"code": "OK", "message": ""}}
        return 200, self.datasets[ds]

    def _dataset(self, params: dict[str, str]) -> dict[str, Any] | tuple[int, Any]:
        if (denied := self._account_ok(params)) is not None:
            return denied
        if params["dataset_id"] not in self.datasets:
            return 404, self.error_body(404, f"dataset \"accounts/{self.account}/datasets/{params['dataset_id']}\" not found", None)
        return self.datasets[params["dataset_id"]]

    def _datasets_get(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        found = self._dataset(params)
        return found if isinstance(found, tuple) else (200, found)

    def _store(self, ds: str, content: bytes) -> None:
        self.dataset_bytes[ds] = content
        dataset = self.datasets[ds]
        dataset["state"] = "READY"
        dataset["exampleCount"] = str(sum(1 for line in content.splitlines() if line.strip()))
        dataset["estimatedTokenCount"] = str(len(content) // 4)

    def _datasets_upload(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        found = self._dataset(params)
        if isinstance(found, tuple):
            return found
        upload = body.get("file") if isinstance(body, dict) else None
        if not isinstance(upload, FormFile):
            return 400, self.error_body(400, "no file in the form", None)
        self._store(params["dataset_id"], upload.content)
        return 200, {"id": params["dataset_id"], "object": "file", "bytes": len(upload.content), "created_at": self.tick(), "filename": upload.filename, "purpose": "fine-tune"}

    def _datasets_get_upload_endpoint(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        found = self._dataset(params)
        if isinstance(found, tuple):
            return found
        urls = {name: f"{self.origin}/signed/{params['dataset_id']}/{name}?X-Goog-Signature=standin" for name in body["filenameToSize"]}
        return 200, {"filenameToSignedUrls": urls}

    def _signed_put(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if params["dataset_id"] not in self.datasets or query.get("X-Goog-Signature") != "standin":
            return 403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>"
        self.dataset_bytes[params["dataset_id"]] = body or b""
        return 200, b""

    def _datasets_validate_upload(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        found = self._dataset(params)
        if isinstance(found, tuple):
            return found
        if params["dataset_id"] not in self.dataset_bytes:
            return 400, self.error_body(400, "no file was uploaded to the signed URL", None)
        self._store(params["dataset_id"], self.dataset_bytes[params["dataset_id"]])
        return 200, {}

    # --- jobs -----------------------------------------------------------------------------

    def _create(self, collection: str, id_param: str, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if (denied := self._account_ok(params)) is not None:
            return denied
        job_id = query.get(id_param) or f"standin{self.serial():06d}"
        name = f"accounts/{self.account}/{collection}/{job_id}"
        if name in self.jobs:
            return 409, self.error_body(409, f"job \"{name}\" already exists", None)
        for field in ("dataset", "evaluationDataset"):
            if field in body and body[field].rsplit("/", 1)[-1] not in self.datasets:
                return 400, self.error_body(400, f"{field} {body[field]} not found", None)
        script = self._scripts.pop(0) if self._scripts else JobScript(DEFAULT_STATES, None)
        job = {**body, "name": name, "createTime": _iso(self.tick()), "state": script.states[0], "status": {"code": "OK", "message": ""}}
        self.jobs[name] = job
        self._progress[name] = {"script": script, "index": 0, "held": False}
        return 200, job

    def _get(self, collection: str, params: dict[str, str]) -> tuple[int, Any]:
        name = f"accounts/{params['account_id']}/{collection}/{params['job_id']}"
        job = self.jobs.get(name)
        if job is None:
            return 404, self.error_body(404, f"job \"{name}\" not found", None)
        progress = self._progress[name]
        script: JobScript = progress["script"]
        if not progress["held"] and job["state"] not in TERMINAL and progress["index"] < len(script.states) - 1:
            progress["index"] += 1
            job["state"] = script.states[progress["index"]]
            job["updateTime"] = _iso(self.tick())
            if job["state"] in TERMINAL:
                job["completedTime"] = job["updateTime"]
            if job["state"] == "JOB_STATE_FAILED":
                job["status"] = {"code": "INVALID_ARGUMENT", "message": script.error or "dataset line 3: messages must end with an assistant message"}
        return 200, job

    def _delete(self, collection: str, params: dict[str, str]) -> tuple[int, Any]:
        name = f"accounts/{params['account_id']}/{collection}/{params['job_id']}"
        if self.jobs.pop(name, None) is None:
            return 404, self.error_body(404, f"job \"{name}\" not found", None)
        return 200, {}

    def _sft_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return self._create("supervisedFineTuningJobs", "supervisedFineTuningJobId", params, query, body)

    def _sft_get(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return self._get("supervisedFineTuningJobs", params)

    def _sft_delete(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return self._delete("supervisedFineTuningJobs", params)

    def _dpo_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return self._create("dpoJobs", "dpoJobId", params, query, body)

    def _dpo_get(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return self._get("dpoJobs", params)

    def _dpo_delete(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return self._delete("dpoJobs", params)


@contextlib.contextmanager
def serve(**options: Any) -> Iterator[FireworksStandIn]:
    """Run a FireworksStandIn on 127.0.0.1; on exit, fail if it ever broke the description."""
    with rest_standin.serve(FireworksStandIn(**options)) as standin:
        yield standin  # type: ignore[misc]
