"""A stateful stand-in for the OpenAI (and Azure OpenAI) fine-tuning API on 127.0.0.1.

It speaks the files, uploads and fine_tuning.jobs routes the real `openai` SDK calls, in both
URL shapes: `/v1/...` with a bearer key, and Azure's `/openai/...?api-version=` with `api-key`.
Tests script jobs (`script_job`), inject failures (`fail`, `drop`) and read `requests`.
In strict mode every JSON response (and JSON request) is checked against the trimmed OpenAPI
spec in tests/fixtures/openapi; a response that breaks the spec is answered with a 500 and kept
in `violations`, which `serve()` turns into a test failure.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, urlsplit

import jsonschema
import referencing
import referencing.jsonschema
import yaml

from testing.http import running
from testing.openapi import as_json_schema

SPEC_PATH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "openapi" / "openai-fine-tuning.yaml"
SPEC_URI = "urn:openai-fine-tuning"

DEFAULT_API_KEY = "sk-standin-0123456789abcdef"
DEFAULT_STATUSES = ("validating_files", "queued", "running", "succeeded")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
#: Statuses the real API serves beyond the spec's enum (`paused` comes with pause/resume).
OBSERVED_STATUSES = ("paused",)
RESULT_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")
DEFAULT_JOB_ERROR = {"code": "invalid_training_file", "message": "The job failed due to an invalid training file.", "param": "training_file"}
MAX_PART_BYTES = 64 * 1024 * 1024
START_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z: a fixed clock keeps orders and ids stable


class Request(NamedTuple):
    api: str  # "openai" | "azure" (dated, ?api-version=) | "azure-v1" (GA, /openai/v1/)
    route: str  # e.g. "fine_tuning.jobs.create"; "" when no route matched
    method: str
    path: str  # as sent, without the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names; authorization and api-key removed
    body: Any  # parsed JSON, a multipart form {name: str | FormFile}, or raw bytes


class FormFile(NamedTuple):
    filename: str
    content: bytes


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    name: str
    spec_path: str


#: How an answer can fail to arrive: an HTTP error status, the connection closed without an
#: answer, reset half-way through the answer, or never answered (held until the server stops).
BREAKS = ("status", "close", "reset", "hang")


class Failure(NamedTuple):
    status: int  # for `how == "status"`
    body: dict[str, Any] | None
    headers: dict[str, str]
    how: str = "status"  # one of BREAKS
    after: bool = False  # serve the request first (the provider acts), then lose the answer


class JobScript(NamedTuple):
    statuses: tuple[str, ...]
    events: tuple[tuple[Any, ...], ...] | None  # per step: messages (str) or event fields (dict)
    trained_tokens: int
    fine_tuned_model: str | None
    error: dict[str, Any] | None
    estimated_finish: int | None
    metric_rows: tuple[dict[str, float], ...] | None
    empty_error: bool  # healthy jobs served with `error: {}`, as the real API sometimes does


def _route(method: str, path: str, name: str) -> Route:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(f"^{pattern}$"), name, path)


ROUTES = (
    _route("GET", "/files", "files.list"),
    _route("POST", "/files", "files.create"),
    _route("GET", "/files/{file_id}", "files.retrieve"),
    _route("DELETE", "/files/{file_id}", "files.delete"),
    _route("GET", "/files/{file_id}/content", "files.content"),
    _route("POST", "/uploads", "uploads.create"),
    _route("POST", "/uploads/{upload_id}/parts", "uploads.parts.create"),
    _route("POST", "/uploads/{upload_id}/complete", "uploads.complete"),
    _route("POST", "/uploads/{upload_id}/cancel", "uploads.cancel"),
    _route("POST", "/fine_tuning/jobs", "fine_tuning.jobs.create"),
    _route("GET", "/fine_tuning/jobs", "fine_tuning.jobs.list"),
    _route("GET", "/fine_tuning/jobs/{fine_tuning_job_id}", "fine_tuning.jobs.retrieve"),
    _route("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/cancel", "fine_tuning.jobs.cancel"),
    _route("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/pause", "fine_tuning.jobs.pause"),
    _route("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/resume", "fine_tuning.jobs.resume"),
    _route("GET", "/fine_tuning/jobs/{fine_tuning_job_id}/events", "fine_tuning.jobs.list_events"),
    _route("GET", "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints", "fine_tuning.jobs.checkpoints.list"),
)


def _known_route(name: str) -> None:
    if name != "*" and name not in {r.name for r in ROUTES}:
        raise ValueError(f"no route {name!r}; routes: {', '.join(r.name for r in ROUTES)}")


# --- the spec -----------------------------------------------------------------------------


@functools.cache
def spec() -> dict[str, Any]:
    """The trimmed OpenAPI document, loaded once per session."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SPEC_PATH.read_text(encoding="utf-8"), Loader=loader)


