"""A stateful stand-in for the parts of GitHub's API finetune-action uses, on 127.0.0.1.

It serves the REST operations kept in tests/fixtures/github/api.github.com.trimmed.json
(GitHub's own description), the uploads host on the same base URL, and the one GraphQL
mutation we call (`minimizeComment`). Response objects start from the spec's own examples.
In strict mode every response it sends and every JSON body it receives is validated against
the spec's schemas; a mismatch is recorded in `violations`, and `github_standin()` fails the
test on exit if any is left.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import functools
import hashlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema

from testing.http import running
from testing.openapi import as_json_schema

SPEC_FILE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "github" / "api.github.com.trimmed.json"

#: Permissions of a token that may do everything finetune-action does.
WRITE_ALL = {"contents": "write", "issues": "write", "pull_requests": "write", "metadata": "read"}
#: What a pull_request run from a fork gets: a read-only GITHUB_TOKEN.
READ_ONLY = {"contents": "read", "issues": "read", "pull_requests": "read", "metadata": "read"}

#: The login GitHub shows for comments and uploads made with GITHUB_TOKEN.
BOT_LOGIN = "github-actions[bot]"
BOT_ID = 41898282

API_VERSIONS = {"2022-11-28", "2026-03-10"}
MINIMIZE_CLASSIFIERS = {"SPAM", "ABUSE", "OFF_TOPIC", "OUTDATED", "DUPLICATE", "RESOLVED"}
COMMENT_BODY_LIMIT = 65536

FORBIDDEN_MESSAGE = "Resource not accessible by integration"
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 0000:0000:STANDIN."
)


class Recorded(NamedTuple):
    """One request as the stand-in received it (the Authorization header left out)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    operation_id: str | None
    status: int


class Failure(NamedTuple):
    """An injected failure for the next `times` requests to an operation ("*": any)."""

    operation_id: str
    kind: int | str
    times: int
    retry_after: int


class _Request(NamedTuple):
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    login: str


class _Response(NamedTuple):
    status: int
    body: Any  # a JSON value, bytes, or None for no body
    headers: dict[str, str]


@functools.cache
def load_spec() -> dict:
    """The trimmed REST description, read once per process."""
    with open(SPEC_FILE, encoding="utf-8") as f:
        return json.load(f)


@functools.cache
def _operations() -> dict[str, tuple[str, str, dict]]:
    """operationId -> (method, path template, operation)."""
    return {
        operation["operationId"]: (method.upper(), path, operation)
        for path, item in load_spec()["paths"].items()
        for method, operation in item.items()
    }


