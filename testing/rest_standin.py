"""What the REST stand-ins (Together, Fireworks) share: routing, bearer keys, scripted failures,
recorded requests, and holding every JSON body to the provider's API description.

A subclass lists ROUTES, writes one `_<route name with _ for .>` method per route returning
(status, answer), and says how the provider words an error (`error_body`). A response that
breaks the description is answered with a 500 and kept in `violations`; `serve()` fails the
test on any.
"""
from __future__ import annotations

import contextlib
import copy
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from testing.http import running
from testing.openai_standin import FormFile, _parse_multipart, _read_body
from testing.openapi import Description

START_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z: a fixed clock keeps orders and ids stable


class Request(NamedTuple):
    route: str  # "" when no route matched
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased; authorization removed
    body: Any  # parsed JSON, a multipart form {name: str | FormFile}, or raw bytes


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    name: str
    spec_path: str | None  # the description's path; None for routes it does not describe (signed URLs)


class Failure(NamedTuple):
    status: int  # 0 drops the connection without an answer; -1 acts on the request, then drops
    body: Any
    headers: dict[str, str]


def route(method: str, path: str, name: str, spec_path: str | None = "") -> Route:
    """A route; `{name}` matches one path segment (`{name:path}` several)."""
    pattern = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+?)", path)
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/:]+)", pattern)
    return Route(method, re.compile(f"^{pattern}$"), name, path if spec_path == "" else spec_path)