@functools.cache
def _registry() -> referencing.Registry:
    resource = referencing.Resource.from_contents(as_json_schema(spec()), default_specification=referencing.jsonschema.DRAFT202012)
    return referencing.Registry().with_resource(SPEC_URI, resource)


def _pointer(*parts: str) -> str:
    return "".join("/" + quote(p.replace("~", "~0").replace("/", "~1"), safe="") for p in parts)


@functools.cache
def _validator(*parts: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"{SPEC_URI}#{_pointer(*parts)}"}
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def spec_errors(route: Route, body: Any, *, request: bool, extra_statuses: frozenset[str] = frozenset()) -> list[str]:
    """Where `body` breaks the spec's JSON request or 200-response schema for `route`."""
    operation = spec()["paths"][route.spec_path][route.method.lower()]
    if request:
        content = operation.get("requestBody", {}).get("content", {})
        where = ("paths", route.spec_path, route.method.lower(), "requestBody", "content")
    else:
        content = operation["responses"]["200"].get("content", {})
        where = ("paths", route.spec_path, route.method.lower(), "responses", "200", "content")
    media = "application/json" if "application/json" in content else "multipart/form-data"
    if media not in content:
        return []
    errors = []
    for error in _validator(*where, media, "schema").iter_errors(body):
        last = error.absolute_path[-1] if error.absolute_path else None
        if last == "status" and error.instance in {*OBSERVED_STATUSES, *extra_statuses}:
            continue
        if last == "error" and error.instance == {}:
            continue
        errors.append(f"{'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}")
    return errors


# --- HTTP plumbing ------------------------------------------------------------------------


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("content-length") or 0))


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """Form fields as str, file fields as FormFile."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError("multipart body without a boundary")
    form: dict[str, Any] = {}
    for chunk in body.split(b"--" + match.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'[; ]name="([^"]*)"', head)
        if not name:
            raise ValueError("multipart part without a name")
        content = content.removesuffix(b"\r\n")
        filename = re.search(rb'filename="([^"]*)"', head)
        form[name.group(1).decode()] = FormFile(filename.group(1).decode(), content) if filename else content.decode()
    return form


def _api_error(message: str, *, type: str = "invalid_request_error", param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _page(items: list[dict[str, Any]], query: dict[str, str], default_limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Items after the `after` cursor, at most `limit` of them, and whether more remain."""
    if "after" in query:
        ids = [item["id"] for item in items]
        items = items[ids.index(query["after"]) + 1 :] if query["after"] in ids else []
    limit = int(query.get("limit") or default_limit)
    return items[:limit], len(items) > limit


# --- the stand-in -------------------------------------------------------------------------