@functools.cache
def _validator(operation_id: str, where: str) -> jsonschema.Draft202012Validator | None:
    """Validator for a response status ("200", "404", ...) or "request" of an operation."""
    operation = _operations()[operation_id][2]
    if where == "request":
        content = operation.get("requestBody", {}).get("content", {})
    else:
        content = operation["responses"].get(where, {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    return jsonschema.Draft202012Validator(as_json_schema(schema))


@functools.cache
def _basic_error_validator() -> jsonschema.Draft202012Validator:
    """GitHub's "Basic Error" schema, for error statuses an operation does not list."""
    return _validator("repos/get", "404")


def example(operation_id: str, status: str = "200") -> dict:
    """A fresh copy of the spec's example response of an operation."""
    content = _operations()[operation_id][2]["responses"][status]["content"]["application/json"]
    return copy.deepcopy(next(iter(content["examples"].values()))["value"])


def _docs_url(operation_id: str | None) -> str:
    if operation_id not in _operations():
        return "https://docs.github.com/graphql" if operation_id == "graphql/minimize-comment" else "https://docs.github.com/rest"
    return _operations()[operation_id][2].get("externalDocs", {}).get("url", "https://docs.github.com/rest")


def _error(status: int, message: str, operation_id: str | None, **extra: Any) -> _Response:
    body = {"message": message, "documentation_url": _docs_url(operation_id), "status": str(status), **extra}
    return _Response(status, body, {})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _user(login: str) -> dict:
    """A user object shaped like the spec's example, for `login`."""
    user = example("issues/get-comment")["user"]
    is_bot = login == BOT_LOGIN
    user.update(
        login=login,
        id=BOT_ID if is_bot else 1,
        type="Bot" if is_bot else "User",
        html_url=f"https://github.com/{'apps/github-actions' if is_bot else login}",
        url=f"https://api.github.com/users/{urllib.parse.quote(login)}",
    )
    return user


# Which permissions an operation needs: any one of the alternatives, GitHub's
# X-Accepted-GitHub-Permissions header says the same thing to the client.
_NEEDS: dict[str, list[tuple[str, str]]] = {
    "repos/get": [("metadata", "read")],
    "issues/list-comments": [("issues", "read"), ("pull_requests", "read")],
    "issues/get-comment": [("issues", "read"), ("pull_requests", "read")],
    "issues/create-comment": [("issues", "write"), ("pull_requests", "write")],
    "issues/update-comment": [("issues", "write"), ("pull_requests", "write")],
    "issues/delete-comment": [("issues", "write"), ("pull_requests", "write")],
    "graphql/minimize-comment": [("issues", "write"), ("pull_requests", "write")],
    "pulls/get": [("pull_requests", "read")],
    "repos/list-releases": [("contents", "read")],
    "repos/get-release": [("contents", "read")],
    "repos/get-release-by-tag": [("contents", "read")],
    "repos/list-release-assets": [("contents", "read")],
    "repos/get-release-asset": [("contents", "read")],
    "repos/create-release": [("contents", "write")],
    "repos/update-release": [("contents", "write")],
    "repos/delete-release": [("contents", "write")],
    "repos/upload-release-asset": [("contents", "write")],
    "repos/delete-release-asset": [("contents", "write")],
}


def _allows(permissions: dict[str, str], needed: tuple[str, str]) -> bool:
    scope, level = needed
    granted = permissions.get(scope)
    return granted == "write" or (granted == "read" and level == "read")


def _route_pattern(path_template: str) -> re.Pattern[str]:
    """Regex for a spec path: numeric ids and numbers match digits only, as GitHub routes them."""
    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        digits = name.endswith("_id") or name.endswith("_number")
        return f"(?P<{name}>{'[0-9]+' if digits else '[^/]+'})"
    return re.compile(re.sub(r"\{(\w+)\}", group, path_template))


class GitHubStandIn:
    """The server state, the failure queue, and the recording of requests."""

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self.base_url = ""
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.graphql_queries: list[dict] = []
        self._lock = threading.RLock()
        self._tokens: dict[str, tuple[dict[str, str], str]] = {}
        self._failures: list[Failure] = []
        self._mangles: dict[str, Callable[[Any], Any]] = {}
        self._repos: dict[str, dict] = {}
        self._comments: dict[int, dict] = {}
        self._releases: dict[int, dict] = {}
        self._assets: dict[int, dict] = {}
        self._next_id = 1000
        self._routes: list[tuple[str, re.Pattern[str], str, Callable[[_Request, str], _Response]]] = []
        for operation_id, (method, path, _) in _operations().items():
            handler = getattr(self, "_" + re.sub(r"[/-]", "_", operation_id))
            self._routes.append((method, _route_pattern(path), operation_id, handler))

    # -- arranging state ---------------------------------------------------------------

    def add_token(self, token: str, permissions: dict[str, str] | None = None, login: str = BOT_LOGIN) -> str:
        """Accept `token`, with GITHUB_TOKEN-style permissions (default: WRITE_ALL)."""
        self._tokens[token] = (dict(WRITE_ALL if permissions is None else permissions), login)
        return token

    def add_repo(self, full_name: str, default_branch: str = "main", private: bool = False) -> None:
        """Create a repository the tokens can see."""
        with self._lock:
            self._repos[full_name.lower()] = {
                "id": self._new_id(),
                "full_name": full_name,
                "default_branch": default_branch,
                "private": private,
                "pulls": {},
            }

    def add_pull(
        self,
        repo: str,
        number: int,
        head_sha: str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        head_ref: str = "changes",
        base_ref: str | None = None,
        head_repo: str | None = None,
    ) -> None:
        """Open pull request `number`; `head_repo` other than `repo` makes it a fork PR."""
        with self._lock:
            state = self._repo(repo)
            state["pulls"][number] = {
                "id": self._new_id(),
                "head_sha": head_sha,
                "head_ref": head_ref,
                "base_ref": base_ref or state["default_branch"],
                "head_repo": head_repo or state["full_name"],
            }

    def push(self, repo: str, number: int, head_sha: str) -> None:
        """Move pull request `number`'s head to `head_sha`, as a push or a force-push does."""
        with self._lock:
            self._repo(repo)["pulls"][number]["head_sha"] = head_sha

    def add_comment(self, repo: str, issue_number: int, body: str, login: str = BOT_LOGIN, association: str | None = None) -> int:
        """Put a comment on a PR as if an earlier run (or a person) wrote it; returns its id.
        `association`: the author's author_association (default NONE for the bot, MEMBER for a person)."""
        with self._lock:
            self._repo(repo)
            comment_id = self._new_id()
            now = _now()
            self._comments[comment_id] = {
                "id": comment_id,
                "repo": repo.lower(),
                "issue_number": issue_number,
                "body": body,
                "login": login,
                "association": association or ("NONE" if login == BOT_LOGIN else "MEMBER"),
                "created_at": now,
                "updated_at": now,
                "minimized_reason": None,
            }
            return comment_id

    def fail(self, operation_id: str, kind: int | str, times: int = 1, retry_after: int = 1) -> None:
        """Make the next `times` requests to an operation ("*" for any) fail.

        kind: an HTTP status (500, 502, 503, 401, 404), "secondary-rate-limit" (403 with
        Retry-After), "rate-limit" (403 with x-ratelimit-remaining: 0), "disconnect", or
        "lost-response" (the request takes effect but the client gets a 502).
        """
        with self._lock:
            self._failures.append(Failure(operation_id, kind, times, retry_after))

    def mangle(self, operation_id: str, change: Callable[[Any], Any]) -> None:
        """Pass every successful answer of an operation through `change` before it is sent, after
        the spec check: a GitHub (or a proxy) answering in shapes the description does not allow."""
        if operation_id not in _NEEDS:
            raise KeyError(f"the stand-in serves no operation {operation_id!r}")
        with self._lock:
            self._mangles[operation_id] = change

    # -- reading state -----------------------------------------------------------------

    def comments(self, repo: str, issue_number: int) -> list[dict]:
        """The comments on a PR as the REST API shows them, oldest first."""
        with self._lock:
            return [
                self._render_comment(c)
                for c in sorted(self._comments.values(), key=lambda c: c["id"])
                if c["repo"] == repo.lower() and c["issue_number"] == issue_number
            ]

    def releases(self, repo: str) -> list[dict]:
        """The releases of a repository as the REST API shows them."""
        with self._lock:
            return [self._render_release(r) for r in self._releases.values() if r["repo"] == repo.lower()]

    def asset_bytes(self, repo: str, tag: str, name: str) -> bytes:
        """The uploaded content of a release asset."""
        with self._lock:
            for release in self._releases.values():
                if release["repo"] == repo.lower() and release["tag_name"] == tag:
                    for asset_id in release["assets"]:
                        if self._assets[asset_id]["name"] == name:
                            return self._assets[asset_id]["data"]
        raise KeyError(f"{repo} has no asset {name!r} on release {tag!r}")

    def sent(self, method: str | None = None, operation_id: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally only those with `method` and/or `operation_id`."""
        return [
            r for r in self.requests
            if (method is None or r.method == method) and (operation_id is None or r.operation_id == operation_id)
        ]

    # -- plumbing ----------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _repo(self, full_name: str) -> dict:
        return self._repos[full_name.lower()]

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Response | None:
        """Serve one request; None means drop the connection."""
        split = urllib.parse.urlsplit(raw_path)
        path = split.path
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        operation_id, handler, params = self._match(method, path)
        parsed_json = None
        if body and "json" in headers.get("content-type", "application/json"):
            try:
                parsed_json = json.loads(body)
            except ValueError:
                parsed_json = None
        try:
            response = self._serve(method, path, query, headers, body, parsed_json, operation_id, handler, params)
        except Exception as error:  # a bug in the stand-in must fail the test, not hang it
            self._violation(f"stand-in crashed on {method} {path}: {error!r}")
            response = _error(500, "stand-in crashed", operation_id)
        if response is not None and self.strict and operation_id is not None:
            self._check_response(operation_id, response)
        if response is not None and operation_id in self._mangles and response.status < 300:
            response = response._replace(body=self._mangles[operation_id](copy.deepcopy(response.body)))
        with self._lock:
            self.requests.append(
                Recorded(
                    method, path, query,
                    {k: v for k, v in headers.items() if k != "authorization"},
                    body, parsed_json, operation_id, 0 if response is None else response.status,
                )
            )
        return response

    def _match(self, method: str, path: str) -> tuple[str | None, Callable | None, dict[str, str]]:
        if path == "/graphql" and method == "POST":
            return "graphql/minimize-comment", self._graphql, {}
        for route_method, pattern, operation_id, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return operation_id, handler, match.groupdict()
        return None, None, {}

    def _serve(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
        parsed_json: Any, operation_id: str | None, handler: Callable | None, params: dict[str, str],
    ) -> _Response | None:
        if method == "GET" and "/releases/download/" in path:
            return self._download(path)
        if handler is None:
            return _error(404, "Not Found", None)
        version = headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            return _error(400, f"The requested version '{version}' is not supported.", operation_id)

        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if not authorization:
            return _error(401, "Requires authentication", operation_id)
        if scheme.lower() not in ("bearer", "token") or token not in self._tokens:
            return _error(401, "Bad credentials", operation_id)

        injected = self._take_failure(operation_id)
        if injected is not None and injected.kind != "lost-response":
            return self._injected(injected, operation_id)

        permissions, login = self._tokens[token]
        needs = _NEEDS[operation_id]
        if not any(_allows(permissions, need) for need in needs):
            if operation_id == "graphql/minimize-comment":
                return _Response(200, _graphql_error("FORBIDDEN", FORBIDDEN_MESSAGE), {})
            accepted = "; ".join(f"{scope}={level}" for scope, level in needs)
            response = _error(403, FORBIDDEN_MESSAGE, operation_id)
            return response._replace(headers={"X-Accepted-GitHub-Permissions": accepted})

        if operation_id != "graphql/minimize-comment":
            problem = self._check_request(operation_id, query, headers, body, parsed_json)
            if problem is not None:
                self._violation(f"{method} {path}: {problem}")
                return _error(422, f"Invalid request.\n\n{problem}", operation_id)
            if params.get("owner") and f"{params['owner']}/{params['repo']}".lower() not in self._repos:
                return _error(404, "Not Found", operation_id)
        request = _Request(method, path, params, query, headers, body, parsed_json, login)
        with self._lock:
            response = handler(request, operation_id)
        if injected is not None:  # "lost-response": the work is done, the answer never arrives
            return self._injected(injected._replace(kind=502), operation_id)
        return response

    def _take_failure(self, operation_id: str) -> Failure | None:
        with self._lock:
            for index, failure in enumerate(self._failures):
                if failure.operation_id in ("*", operation_id) and failure.times > 0:
                    self._failures[index] = failure._replace(times=failure.times - 1)
                    return failure
        return None

    def _injected(self, failure: Failure, operation_id: str) -> _Response | None:
        if failure.kind == "disconnect":
            return None
        if failure.kind == "secondary-rate-limit":
            response = _error(403, SECONDARY_RATE_LIMIT_MESSAGE, operation_id)
            return response._replace(headers={"Retry-After": str(failure.retry_after)})
        if failure.kind == "rate-limit":
            response = _error(403, "API rate limit exceeded for installation ID 1.", operation_id)
            reset = str(int(time.time()) + failure.retry_after)
            return response._replace(headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
        if failure.kind == 502:
            # GitHub's gateway answers with a page, not JSON.
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return _Response(502, page, {"Content-Type": "text/html"})
        messages = {401: "Bad credentials", 404: "Not Found", 500: "Server Error", 503: "Service Unavailable"}
        return _error(int(failure.kind), messages.get(int(failure.kind), "Error"), operation_id)

    def _check_request(
        self, operation_id: str, query: dict[str, str], headers: dict[str, str], body: bytes, parsed_json: Any,
    ) -> str | None:
        """What is wrong with a request by the spec, or None."""
        operation = _operations()[operation_id][2]
        query_params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        for name, value in query.items():
            if name not in query_params:
                return f"query parameter {name!r} is not accepted by {operation_id}"
            if query_params[name]["schema"].get("type") == "integer" and not value.isdigit():
                return f"query parameter {name!r} must be an integer, got {value!r}"
        for name, param in query_params.items():
            if param.get("required") and name not in query:
                return f"query parameter {name!r} is required by {operation_id}"
        request_body = operation.get("requestBody")
        if request_body is None:
            return "this operation takes no body" if body else None
        if "application/octet-stream" in request_body["content"]:
            if "content-type" not in headers:
                return "an upload needs a Content-Type header"
            return None
        if parsed_json is None:
            return "the body is not JSON" if request_body.get("required") or body else None
        errors = sorted(_validator(operation_id, "request").iter_errors(parsed_json), key=str)
        if errors:
            first = errors[0]
            return f"For '{'/'.join(map(str, first.absolute_path)) or 'body'}': {first.message}"
        return None

    def _check_response(self, operation_id: str, response: _Response) -> None:
        if response.body is None or isinstance(response.body, bytes) or operation_id.startswith("graphql/"):
            return
        validator = _validator(operation_id, str(response.status))
        if validator is None and response.status >= 400:
            validator = _basic_error_validator()
        if validator is None:
            self._violation(f"{operation_id}: the spec lists no JSON body for status {response.status}")
            return
        for error in validator.iter_errors(response.body):
            where = "/".join(map(str, error.absolute_path))
            self._violation(f"{operation_id} {response.status} response at {where!r}: {error.message[:300]}")

    def _page(self, request: _Request, items: list[dict]) -> _Response:
        """One page of `items` with GitHub's Link header."""
        per_page = min(int(request.query.get("per_page", "30")), 100) or 30
        page = max(int(request.query.get("page", "1")), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)

        def link(number: int, rel: str) -> str:
            query = urllib.parse.urlencode({**request.query, "per_page": per_page, "page": number})
            return f'<{self.base_url}{request.path}?{query}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        headers = {"Link": ", ".join(links)} if links else {}
        return _Response(200, items[(page - 1) * per_page : page * per_page], headers)

    # -- repositories and pulls ---------------------------------------------------------

    def _repos_get(self, request: _Request, operation_id: str) -> _Response:
        state = self._repo(f"{request.params['owner']}/{request.params['repo']}")
        repo = example("repos/get")
        owner, name = state["full_name"].split("/")
        repo.update(
            id=state["id"], name=name, full_name=state["full_name"], private=state["private"],
            visibility="private" if state["private"] else "public", default_branch=state["default_branch"],
            url=f"{self.base_url}/repos/{state['full_name']}", html_url=f"{self.base_url}/{state['full_name']}",
        )
        repo["owner"]["login"] = owner
        # The example lacks the required `language`; `source`/`parent` only exist for forks.
        repo["language"] = None
        del repo["source"], repo["parent"]
        return _Response(200, repo, {})

    def _pulls_get(self, request: _Request, operation_id: str) -> _Response:
        full_name = f"{request.params['owner']}/{request.params['repo']}"
        state = self._repo(full_name)
        number = int(request.params["pull_number"])
        if number not in state["pulls"]:
            return _error(404, "Not Found", operation_id)
        pull = state["pulls"][number]
        body = example("pulls/get")
        body.update(
            id=pull["id"], number=number, state="open",
            url=f"{self.base_url}/repos/{state['full_name']}/pulls/{number}",
            html_url=f"{self.base_url}/{state['full_name']}/pull/{number}",
            comments_url=f"{self.base_url}/repos/{state['full_name']}/issues/{number}/comments",
        )
        for side, ref, repo_name in (
            ("head", pull["head_ref"], pull["head_repo"]),
            ("base", pull["base_ref"], state["full_name"]),
        ):
            body[side]["ref"] = ref
            body[side]["label"] = f"{repo_name.split('/')[0]}:{ref}"
            body[side]["repo"]["full_name"] = repo_name
            body[side]["repo"]["name"] = repo_name.split("/")[1]
            body[side]["repo"]["owner"]["login"] = repo_name.split("/")[0]
            body[side]["repo"]["fork"] = repo_name.lower() != state["full_name"].lower()
            body[side]["repo"]["default_branch"] = state["default_branch"]
        body["head"]["sha"] = pull["head_sha"]
        body["requested_teams"] = []  # the example's team lacks the required `type`
        return _Response(200, body, {})

    # -- issue comments ---------------------------------------------------------------

    def _render_comment(self, comment: dict) -> dict:
        full_name = self._repos[comment["repo"]]["full_name"]
        body = example("issues/get-comment")
        body.update(
            id=comment["id"],
            node_id=_node_id("IC", comment["id"]),
            body=comment["body"],
            user=_user(comment["login"]),
            author_association=comment.get("association") or ("NONE" if comment["login"] == BOT_LOGIN else "MEMBER"),
            created_at=comment["created_at"],
            updated_at=comment["updated_at"],
            url=f"{self.base_url}/repos/{full_name}/issues/comments/{comment['id']}",
            html_url=f"{self.base_url}/{full_name}/pull/{comment['issue_number']}#issuecomment-{comment['id']}",
            issue_url=f"{self.base_url}/repos/{full_name}/issues/{comment['issue_number']}",
            minimized=None if comment["minimized_reason"] is None else {"reason": comment["minimized_reason"]},
        )
        return body

    def _comment(self, request: _Request) -> dict | None:
        comment = self._comments.get(int(request.params["comment_id"]))
        full_name = f"{request.params['owner']}/{request.params['repo']}".lower()
        return comment if comment is not None and comment["repo"] == full_name else None

    def _issue_exists(self, request: _Request) -> bool:
        state = self._repo(f"{request.params['owner']}/{request.params['repo']}")
        return int(request.params["issue_number"]) in state["pulls"]

    def _issues_list_comments(self, request: _Request, operation_id: str) -> _Response:
        if not self._issue_exists(request):
            return _error(404, "Not Found", operation_id)
        repo = f"{request.params['owner']}/{request.params['repo']}"
        return self._page(request, self.comments(repo, int(request.params["issue_number"])))

    def _issues_get_comment(self, request: _Request, operation_id: str) -> _Response:
        comment = self._comment(request)
        if comment is None:
            return _error(404, "Not Found", operation_id)
        return _Response(200, self._render_comment(comment), {})

    def _too_long(self, body: str, operation_id: str) -> _Response | None:
        if len(body) <= COMMENT_BODY_LIMIT:
            return None
        error = {
            "resource": "IssueComment",
            "code": "unprocessable",
            "field": "data",
            "message": f"Body is too long (maximum is {COMMENT_BODY_LIMIT} characters)",
        }
        return _error(422, "Validation Failed", operation_id, errors=[error])

    def _issues_create_comment(self, request: _Request, operation_id: str) -> _Response:
        if not self._issue_exists(request):
            return _error(404, "Not Found", operation_id)
        too_long = self._too_long(request.json["body"], operation_id)
        if too_long is not None:
            return too_long
        repo = f"{request.params['owner']}/{request.params['repo']}"
        comment_id = self.add_comment(repo, int(request.params["issue_number"]), request.json["body"], request.login)
        rendered = self._render_comment(self._comments[comment_id])
        return _Response(201, rendered, {"Location": rendered["url"]})

    def _issues_update_comment(self, request: _Request, operation_id: str) -> _Response:
        comment = self._comment(request)
        if comment is None:
            return _error(404, "Not Found", operation_id)
        too_long = self._too_long(request.json["body"], operation_id)
        if too_long is not None:
            return too_long
        comment["body"] = request.json["body"]
        comment["updated_at"] = _now()
        return _Response(200, self._render_comment(comment), {})

    def _issues_delete_comment(self, request: _Request, operation_id: str) -> _Response:
        comment = self._comment(request)
        if comment is None:
            return _error(404, "Not Found", operation_id)
        del self._comments[comment["id"]]
        return _Response(204, None, {})

    def _graphql(self, request: _Request, operation_id: str) -> _Response:
        """`minimizeComment(input: {subjectId, classifier})`, with variables or inline literals."""
        payload = request.json if isinstance(request.json, dict) else {}
        self.graphql_queries.append(payload)
        query = payload.get("query")
        variables = payload.get("variables") or {}
        if not isinstance(query, str) or not re.search(r"mutation\b[^{]*\{\s*minimizeComment\s*\(\s*input\s*:", query):
            self._violation(f"graphql: not a minimizeComment mutation: {payload!r:.300}")
            return _Response(200, _graphql_error("PARSE_ERROR", "the stand-in only knows minimizeComment"), {})
        arguments = query[query.index("minimizeComment") :]  # not the variable declarations
        whole_input = re.search(r"input\s*:\s*\$(\w+)", arguments)
        if whole_input:
            given = variables.get(whole_input.group(1)) or {}
        else:
            given = {}
            for name in ("subjectId", "classifier"):
                value = re.search(rf'{name}\s*:\s*(\$\w+|"[^"]*"|\w+)', arguments)
                if value is None:
                    continue
                text = value.group(1)
                given[name] = variables.get(text[1:]) if text.startswith("$") else text.strip('"')
        subject_id, classifier = given.get("subjectId"), given.get("classifier")
        if classifier not in MINIMIZE_CLASSIFIERS:
            self._violation(f"graphql: classifier {classifier!r} is not a ReportedContentClassifiers value")
            return _Response(200, _graphql_error("INVALID", f"classifier {classifier!r} is not valid"), {})
        comment = next((c for c in self._comments.values() if _node_id("IC", c["id"]) == subject_id), None)
        if comment is None:
            message = f"Could not resolve to a node with the global id of '{subject_id}'"
            return _Response(200, _graphql_error("NOT_FOUND", message), {})
        comment["minimized_reason"] = classifier.lower()
        minimized = {"isMinimized": True, "minimizedReason": classifier.lower()}
        return _Response(200, {"data": {"minimizeComment": {"minimizedComment": minimized}}}, {})

    # -- releases ---------------------------------------------------------------------

    def _render_asset(self, asset: dict) -> dict:
        release = self._releases[asset["release_id"]]
        full_name = self._repos[release["repo"]]["full_name"]
        body = example("repos/get-release-asset")
        body.update(
            id=asset["id"], node_id=_node_id("RA", asset["id"]), name=asset["name"], label=asset["label"],
            content_type=asset["content_type"], size=len(asset["data"]), digest=asset["digest"],
            download_count=0, uploader=_user(asset["login"]),
            created_at=asset["created_at"], updated_at=asset["created_at"],
            url=f"{self.base_url}/repos/{full_name}/releases/assets/{asset['id']}",
            browser_download_url=f"{self.base_url}/{full_name}/releases/download/{release['tag_name']}/{asset['name']}",
        )
        return body

    def _render_release(self, release: dict) -> dict:
        full_name = self._repos[release["repo"]]["full_name"]
        body = example("repos/get-release")
        api = f"{self.base_url}/repos/{full_name}"
        body.update(
            id=release["id"], node_id=_node_id("RE", release["id"]), tag_name=release["tag_name"],
            name=release["name"], body=release["body"], draft=release["draft"], prerelease=release["prerelease"],
            target_commitish=release["target_commitish"], created_at=release["created_at"],
            published_at=None if release["draft"] else release["created_at"],
            url=f"{api}/releases/{release['id']}", assets_url=f"{api}/releases/{release['id']}/assets",
            upload_url=f"{api}/releases/{release['id']}/assets{{?name,label}}",
            html_url=f"{self.base_url}/{full_name}/releases/tag/{release['tag_name']}",
            tarball_url=f"{api}/tarball/{release['tag_name']}", zipball_url=f"{api}/zipball/{release['tag_name']}",
            author=_user(release["login"]), assets=[self._render_asset(self._assets[a]) for a in release["assets"]],
        )
        del body["discussion_url"]
        return body

    def _release(self, request: _Request) -> dict | None:
        release = self._releases.get(int(request.params["release_id"]))
        full_name = f"{request.params['owner']}/{request.params['repo']}".lower()
        return release if release is not None and release["repo"] == full_name else None

    def _repos_list_releases(self, request: _Request, operation_id: str) -> _Response:
        repo = f"{request.params['owner']}/{request.params['repo']}"
        newest_first = sorted(self.releases(repo), key=lambda r: r["id"], reverse=True)
        return self._page(request, newest_first)

    def _repos_get_release(self, request: _Request, operation_id: str) -> _Response:
        release = self._release(request)
        if release is None:
            return _error(404, "Not Found", operation_id)
        return _Response(200, self._render_release(release), {})

    def _repos_get_release_by_tag(self, request: _Request, operation_id: str) -> _Response:
        repo = f"{request.params['owner']}/{request.params['repo']}".lower()
        tag = urllib.parse.unquote(request.params["tag"])
        for release in self._releases.values():
            if release["repo"] == repo and release["tag_name"] == tag:
                return _Response(200, self._render_release(release), {})
        return _error(404, "Not Found", operation_id)

    def _repos_create_release(self, request: _Request, operation_id: str) -> _Response:
        repo = f"{request.params['owner']}/{request.params['repo']}".lower()
        fields = request.json
        if any(r["repo"] == repo and r["tag_name"] == fields["tag_name"] for r in self._releases.values()):
            error = {"resource": "Release", "code": "already_exists", "field": "tag_name"}
            return _error(422, "Validation Failed", operation_id, errors=[error])
        release_id = self._new_id()
        self._releases[release_id] = {
            "id": release_id,
            "repo": repo,
            "tag_name": fields["tag_name"],
            "name": fields.get("name", fields["tag_name"]),
            "body": fields.get("body"),
            "draft": fields.get("draft", False),
            "prerelease": fields.get("prerelease", False),
            "target_commitish": fields.get("target_commitish", self._repos[repo]["default_branch"]),
            "created_at": _now(),
            "login": request.login,
            "assets": [],
        }
        rendered = self._render_release(self._releases[release_id])
        return _Response(201, rendered, {"Location": rendered["url"]})

    def _repos_update_release(self, request: _Request, operation_id: str) -> _Response:
        release = self._release(request)
        if release is None:
            return _error(404, "Not Found", operation_id)
        for key in ("tag_name", "name", "body", "draft", "prerelease", "target_commitish"):
            if key in request.json:
                release[key] = request.json[key]
        return _Response(200, self._render_release(release), {})

    def _repos_delete_release(self, request: _Request, operation_id: str) -> _Response:
        release = self._release(request)
        if release is None:
            return _error(404, "Not Found", operation_id)
        for asset_id in release["assets"]:
            del self._assets[asset_id]
        del self._releases[release["id"]]
        return _Response(204, None, {})

    def _repos_list_release_assets(self, request: _Request, operation_id: str) -> _Response:
        release = self._release(request)
        if release is None:
            return _error(404, "Not Found", operation_id)
        return self._page(request, [self._render_asset(self._assets[a]) for a in release["assets"]])

    def _asset(self, request: _Request) -> dict | None:
        asset = self._assets.get(int(request.params["asset_id"]))
        if asset is None:
            return None
        full_name = f"{request.params['owner']}/{request.params['repo']}".lower()
        return asset if self._releases[asset["release_id"]]["repo"] == full_name else None

    def _repos_get_release_asset(self, request: _Request, operation_id: str) -> _Response:
        asset = self._asset(request)
        if asset is None:
            return _error(404, "Not Found", operation_id)
        if "application/octet-stream" in request.headers.get("accept", ""):
            # GitHub redirects to the file's storage; serving the bytes directly is what the client ends up with.
            return _Response(200, asset["data"], {"Content-Type": "application/octet-stream"})
        return _Response(200, self._render_asset(asset), {})

    def _repos_delete_release_asset(self, request: _Request, operation_id: str) -> _Response:
        asset = self._asset(request)
        if asset is None:
            return _error(404, "Not Found", operation_id)
        self._releases[asset["release_id"]]["assets"].remove(asset["id"])
        del self._assets[asset["id"]]
        return _Response(204, None, {})

    def _repos_upload_release_asset(self, request: _Request, operation_id: str) -> _Response:
        release = self._release(request)
        if release is None:
            return _error(404, "Not Found", operation_id)
        name = request.query["name"]
        if any(self._assets[a]["name"] == name for a in release["assets"]):
            error = {"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}
            return _error(422, "Validation Failed", operation_id, errors=[error])
        asset_id = self._new_id()
        self._assets[asset_id] = {
            "id": asset_id,
            "release_id": release["id"],
            "name": name,
            "label": request.query.get("label"),
            "content_type": request.headers["content-type"],
            "data": request.body,
            "digest": "sha256:" + hashlib.sha256(request.body).hexdigest(),
            "created_at": _now(),
            "login": request.login,
        }
        release["assets"].append(asset_id)
        return _Response(201, self._render_asset(self._assets[asset_id]), {})

    def _download(self, path: str) -> _Response:
        match = re.fullmatch(r"/([^/]+/[^/]+)/releases/download/([^/]+)/([^/]+)", path)
        if match:
            repo, tag, name = (urllib.parse.unquote(part) for part in match.groups())
            with self._lock:
                with contextlib.suppress(KeyError):
                    return _Response(200, self.asset_bytes(repo, tag, name), {"Content-Type": "application/octet-stream"})
        return _Response(404, b"Not Found", {"Content-Type": "text/plain"})


def _node_id(prefix: str, number: int) -> str:
    return f"{prefix}_kwDO" + base64.b64encode(f"standin:{number}".encode()).decode().rstrip("=")


def _graphql_error(kind: str, message: str) -> dict:
    return {"data": {"minimizeComment": None}, "errors": [{"type": kind, "path": ["minimizeComment"], "message": message}]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the body then waits for the
    # client's delayed ACK (about 40 ms a request on keep-alive connections).
    disable_nagle_algorithm = True
    server: _Server

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        response = self.server.standin.handle(self.command, self.path, headers, body)
        if response is None:
            self.close_connection = True
            return
        if response.body is None:
            payload, content_type = b"", None
        elif isinstance(response.body, bytes):
            payload, content_type = response.body, "application/octet-stream"
        else:
            payload, content_type = json.dumps(response.body).encode(), "application/json; charset=utf-8"
        self.send_response(response.status)
        reset = str(int(time.time()) + 3600)
        defaults = {
            "x-github-api-version-selected": "2022-11-28",
            "x-github-request-id": "0000:0000:STANDIN",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": reset,
            "x-ratelimit-used": "1",
            "x-ratelimit-resource": "core",
        }
        if content_type is not None:
            defaults["Content-Type"] = content_type
        for key, value in {**defaults, **response.headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: GitHubStandIn


@contextlib.contextmanager
def github_standin(strict: bool = True) -> Iterator[GitHubStandIn]:
    """Run a stand-in on 127.0.0.1 (ephemeral port); on exit, fail if the spec was violated."""
    standin = GitHubStandIn(strict=strict)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.standin = standin
    with running(server) as port:
        standin.base_url = f"http://127.0.0.1:{port}"
        yield standin
    if standin.violations:
        raise AssertionError("GitHub stand-in saw spec violations:\n" + "\n".join(standin.violations))
