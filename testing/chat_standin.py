"""A chat-completions stand-in on 127.0.0.1 with scripted, deterministic models, for evaluation tests.

It answers POST .../chat/completions in every URL shape the eval uses (`/v1/...`, Azure's
`/openai/v1/...`, any gateway prefix). Each model is scripted (`Script`): how often it gives
the reference answer (decided by a hash of model and prompt, so every run answers the same),
how slowly, how often its reply is broken; a judge model reads the answers it is shown and
prefers position A with a set bias. `fail(status, times)` injects 429s and 5xx. Every request
and every response is checked against the trimmed OpenAPI description
(tests/fixtures/openapi/openai-chat-completions.yaml); a breach is kept in `violations`.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import referencing
import referencing.jsonschema
import yaml

from testing.http import running
from testing.openapi import as_json_schema

SPEC_PATH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "openapi" / "openai-chat-completions.yaml"
SPEC_URI = "urn:openai-chat-completions"
DEFAULT_API_KEY = "sk-chat-standin-0123456789abcdef"
WRONG = "I am not sure."


class Script(NamedTuple):
    """How one model behaves."""

    accuracy: float = 0.5  # share of prompts answered with the reference
    latency: float = 0.0  # seconds before each answer
    broken: float = 0.0  # share of prompts answered with unreadable text (judges: no verdict)
    judge: bool = False  # reads the answers shown and grades them instead of answering
    position_bias: float = 0.0  # judges: share of comparisons where answer A wins whatever it says


class Call(NamedTuple):
    model: str
    path: str
    body: dict[str, Any]


@functools.cache
def _spec() -> dict[str, Any]:
    return yaml.load(SPEC_PATH.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def _validator(*where: str) -> jsonschema.Draft202012Validator:
    resource = referencing.Resource.from_contents(as_json_schema(_spec()), default_specification=referencing.jsonschema.DRAFT202012)
    registry = referencing.Registry().with_resource(SPEC_URI, resource)
    pointer = "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in where)
    return jsonschema.Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=registry)


def spec_errors(body: Any, *, request: bool) -> list[str]:
    """Where `body` breaks the description's request (or 200 response) schema of POST /chat/completions."""
    operation = ("paths", "/chat/completions", "post")
    where = (*operation, "requestBody", "content", "application/json", "schema") if request else (*operation, "responses", "200", "content", "application/json", "schema")
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:160]}" for e in _validator(*where).iter_errors(body)]