class RestStandIn:
    """Server state and scripting shared by the stand-ins; start one with `serve(cls)`."""

    ROUTES: ClassVar[tuple[Route, ...]] = ()
    DESCRIPTION: ClassVar[Description | None] = None

    def __init__(self, *, api_key: str, strict: bool = True, extra_statuses: tuple[str, ...] = ()) -> None:
        self.api_key = api_key
        self.strict = strict
        self.extra_statuses = extra_statuses  # scripted statuses the description does not list (a status invented tomorrow)
        self.requests: list[Request] = []
        self.violations: list[str] = []
        self.origin = ""  # http://127.0.0.1:PORT, set by serve()
        self._lock = threading.RLock()
        self._clock = START_TIME
        self._serial = 0
        self._failures: dict[str, list[Failure]] = {}
        self._progress: dict[str, dict[str, Any]] = {}  # job id -> where its script is, and whether it is held

    # --- scripting ------------------------------------------------------------------------

    def fail(self, name: str, status: int, *, message: str | None = None, code: str | None = None, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` requests to route `name` ("*" for any) with the provider's error body."""
        self._known(name)
        if headers is None:
            headers = {"retry-after": "0"} if status == 429 or status >= 500 else {}
        body = self.error_body(status, message or f"Stand-in failure {status}.", code)
        with self._lock:
            self._failures.setdefault(name, []).extend([Failure(status, body, headers)] * times)

    def drop(self, name: str, *, times: int = 1, after_acting: bool = False) -> None:
        """Close the connection without an answer for the next `times` requests to `name`
        (`after_acting`: once the request has done its work, as when an answer is lost on the way back)."""
        self._known(name)
        with self._lock:
            self._failures.setdefault(name, []).extend([Failure(-1 if after_acting else 0, None, {})] * times)

    def hold(self, job_id: str) -> None:
        """Keep the job at its status, whatever reads it, until `release` (neither provider has a pause)."""
        with self._lock:
            self._progress[job_id]["held"] = True

    def release(self, job_id: str) -> None:
        with self._lock:
            self._progress[job_id]["held"] = False

    def calls(self, name: str) -> list[Request]:
        """The recorded requests to route `name`."""
        self._known(name)
        with self._lock:
            return [r for r in self.requests if r.route == name]

    def _known(self, name: str) -> None:
        if name != "*" and name not in {r.name for r in self.ROUTES}:
            raise ValueError(f"no route {name!r}; routes: {', '.join(r.name for r in self.ROUTES)}")

    # --- for subclasses -------------------------------------------------------------------

    def error_body(self, status: int, message: str, code: str | None) -> Any:
        raise NotImplementedError

    def unauthorized(self) -> tuple[int, Any]:
        return 401, self.error_body(401, "Invalid API key provided.", "invalid_api_key")

    def tick(self) -> int:
        self._clock += 1
        return self._clock

    def serial(self) -> int:
        with self._lock:
            self._serial += 1
            return self._serial

    # --- request handling -----------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Serve one HTTP request."""
        url = urlsplit(handler.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = _read_body(handler)
        headers = {k.lower(): v for k, v in handler.headers.items() if k.lower() != "authorization"}
        found = next(((r, m.groupdict()) for r in self.ROUTES if r.method == handler.command and (m := r.pattern.match(path))), None)
        content_type = handler.headers.get("content-type", "")
        try:
            body: Any = json.loads(raw) if raw and content_type.startswith("application/json") else _parse_multipart(raw, content_type) if raw and content_type.startswith("multipart/form-data") else raw or None
        except ValueError as exc:
            body, problem = raw, (400, self.error_body(400, f"Could not parse the request body: {exc}", "invalid_request"))
        else:
            problem = None
        with self._lock:
            self.requests.append(Request(found[0].name if found else "", handler.command, path, query, headers, body))
            failure = None
            if found is None:
                problem = (404, self.error_body(404, f"Not found: {handler.command} {path}", "not_found"))
            elif found[0].spec_path is not None and handler.headers.get("authorization", "") != f"Bearer {self.api_key}":
                problem = self.unauthorized()
            elif problem is None:
                failure = self._next_failure(found[0].name)
            if failure is not None and failure.status == -1:
                self._serve(found[0], found[1], query, body)  # type: ignore[index]
            if failure is not None and failure.status <= 0:
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(2)
                return
            if failure is not None:
                status, answer, extra = failure.status, failure.body, failure.headers
            elif problem is not None:
                status, answer, extra = *problem, {}
            else:
                status, answer, extra = self._serve(found[0], found[1], query, body)
            answer = copy.deepcopy(answer)
        self._respond(handler, status, answer, extra)

    def _next_failure(self, name: str) -> Failure | None:
        for key in (name, "*"):
            if self._failures.get(key):
                return self._failures[key].pop(0)
        return None

    def _serve(self, found: Route, params: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        described = self.strict and found.spec_path is not None and self.DESCRIPTION is not None
        if described and found.method in ("POST", "PATCH") and isinstance(body, dict):
            fields = {k: "<binary>" if isinstance(v, FormFile) else v for k, v in body.items()}
            problems = self.DESCRIPTION.errors(found.spec_path, found.method, fields, request=True)  # type: ignore[union-attr, arg-type]
            if problems:
                return 400, self.error_body(400, f"Invalid request body for {found.name}: {'; '.join(problems)}", "invalid_request"), {}
        status, answer = getattr(self, "_" + found.name.replace(".", "_"))(params=params, query=query, body=body)
        if described and status == 200 and isinstance(answer, dict):
            problems = self.DESCRIPTION.errors(found.spec_path, found.method, answer, request=False)  # type: ignore[union-attr, arg-type]
            problems = [p for p in problems if not any(f": {s!r} is not one of" in p for s in self.extra_statuses)]
            if problems:
                self.violations.append(f"{found.name}: {'; '.join(problems)}")
                return 500, self.error_body(500, f"stand-in answer breaks the description for {found.name}", "internal"), {}
        return status, answer, {}

    def _respond(self, handler: BaseHTTPRequestHandler, status: int, answer: Any, headers: dict[str, str]) -> None:
        if isinstance(answer, bytes):
            payload, content_type = answer, "application/octet-stream"
        else:
            payload, content_type = json.dumps(answer).encode(), "application/json"
        handler.send_response(status)
        handler.send_header("content-type", content_type)
        handler.send_header("content-length", str(len(payload)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)


def _handler_class(standin: RestStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            standin.handle(self)

        do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@contextlib.contextmanager
def serve(standin: RestStandIn) -> Iterator[RestStandIn]:
    """Run `standin` on an ephemeral 127.0.0.1 port; on exit, fail if it ever broke its description."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(standin))
    server.daemon_threads = True
    with running(server) as port:
        standin.origin = f"http://127.0.0.1:{port}"
        yield standin
    assert not standin.violations, "the stand-in answered off its description:\n" + "\n".join(standin.violations)