class StandIn:
    """Server state and scripting; start it with `serve()`."""

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, strict: bool = True, extra_statuses: tuple[str, ...] = ()) -> None:
        self.api_key = api_key
        self.strict = strict
        self.extra_statuses = frozenset(extra_statuses)  # scripted statuses unknown to spec and API
        self.metadata_filter = "honour"  # "honour" | "ignore" | "reject": how jobs.list treats metadata[k]=v
        self.requests: list[Request] = []
        self.violations: list[str] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.file_bytes: dict[str, bytes] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.base_url = ""  # http://127.0.0.1:PORT/v1, set by serve()
        self.azure_endpoint = ""  # http://127.0.0.1:PORT, set by serve()
        self._lock = threading.RLock()
        self._clock = START_TIME
        self._serial = 0
        self._failures: dict[str, list[Failure]] = {}
        self._mangles: dict[str, Callable[[Any], Any]] = {}
        self.released = threading.Event()  # ends every held ("hang") request
        self._job_scripts: list[JobScript] = []
        self._file_scripts: list[tuple[tuple[str, ...], str | None]] = []
        self._parts: dict[str, tuple[str, bytes]] = {}  # part id -> (upload id, data)
        self._progress: dict[str, dict[str, Any]] = {}  # job id -> script position and emitted events

    # --- scripting ------------------------------------------------------------------------

    def script_job(
        self,
        statuses: tuple[str, ...] | list[str] = DEFAULT_STATUSES,
        *,
        events: list[list[Any]] | None = None,
        trained_tokens: int = 12_345,
        fine_tuned_model: str | None = None,
        error: dict[str, Any] | None = None,
        estimated_finish: int | None = None,
        metric_rows: list[dict[str, float]] | None = None,
        empty_error: bool = False,
    ) -> None:
        """Script the next created job: it starts at statuses[0] and each retrieve moves one step on."""
        if events is not None and len(events) != len(statuses):
            raise ValueError("events needs one list per status")
        with self._lock:
            self._job_scripts.append(
                JobScript(
                    tuple(statuses),
                    tuple(tuple(step) for step in events) if events is not None else None,
                    trained_tokens,
                    fine_tuned_model,
                    error,
                    estimated_finish,
                    tuple(metric_rows) if metric_rows is not None else None,
                    empty_error,
                )
            )

    def add_job(self, *, model: str = "gpt-4o-mini-2024-07-18", training_file: str | None = None, metadata: dict[str, str] | None = None, validation_file: str | None = None) -> dict[str, Any]:
        """Put a job in place as if created earlier (uses the next script, as create does)."""
        with self._lock:
            if training_file is None:
                training_file = self.add_file(b'{"messages": []}\n', "train.jsonl")["id"]
            body: dict[str, Any] = {"model": model, "training_file": training_file}
            if metadata is not None:
                body["metadata"] = metadata
            if validation_file is not None:
                body["validation_file"] = validation_file
            return copy.deepcopy(self._create_job(body))

    def add_file(self, content: bytes, filename: str, purpose: str = "fine-tune") -> dict[str, Any]:
        """Store a file as if uploaded earlier."""
        with self._lock:
            return copy.deepcopy(self._new_file(content, filename, purpose, ("processed",), None))

    def script_file(self, statuses: tuple[str, ...] = ("uploaded", "processed"), status_details: str | None = None) -> None:
        """Script the next created file: each retrieve moves one status on (e.g. to "error")."""
        with self._lock:
            self._file_scripts.append((tuple(statuses), status_details))

    def fail(self, route: str, status: int, *, code: str | None = None, message: str | None = None, type: str | None = None, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` requests to `route` ("*" for any) with an API error."""
        _known_route(route)
        if headers is None:
            # A millisecond hint keeps the SDK's own retries fast in tests.
            headers = {"retry-after-ms": "1"} if status == 429 or status >= 500 else {}
        body = _api_error(message or f"Stand-in failure {status}.", type=type or ("server_error" if status >= 500 else "invalid_request_error"), code=code)
        with self._lock:
            self._failures.setdefault(route, []).extend([Failure(status, body, headers)] * times)

    def drop(self, route: str, *, times: int = 1) -> None:
        """Close the connection without an answer for the next `times` requests to `route`."""
        _known_route(route)
        with self._lock:
            self._failures.setdefault(route, []).extend([Failure(0, None, {}, "close")] * times)

    def hang(self, route: str, *, times: int = 1) -> None:
        """Never answer the next `times` requests to `route` (the client has to time out)."""
        _known_route(route)
        with self._lock:
            self._failures.setdefault(route, []).extend([Failure(0, None, {}, "hang")] * times)

    def lose_answer(self, route: str, how: str, *, times: int = 1) -> None:
        """Carry out the next `times` requests to `route` (a job or file is created), then lose the
        answer `how`: "status" (HTTP 500), "close", "reset" or "hang" (see BREAKS)."""
        _known_route(route)
        if how not in BREAKS:
            raise ValueError(f"how must be one of {BREAKS}")
        body = _api_error("The server had an error while processing your request.", type="server_error")
        with self._lock:
            self._failures.setdefault(route, []).extend([Failure(500, body, {"retry-after-ms": "1"}, how, after=True)] * times)

    def mangle(self, route: str, change: Callable[[Any], Any]) -> None:
        """Pass every answer to `route` through `change` before it is sent, after the spec check:
        a server answering in shapes the spec does not allow."""
        _known_route(route)
        with self._lock:
            self._mangles[route] = change

    def calls(self, route: str) -> list[Request]:
        """The recorded requests to `route`."""
        _known_route(route)
        with self._lock:
            return [r for r in self.requests if r.route == route]

    # --- request handling -----------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Serve one HTTP request."""
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = _read_body(handler)
        headers = {k.lower(): v for k, v in handler.headers.items() if k.lower() not in ("authorization", "api-key")}
        if url.path.startswith("/v1/"):
            api, path = "openai", url.path[len("/v1") :]
        elif url.path.startswith("/openai/v1/"):
            api, path = "azure-v1", url.path[len("/openai/v1") :]  # Azure's GA surface: no api-version
        elif url.path.startswith("/openai/"):
            api, path = "azure", url.path[len("/openai") :]
        else:
            api, path = "", url.path
        route, params = next(((r, m.groupdict()) for r in ROUTES if r.method == handler.command and (m := r.pattern.match(path))), (None, {}))
        try:
            body = self._decode(raw, handler.headers.get("content-type", ""))
        except ValueError as exc:
            body = raw
            problem: tuple[int, dict[str, Any]] | None = (400, _api_error(f"Could not parse the request body: {exc}"))
        else:
            problem = None
        with self._lock:
            self.requests.append(Request(api, route.name if route else "", handler.command, url.path, query, headers, body))
            failure = None
            if not api or route is None:
                problem = (404, _api_error(f"Invalid URL ({handler.command} {url.path})"))
            elif (denied := self._authenticate(api, handler)) is not None:
                problem = denied
            elif api == "azure" and not query.get("api-version"):
                problem = (404, {"error": {"code": "404", "message": "Resource not found"}})
            elif problem is None:
                failure = self._next_failure(route.name)
            if problem is not None:
                status, answer, extra = *problem, {}
            elif failure is not None and not failure.after:
                status, answer, extra = failure.status, failure.body, failure.headers
            else:
                status, answer, extra = self._serve(route, params, query, body)
                if route.name in self._mangles and status == 200:
                    answer = self._mangles[route.name](copy.deepcopy(answer))
                if failure is not None:
                    status, answer, extra = failure.status, failure.body, failure.headers
            answer = copy.deepcopy(answer)  # other threads may change the state while it is written
        if failure is not None and failure.how != "status":
            self._break(handler, failure.how)
            return
        self._respond(handler, status, answer, extra)

    def _break(self, handler: BaseHTTPRequestHandler, how: str) -> None:
        """Lose the answer: close, reset half-way through the answer, or hold until released."""
        handler.close_connection = True
        if how == "hang":
            self.released.wait(120)
        elif how == "reset":
            payload = json.dumps({"object": "fine_tuning.job", "id": "ftjob-"}).encode()
            with contextlib.suppress(OSError):
                handler.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n" + payload)
                handler.wfile.flush()
                # SO_LINGER 0: close sends a TCP reset instead of an orderly end.
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                handler.connection.close()
            return
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    def _decode(self, raw: bytes, content_type: str) -> Any:
        if not raw:
            return None
        if content_type.startswith("application/json"):
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(str(exc)) from exc
        if content_type.startswith("multipart/form-data"):
            return _parse_multipart(raw, content_type)
        return raw

    def _authenticate(self, api: str, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]] | None:
        if api == "azure-v1" and handler.headers.get("api-key") == self.api_key:
            return None
        if api.startswith("azure"):
            sent = handler.headers.get("api-key")
            if sent == self.api_key:
                return None
            message = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."
            return 401, {"error": {"code": "401", "message": message}}
        authorization = handler.headers.get("authorization", "")
        sent = authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else None
        if sent == self.api_key:
            return None
        if not sent:
            return 401, _api_error("You didn't provide an API key.", code=None)
        # The real API echoes a masked key; the product must never repeat even that.
        masked = f"{sent[:3]}{'*' * max(len(sent) - 7, 0)}{sent[-4:]}"
        return 401, _api_error(f"Incorrect API key provided: {masked}.", code="invalid_api_key")

    def _next_failure(self, route: str) -> Failure | None:
        for key in (route, "*"):
            if self._failures.get(key):
                return self._failures[key].pop(0)
        return None

    def _serve(self, route: Route, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if self.strict and route.method == "POST" and isinstance(body, dict):
            fields = {k: "<binary>" if isinstance(v, FormFile) else v for k, v in body.items()}
            problems = spec_errors(route, fields, request=True)
            if problems:
                return 400, _api_error(f"Invalid request body for {route.name}: {'; '.join(problems)}"), {}
        operation: Callable[..., tuple[int, Any]] = getattr(self, "_" + route.name.replace(".", "_"))
        status, answer = operation(params=params, query=query, body=body)
        if status == 200 and self.strict and isinstance(answer, dict):
            problems = spec_errors(route, answer, request=False, extra_statuses=self.extra_statuses)
            if problems:
                self.violations.append(f"{route.name}: {'; '.join(problems)}")
                return 500, _api_error(f"stand-in answer breaks the spec for {route.name}: {'; '.join(problems)}", type="server_error"), {"x-should-retry": "false"}
        return status, answer, {}

    def _respond(self, handler: BaseHTTPRequestHandler, status: int, answer: Any, headers: dict[str, str]) -> None:
        if isinstance(answer, bytes):
            payload, content_type = answer, "application/octet-stream"
        else:
            payload, content_type = json.dumps(answer).encode(), "application/json"
        handler.send_response(status)
        handler.send_header("content-type", content_type)
        handler.send_header("content-length", str(len(payload)))
        handler.send_header("x-request-id", f"req_{self._next_serial():06d}")
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    # --- state helpers --------------------------------------------------------------------

    def _next_serial(self) -> int:
        with self._lock:
            self._serial += 1
            return self._serial

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _new_file(self, content: bytes, filename: str, purpose: str, statuses: tuple[str, ...], status_details: str | None) -> dict[str, Any]:
        file_id = f"file-standin{self._next_serial():06d}"
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": self._tick(),
            "filename": filename,
            "purpose": purpose,
            "status": statuses[0],
        }
        self.file_bytes[file_id] = content
        self._progress[file_id] = {"statuses": statuses, "index": 0, "status_details": status_details}
        return self.files[file_id]

    # --- files ----------------------------------------------------------------------------

    def _files_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("file"), FormFile):
            return 400, _api_error("'file' is a required multipart field.", param="file")
        statuses, details = self._file_scripts.pop(0) if self._file_scripts else (("processed",), None)
        return 200, self._new_file(body["file"].content, body["file"].filename, body["purpose"], statuses, details)

    def _files_retrieve(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        file = self.files.get(params["file_id"])
        if file is None:
            return 404, _api_error(f"No such File object: {params['file_id']}", param="id")
        progress = self._progress[file["id"]]
        if progress["index"] < len(progress["statuses"]) - 1:
            progress["index"] += 1
            file["status"] = progress["statuses"][progress["index"]]
            if file["status"] == "error" and progress["status_details"]:
                file["status_details"] = progress["status_details"]
        return 200, file

    def _files_list(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        files = [f for f in self.files.values() if query.get("purpose") in (None, f["purpose"])]
        if query.get("order", "desc") == "desc":
            files.reverse()
        data, has_more = _page(files, query, 10_000)
        # The spec makes first_id and last_id required strings, even for an empty list.
        return 200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else "", "last_id": data[-1]["id"] if data else "", "has_more": has_more}

    def _files_delete(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if self.files.pop(params["file_id"], None) is None:
            return 404, _api_error(f"No such File object: {params['file_id']}", param="id")
        del self.file_bytes[params["file_id"]]
        return 200, {"id": params["file_id"], "object": "file", "deleted": True}

    def _files_content(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if params["file_id"] not in self.files:
            return 404, _api_error(f"No such File object: {params['file_id']}", param="id")
        return 200, self.file_bytes[params["file_id"]]

    # --- uploads --------------------------------------------------------------------------

    def _uploads_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        upload_id = f"upload_standin{self._next_serial():06d}"
        created = self._tick()
        self.uploads[upload_id] = {
            "id": upload_id,
            "object": "upload",
            "bytes": body["bytes"],
            "created_at": created,
            "filename": body["filename"],
            "purpose": body["purpose"],
            "status": "pending",
            "expires_at": created + 3600,
            "file": None,
        }
        return 200, self.uploads[upload_id]

    def _pending_upload(self, upload_id: str) -> tuple[int, Any] | None:
        upload = self.uploads.get(upload_id)
        if upload is None:
            return 404, _api_error(f"No such Upload object: {upload_id}", param="upload_id")
        if upload["status"] != "pending":
            return 400, _api_error(f"Upload {upload_id} is {upload['status']}, not pending.", param="upload_id")
        return None

    def _uploads_parts_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        refused = self._pending_upload(params["upload_id"])
        if refused:
            return refused
        if not isinstance(body, dict) or not isinstance(body.get("data"), FormFile):
            return 400, _api_error("'data' is a required multipart field.", param="data")
        if len(body["data"].content) > MAX_PART_BYTES:
            return 400, _api_error("A part may be at most 64 MB.", param="data")
        part_id = f"part_standin{self._next_serial():06d}"
        self._parts[part_id] = (params["upload_id"], body["data"].content)
        return 200, {"id": part_id, "object": "upload.part", "created_at": self._tick(), "upload_id": params["upload_id"]}

    def _uploads_complete(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        upload_id = params["upload_id"]
        refused = self._pending_upload(upload_id)
        if refused:
            return refused
        parts = [self._parts.get(part_id) for part_id in body["part_ids"]]
        if any(p is None or p[0] != upload_id for p in parts):
            return 400, _api_error("part_ids holds a part that is not in this upload.", param="part_ids")
        content = b"".join(p[1] for p in parts if p is not None)
        upload = self.uploads[upload_id]
        if len(content) != upload["bytes"]:
            return 400, _api_error(f"The upload declared {upload['bytes']} bytes but its parts hold {len(content)}.", param="bytes")
        if "md5" in body and body["md5"] != hashlib.md5(content).hexdigest():
            return 400, _api_error("The md5 checksum does not match the uploaded bytes.", param="md5")
        statuses, details = self._file_scripts.pop(0) if self._file_scripts else (("processed",), None)
        upload["file"] = self._new_file(content, upload["filename"], upload["purpose"], statuses, details)
        upload["status"] = "completed"
        return 200, upload

    def _uploads_cancel(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        refused = self._pending_upload(params["upload_id"])
        if refused:
            return refused
        self.uploads[params["upload_id"]]["status"] = "cancelled"
        return 200, self.uploads[params["upload_id"]]

    # --- jobs -----------------------------------------------------------------------------

    def _create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        script = self._job_scripts.pop(0) if self._job_scripts else JobScript(DEFAULT_STATUSES, None, 12_345, None, None, None, None, False)
        job_id = f"ftjob-standin{self._next_serial():06d}"
        method = body.get("method") or {"type": "supervised", "supervised": {"hyperparameters": body.get("hyperparameters") or {}}}
        hyperparameters = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}
        hyperparameters |= method.get(method["type"], {}).get("hyperparameters") or {}
        job = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": self._tick(),
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": hyperparameters,
            "model": body["model"],
            "organization_id": "org-standin",
            "result_files": [],
            "status": script.statuses[0],
            "trained_tokens": None,
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "integrations": body.get("integrations"),
            "seed": body.get("seed") if body.get("seed") is not None else 42,
            "estimated_finish": None,
            "method": {"type": method["type"], method["type"]: {**method.get(method["type"], {}), "hyperparameters": hyperparameters}},
            "metadata": body.get("metadata"),
        }
        if body.get("suffix"):
            job["user_provided_suffix"] = body["suffix"]
        rows = script.metric_rows or tuple(self._default_rows(job["validation_file"] is not None))
        self.jobs[job_id] = job
        self._progress[job_id] = {"script": script, "index": 0, "held": False, "events": [], "rows": rows, "rows_sent": 0, "checkpoints": []}
        self._enter_step(job, None)
        return job

    @staticmethod
    def _default_rows(with_validation: bool) -> list[dict[str, float]]:
        rows = []
        for step in range(1, 7):
            row = {"step": step, "train_loss": round(2.0 / step, 4), "train_accuracy": round(0.5 + 0.07 * step, 4)}
            if with_validation:
                row |= {"valid_loss": round(2.2 / step, 4), "valid_mean_token_accuracy": round(0.45 + 0.07 * step, 4)}
            rows.append(row)
        return rows

    def _event(self, job: dict[str, Any], message: str, *, level: str = "info", type: str = "message", data: dict[str, Any] | None = None) -> None:
        event: dict[str, Any] = {"object": "fine_tuning.job.event", "id": f"ftevent-standin{self._next_serial():06d}", "created_at": self._tick(), "level": level, "message": message, "type": type}
        event["data"] = data if data is not None else {}
        self._progress[job["id"]]["events"].append(event)

    def _metrics_event(self, job: dict[str, Any]) -> None:
        progress = self._progress[job["id"]]
        row = progress["rows"][progress["rows_sent"]]
        progress["rows_sent"] += 1
        data = {"step": row["step"], "train_loss": row["train_loss"], "train_mean_token_accuracy": row["train_accuracy"], "total_steps": len(progress["rows"])}
        data |= {k: row[k] for k in ("valid_loss", "valid_mean_token_accuracy") if k in row}
        self._event(job, f"Step {row['step']}/{len(progress['rows'])}: training loss={row['train_loss']:.2f}", type="metrics", data=data)

    def _enter_step(self, job: dict[str, Any], previous: str | None) -> None:
        """Apply the job's current scripted step: status, its side effects and its events."""
        progress = self._progress[job["id"]]
        script: JobScript = progress["script"]
        status = script.statuses[progress["index"]]
        job["status"] = status
        if script.empty_error and status not in ("failed", "cancelled"):
            job["error"] = {}
        if status == "running":
            job["estimated_finish"] = script.estimated_finish or job["created_at"] + 3600
            job["hyperparameters"] = {k: {"batch_size": 1, "learning_rate_multiplier": 2.0, "n_epochs": 3}[k] if v == "auto" else v for k, v in job["hyperparameters"].items()}
            job["method"][job["method"]["type"]]["hyperparameters"] = job["hyperparameters"]
        if script.events is not None:
            for item in script.events[progress["index"]]:
                fields = {"message": item} if isinstance(item, str) else dict(item)
                self._event(job, fields.pop("message"), **fields)
            if status in TERMINAL_STATUSES:
                self._finish(job, status)
            return
        if status != previous and status != "succeeded":  # success has its own closing events
            message = (script.error or DEFAULT_JOB_ERROR)["message"] if status == "failed" else self._status_message(job, status)
            self._event(job, message, level="error" if status == "failed" else "info")
        if status == "running" and progress["rows_sent"] < len(progress["rows"]):
            self._metrics_event(job)
        if status in TERMINAL_STATUSES:
            while status == "succeeded" and progress["rows_sent"] < len(progress["rows"]):
                self._metrics_event(job)
            self._finish(job, status)
            if status == "succeeded":
                for checkpoint in progress["checkpoints"]:
                    self._event(job, f"Checkpoint created at step {checkpoint['step_number']}")
                self._event(job, f"New fine-tuned model created: {job['fine_tuned_model']}")
                self._event(job, "The job has successfully completed")

    def _finish(self, job: dict[str, Any], status: str) -> None:
        progress = self._progress[job["id"]]
        script: JobScript = progress["script"]
        job["finished_at"] = self._tick()
        job["estimated_finish"] = None
        if status == "failed":
            job["error"] = script.error or DEFAULT_JOB_ERROR
        if status != "succeeded":
            return
        job["trained_tokens"] = script.trained_tokens
        job["fine_tuned_model"] = script.fine_tuned_model or f"ft:{job['model']}:standin::{job['id'][-6:]}"
        rows = progress["rows"]
        lines = [",".join(RESULT_COLUMNS)] + [",".join(str(row.get(c, "")) for c in RESULT_COLUMNS) for row in rows]
        result = self._new_file(("\n".join(lines) + "\n").encode(), "step_metrics.csv", "fine-tune-results", ("processed",), None)
        job["result_files"] = [result["id"]]
        for row in rows[-3:]:
            metrics = {"step": float(row["step"]), "train_loss": row["train_loss"], "train_mean_token_accuracy": row["train_accuracy"]}
            metrics |= {k: row[k] for k in ("valid_loss", "valid_mean_token_accuracy") if k in row}
            progress["checkpoints"].append(
                {
                    "object": "fine_tuning.job.checkpoint",
                    "id": f"ftckpt_standin{self._next_serial():06d}",
                    "created_at": self._tick(),
                    "fine_tuned_model_checkpoint": f"{job['fine_tuned_model']}:ckpt-step-{row['step']}",
                    "fine_tuning_job_id": job["id"],
                    "metrics": metrics,
                    "step_number": row["step"],
                }
            )

    @staticmethod
    def _status_message(job: dict[str, Any], status: str) -> str:
        return {
            "validating_files": f"Validating training file: {job['training_file']}",
            "queued": "Files validated, moving job to queued state",
            "running": "Fine-tuning job started",
            "paused": "Fine-tuning job paused",
            "cancelled": "Fine-tuning job cancelled",
        }.get(status, f"Job entered status {status}")

    @staticmethod
    def _no_job(job_id: str) -> tuple[int, Any]:
        return 404, _api_error(f"Could not find fine-tune: {job_id}", param="fine_tune_id", code="fine_tune_not_found")

    def _fine_tuning_jobs_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        for field in ("training_file", "validation_file"):
            file_id = body.get(field)
            if file_id is not None and self.files.get(file_id, {}).get("purpose") != "fine-tune":
                return 400, _api_error(f"invalid {field}: {file_id}", param=field, code="invalid_file")
        return 200, self._create_job(body)

    def _fine_tuning_jobs_retrieve(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        job = self.jobs.get(params["fine_tuning_job_id"])
        if job is None:
            return self._no_job(params["fine_tuning_job_id"])
        progress = self._progress[job["id"]]
        if not progress["held"] and progress["index"] < len(progress["script"].statuses) - 1:
            previous = job["status"]
            progress["index"] += 1
            self._enter_step(job, previous)
        return 200, job

    def _fine_tuning_jobs_list(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        wanted = {key[len("metadata[") : -1]: value for key, value in query.items() if key.startswith("metadata[") and key.endswith("]")}
        if (wanted or "metadata" in query) and self.metadata_filter == "reject":
            return 400, _api_error("Unrecognized request argument supplied: metadata", param="metadata")
        jobs = list(reversed(self.jobs.values()))
        if self.metadata_filter == "honour":
            if query.get("metadata") == "null":
                jobs = [j for j in jobs if not j["metadata"]]
            jobs = [j for j in jobs if all((j["metadata"] or {}).get(k) == v for k, v in wanted.items())]
        data, has_more = _page(jobs, query, 20)
        return 200, {"object": "list", "data": data, "has_more": has_more}

    def _job_action(self, job_id: str, allowed: tuple[str, ...], new_status: str, held: bool) -> tuple[int, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            return self._no_job(job_id)
        if job["status"] not in allowed:
            return 400, _api_error(f"Job {job_id} is {job['status']}; this action needs one of: {', '.join(allowed)}.", param="fine_tuning_job_id")
        self._progress[job_id]["held"] = held
        job["status"] = new_status
        self._event(job, self._status_message(job, new_status) if new_status != "running" else "Fine-tuning job resumed")
        if new_status == "cancelled":
            job["finished_at"] = self._tick()
            job["estimated_finish"] = None
        return 200, job

    def _fine_tuning_jobs_cancel(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return self._job_action(params["fine_tuning_job_id"], ("validating_files", "queued", "running", "paused", *self.extra_statuses), "cancelled", True)

    def _fine_tuning_jobs_pause(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return self._job_action(params["fine_tuning_job_id"], ("running",), "paused", True)

    def _fine_tuning_jobs_resume(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return self._job_action(params["fine_tuning_job_id"], ("paused",), "running", False)

    def _fine_tuning_jobs_list_events(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        job = self.jobs.get(params["fine_tuning_job_id"])
        if job is None:
            return self._no_job(params["fine_tuning_job_id"])
        # The API lists events newest first; `after` pages towards older ones.
        data, has_more = _page(list(reversed(self._progress[job["id"]]["events"])), query, 20)
        return 200, {"object": "list", "data": data, "has_more": has_more}

    def _fine_tuning_jobs_checkpoints_list(self, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        job = self.jobs.get(params["fine_tuning_job_id"])
        if job is None:
            return self._no_job(params["fine_tuning_job_id"])
        data, has_more = _page(list(reversed(self._progress[job["id"]]["checkpoints"])), query, 10)
        return 200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None, "has_more": has_more}


def _handler_class(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid a 40 ms stall

        def do_GET(self) -> None:
            standin.handle(self)

        do_POST = do_DELETE = do_GET

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@contextlib.contextmanager
def serve(**options: Any) -> Iterator[StandIn]:
    """Run a StandIn on an ephemeral 127.0.0.1 port; on exit, fail if it ever broke the spec."""
    standin = StandIn(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(standin))
    server.daemon_threads = True
    with running(server) as port:
        standin.base_url = f"http://127.0.0.1:{port}/v1"
        standin.azure_endpoint = f"http://127.0.0.1:{port}"
        try:
            yield standin
        finally:
            standin.released.set()
    assert not standin.violations, "the stand-in answered off-spec:\n" + "\n".join(standin.violations)