def _fraction(*parts: str) -> float:
    """A stable number in [0, 1) for the parts: the same prompt always gets the same fate."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class ChatStandIn:
    def __init__(self, references: dict[str, str], api_key: str = DEFAULT_API_KEY, strict: bool = True) -> None:
        self.references = references  # last user message -> the reference answer
        self.api_key = api_key
        self.strict = strict  # hold traffic to the API description (benchmarks turn it off: they time the client)
        self.scripts: dict[str, Script] = {}
        self.calls: list[Call] = []  # every request that reached a model route
        self.answered: list[Call] = []  # those answered 200: what a provider would bill
        self.violations: list[str] = []
        self.base_url = ""
        self._faults: list[tuple[int, int]] = []  # (status, times left)
        self._lock = threading.Lock()

    def script(self, model: str, script: Script) -> None:
        self.scripts[model] = script

    def fail(self, status: int, times: int = 1) -> None:
        """The next `times` requests are answered with `status` (429 with a short Retry-After)."""
        with self._lock:
            self._faults.append((status, times))

    def calls_for(self, model: str) -> list[Call]:
        return [c for c in self.calls if c.model == model]

    def billed_twice(self) -> list[Call]:
        """Answered requests that were answered before: what a resumed run must never pay for again."""
        seen: set[str] = set()
        twice = []
        for call in self.answered:
            key = json.dumps(call.body, sort_keys=True)
            if key in seen:
                twice.append(call)
            seen.add(key)
        return twice

    def _fault(self) -> int | None:
        with self._lock:
            if not self._faults:
                return None
            status, left = self._faults[0]
            self._faults[0] = (status, left - 1)
            if left - 1 <= 0:
                self._faults.pop(0)
            return status

    # --- answers ----------------------------------------------------------------------------

    def reply(self, model: str, body: dict[str, Any]) -> str:
        script = self.scripts[model]
        messages = body.get("messages", [])
        prompt = json.dumps(messages, sort_keys=True)
        if script.broken and _fraction(model, "broken", prompt) < script.broken:
            return "<<garbled>>"
        if script.judge:
            return self._judge(model, script, messages[-1].get("content", ""), prompt)
        user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        reference = self.references.get(user, "")
        return reference if _fraction(model, prompt) < script.accuracy else WRONG

    def _judge(self, model: str, script: Script, request: str, prompt: str) -> str:
        if "Answer A:" in request:
            a, b = re.search(r"Answer A:\n(.*?)\n\nAnswer B:\n(.*)\Z", request, re.S).groups()  # type: ignore[union-attr]
            if script.position_bias and _fraction(model, "bias", prompt) < script.position_bias:
                return "WINNER: A\nThe first answer reads better."
            a_right, b_right = a.strip() in self.references.values(), b.strip() in self.references.values()
            verdict = "TIE" if a_right == b_right else "A" if a_right else "B"
            return f"WINNER: {verdict}\nCompared with the facts."
        shown = re.search(r"The answer to grade:\n(.*)\Z", request, re.S)
        right = shown is not None and shown.group(1).strip() in self.references.values()
        return f"SCORE: {5 if right else 1}\nJudged against the reference."

    def completion(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        text = self.reply(model, body)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) + 4 for m in body.get("messages", []))
        return {
            "id": f"chatcmpl-{hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]}",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None}, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()) + 1, "total_tokens": prompt_tokens + len(text.split()) + 1},
        }


def _handler(standin: ChatStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave as separate writes: with Nagle's algorithm on, the body waits
        # for the client's delayed ACK (about 40 ms a call), which is the stand-in's cost, not ours.
        disable_nagle_algorithm = True

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}, headers)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            if not path.endswith("/chat/completions"):
                return self._error(404, f"no route {path}")
            key = self.headers.get("api-key") or (self.headers.get("authorization") or "").removeprefix("Bearer ")
            if key != standin.api_key:
                return self._error(401, "Incorrect API key provided.")
            try:
                body = json.loads(raw)
            except ValueError:
                return self._error(400, "body is not JSON")
            problems = spec_errors(body, request=True) if standin.strict else []
            if problems:
                standin.violations.append("request: " + "; ".join(problems))
                return self._error(400, "request breaks the API description")
            model = body.get("model", "")
            with standin._lock:
                standin.calls.append(Call(model, path, body))
            fault = standin._fault()
            if fault == 429:
                return self._error(429, "Rate limit reached.", {"retry-after-ms": "10"})
            if fault:
                return self._error(fault, "The server had an error while processing your request.")
            if model not in standin.scripts:
                return self._error(404, f"The model `{model}` does not exist or you do not have access to it.")
            if standin.scripts[model].latency:
                time.sleep(standin.scripts[model].latency)
            response = standin.completion(model, body)
            problems = spec_errors(response, request=False) if standin.strict else []
            if problems:
                standin.violations.append("response: " + "; ".join(problems))
                return self._error(500, "the stand-in answered off-spec")
            # Recorded before the answer goes out: a client that has its answer must find it here.
            with standin._lock:
                standin.answered.append(Call(model, path, body))
            self._send(200, response)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serve(references: dict[str, str], api_key: str = DEFAULT_API_KEY, strict: bool = True) -> Iterator[ChatStandIn]:
    """Run a stand-in in a thread; `base_url` is http://127.0.0.1:PORT/v1. Fails the test on spec breaches."""
    standin = ChatStandIn(references, api_key, strict)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    server.daemon_threads = True
    with running(server) as port:
        standin.base_url = f"http://127.0.0.1:{port}/v1"
        yield standin
    assert not standin.violations, "chat stand-in saw off-spec traffic:\n" + "\n".join(standin.violations)
