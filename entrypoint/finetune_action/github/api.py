"""The only module that speaks the GitHub API: one function per operation we use.

Retries 5xx answers, dropped connections and rate limits with capped waits, and turns every
refusal into a GitHubError that says what was tried, why it failed and what to do. Answers
become records here (answers.py reads each field with the type it must have): nothing
downstream reads GitHub's JSON. What is sent is redacted, and only to GitHub's own hosts.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests

from finetune_action import __version__
from finetune_action.errors import GitHubError
from finetune_action.github import answers
from finetune_action.github.answers import Comment, Pull, Release, ReleaseAsset
from finetune_action.redact import redact

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"

COMMENTS_PERMISSION = "pull-requests: write"
RELEASES_PERMISSION = "contents: write"

_RETRIED_STATUSES = (500, 502, 503, 504)

Record = TypeVar("Record")


class GitHubClient:
    """A token-authenticated session with GitHub's REST and GraphQL endpoints.

    `sleep` and `backoff` (seconds before the first retry, doubled after each) are injectable
    so tests never wait; `max_wait` caps the total time spent waiting on one request.
    """

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        graphql_url: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 1.0,
        max_wait: float = 300.0,
        attempts: int = 4,
        timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_url or _graphql_url(self.api_url)
        self.sleep = sleep
        self.backoff = backoff
        self.max_wait = max_wait
        self.attempts = attempts
        self.timeout = timeout
        self._token = token
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"finetune-action/{__version__}",
            }
        )

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r})"

    def close(self) -> None:
        self._session.close()


def client_from_env(env: Mapping[str, str], token: str, **options: Any) -> GitHubClient:
    """A client for the GitHub instance the run is on (GITHUB_API_URL, GITHUB_GRAPHQL_URL)."""
    return GitHubClient(
        token,
        env.get("GITHUB_API_URL") or DEFAULT_API_URL,
        env.get("GITHUB_GRAPHQL_URL") or None,
        **options,
    )


def _graphql_url(api_url: str) -> str:
    # GitHub Enterprise Server serves REST at /api/v3 and GraphQL at /api/graphql.
    if api_url.endswith("/api/v3"):
        return api_url[: -len("/v3")] + "/graphql"
    return api_url + "/graphql"


# -- the request loop --------------------------------------------------------------------


def _rate_limit_wait(response: requests.Response) -> float | None:
    """Seconds GitHub asks us to wait, or None when the answer is not a rate limit."""
    if response.status_code not in (403, 429):
        return None
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.isdigit():
        return float(retry_after)
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset", "")
        return max(float(reset) - time.time(), 0.0) + 1.0 if reset.isdigit() else 60.0
    if response.status_code == 429 or "rate limit" in _message(response).lower():
        return 60.0  # GitHub's advice when a secondary limit names no wait
    return None


def request(
    client: GitHubClient,
    method: str,
    url: str,
    what: str,
    permission: str,
    **kwargs: Any,
) -> requests.Response:
    """Send one request (path or absolute URL), retrying what is worth retrying.

    `what` says what we were doing ("update comment 12 on octo/repo#7") and `permission` the
    token permission it needs; both go into the error on failure.
    """
    if url.startswith("/"):
        url = client.api_url + url
    if not _own_host(client, url):
        # Only an answer names another URL (a next page, an upload URL); it never gets the token.
        raise GitHubError(f"GitHub's answer sent the request to {what} to {_origin(url)}, which is not {_origin(client.api_url)}: nothing was sent there. {_SHAPE_ADVICE}")
    headers = {"Authorization": f"Bearer {client._token}", **kwargs.pop("headers", {})}
    kwargs = _redacted(kwargs)
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            response = client._session.request(method, url, headers=headers, timeout=client.timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            # Also an answer cut short or garbled on its way: as passing as a dropped connection.
            if attempt >= client.attempts:
                raise GitHubError(
                    f"could not reach GitHub at {client.api_url} to {what} "
                    f"({exc.__class__.__name__}, {attempt} attempts). Check GITHUB_API_URL and the runner's network."
                ) from None
            wait = _backoff(client, attempt)
        except requests.RequestException as exc:
            # A URL requests cannot send to (a bad GITHUB_API_URL), or redirects without end: no retry mends it.
            raise GitHubError(
                f"could not send the request to {what} to GitHub at {client.api_url} ({exc.__class__.__name__}). Check GITHUB_API_URL."
            ) from None
        else:
            if response.status_code < 400:
                return response
            rate_wait = _rate_limit_wait(response)
            retryable = rate_wait is not None or response.status_code in _RETRIED_STATUSES
            if not retryable or attempt >= client.attempts:
                raise _error(client, response, what, permission)
            wait = rate_wait if rate_wait is not None else _backoff(client, attempt)
            if waited + wait > client.max_wait:
                raise _error(client, response, what, permission)
        waited += wait
        client.sleep(wait)


def request_json(client: GitHubClient, method: str, url: str, what: str, permission: str, convert: Callable[[Any], Record], **kwargs: Any) -> Record:
    """`request`, then its JSON body as the record `convert` reads from it."""
    answer = _body(client, request(client, method, url, what, permission, **kwargs), what)
    return _read(client, method, url, what, answer, convert)


def _body(client: GitHubClient, response: requests.Response, what: str) -> Any:
    # A proxy's HTML page or a wrong GITHUB_API_URL must be a clear GitHubError, not a crash.
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python parses
        kind = response.headers.get("content-type", "no content type")
        raise GitHubError(
            f"GitHub at {client.api_url} answered the request to {what} with something that is not JSON ({kind}, "
            f"HTTP {response.status_code}). Check GITHUB_API_URL (and any proxy in between)."
        ) from None


def _redacted(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a request sends (JSON, query, uploaded text) with every secret redacted: whatever
    writes to GitHub (a comment, release notes, an asset) goes through here."""
    sent = dict(kwargs)
    if "json" in sent:
        sent["json"] = _redact_json(sent["json"])
    if "params" in sent:
        sent["params"] = _redact_json(sent["params"])
    if isinstance(sent.get("data"), bytes):
        try:
            sent["data"] = redact(sent["data"].decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            pass  # not text: nothing in it reads as a key
    return sent


def _redact_json(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_json(item) for item in value]
    return value


def _backoff(client: GitHubClient, attempt: int) -> float:
    # Jitter spreads out the retries of matrix jobs that failed together.
    return client.backoff * 2 ** (attempt - 1) * (1 + random.random() / 10)


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return answers.text(body, "message")[:300] if isinstance(body, dict) else ""  # GitHub's words, bounded


def _validation_details(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    details = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            details.append(answers.text(error, "message") or " ".join(answers.text(error, k) for k in ("field", "code")).strip())
        elif isinstance(error, str):
            details.append(error)
    return "; ".join(detail[:300] for detail in details if detail)


def _error(client: GitHubClient, response: requests.Response, what: str, permission: str) -> GitHubError:
    status = response.status_code
    message = _message(response)
    answer = f"{status}: {message}" if message else str(status)
    if status == 401:
        text = (
            f"GitHub rejected the token while trying to {what} ({answer}): it is invalid or expired. "
            "Pass a valid token in the `github-token` input (the default is the job's GITHUB_TOKEN)."
        )
    elif _rate_limit_wait(response) is not None:
        text = (
            f"GitHub rate-limited the request to {what} ({answer}) for longer than this action waits "
            f"({client.attempts} attempts, at most {client.max_wait:.0f} s). Re-run the job later."
        )
    elif status == 403:
        accepted = response.headers.get("X-Accepted-GitHub-Permissions")
        hint = f" (GitHub accepts: {accepted})" if accepted else ""
        text = (
            f"GitHub refused to {what} ({answer}): the token lacks the `{permission}` permission{hint}. "
            f"Add `permissions: {permission}` to the job. Pull requests from forks get a read-only token: "
            "post from a workflow_run workflow instead (see the fork-safe example)."
        )
    elif status == 404:
        text = (
            f"GitHub found nothing while trying to {what} (404): it does not exist, or the token cannot see "
            "the repository. Check the repository and number, and that the token has access to it."
        )
    elif status == 422:
        details = _validation_details(response)
        text = f"GitHub rejected the request to {what} ({answer}){': ' + details if details else ''}."
    else:
        text = f"GitHub failed to {what} ({answer}). Re-run the job; if it persists see githubstatus.com."
    # GitHub does not echo tokens, but be sure; tokens shorter than any real one would mangle the text.
    if len(client._token) >= 16:
        text = text.replace(client._token, "***")
    return GitHubError(text, status)


MAX_PAGES = 1_000  # of 100 items: a list longer than 100,000 (comments on one pull request, releases) is not GitHub's


def paginate(client: GitHubClient, path: str, what: str, permission: str, convert: Callable[[Any], Record], **params: Any) -> Iterator[Record]:
    """Every item of a list endpoint as a record, following GitHub's Link headers.

    An entry `convert` cannot read is left out: it cannot be one of ours, and one junk entry
    must not hide the others.
    """
    url: str | None = path
    query: dict[str, Any] | None = {"per_page": 100, **params}
    read: set[str] = set()
    while url is not None:
        if url in read or len(read) >= MAX_PAGES:
            # A next link back to a page already read (or no end in sight) would be followed for ever.
            raise GitHubError(f"GitHub at {client.api_url} kept linking to more pages to {what} ({len(read)} read, the next one {'read already' if url in read else 'past the limit'}). {_SHAPE_ADVICE}")
        read.add(url)
        response = request(client, "GET", url, what, permission, params=query)
        page = _read(client, "GET", url, what, _body(client, response, what), answers.any_list)
        for item in page:
            try:
                yield convert(item)
            except answers.Unreadable:
                continue
        url = response.links.get("next", {}).get("url")
        query = None  # the next link carries the whole query


def graphql(client: GitHubClient, query: str, variables: dict[str, Any], what: str, permission: str, convert: Callable[[dict[str, Any]], Record]) -> Record:
    """Run a GraphQL query; its `data` as `convert` reads it. Errors in a 200 answer become GitHubError too."""
    data, errors = request_json(client, "POST", client.graphql_url, what, permission, answers.graphql, json={"query": query, "variables": variables})
    if not errors:
        return _read(client, "POST", client.graphql_url, what, data, convert)
    first = errors[0] if isinstance(errors[0], dict) else {}
    kind = answers.text(first, "type")
    message = "; ".join(answers.text(error, "message") if isinstance(error, dict) else "" for error in errors).strip("; ")[:500] or "no message"
    if kind == "FORBIDDEN":
        raise GitHubError(
            f"GitHub refused to {what} ({message}): the token lacks the `{permission}` permission. "
            f"Add `permissions: {permission}` to the job.",
            403,
        )
    if kind == "NOT_FOUND":
        raise GitHubError(f"GitHub found nothing while trying to {what} ({message}).", 404)
    raise GitHubError(f"GitHub's GraphQL API at {client.graphql_url} refused to {what}: {message}.")


# -- reading answers ---------------------------------------------------------------------

_SHAPE_ADVICE = (
    "Check GITHUB_API_URL (and any proxy in between); if it is GitHub's own address, re-run the job, "
    "and see githubstatus.com if it persists."
)


def _read(client: GitHubClient, method: str, url: str, what: str, answer: Any, convert: Callable[[Any], Record]) -> Record:
    """`convert(answer)` (a reader of answers.py), or a GitHubError saying which endpoint answered what and what to do."""
    try:
        return convert(answer)
    except answers.Unreadable as exc:
        endpoint = f"{method} {urlsplit(url).path}"
        raise GitHubError(f"GitHub at {client.api_url} answered {endpoint} (to {what}) with an answer this action cannot use: {exc}. {_SHAPE_ADVICE}") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _own_host(client: GitHubClient, url: str) -> bool:
    """Whether `url` is on one of GitHub's hosts for this run: the API's (REST, GraphQL) or its uploads host.

    github.com uploads at uploads.github.com, GHE.com at uploads.<name>.ghe.com beside
    api.<name>.ghe.com, GitHub Enterprise Server on the API's own host (/api/uploads).
    """
    api = urlsplit(client.api_url)
    uploads = f"{api.scheme}://uploads.{api.netloc.removeprefix('api.')}" if api.netloc.startswith("api.") else ""
    return _origin(url) in (_origin(client.api_url), _origin(client.graphql_url), uploads)


def _repo_path(repo: str) -> str:
    owner, name = repo.split("/")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


# -- repositories and pull requests -------------------------------------------------------


def get_repo(client: GitHubClient, repo: str) -> dict[str, Any]:
    """The repository object (default_branch, private, ...)."""
    return request_json(client, "GET", _repo_path(repo), f"read repository {repo}", "metadata: read", answers.any_object)


def get_pull(client: GitHubClient, repo: str, number: int) -> Pull:
    """The pull request: its head commit as GitHub has it now."""
    what = f"read pull request {repo}#{number}"
    return request_json(client, "GET", f"{_repo_path(repo)}/pulls/{number}", what, "pull-requests: read", answers.pull)


# -- issue comments ----------------------------------------------------------------------


def list_comments(client: GitHubClient, repo: str, number: int) -> list[Comment]:
    """Every comment on a pull request's conversation, oldest first."""
    what = f"list comments on {repo}#{number}"
    return list(paginate(client, f"{_repo_path(repo)}/issues/{number}/comments", what, "pull-requests: read", answers.comment))


def create_comment(client: GitHubClient, repo: str, number: int, body: str) -> Comment:
    """Post a new comment on a pull request."""
    what = f"comment on {repo}#{number}"
    path = f"{_repo_path(repo)}/issues/{number}/comments"
    return request_json(client, "POST", path, what, COMMENTS_PERMISSION, answers.comment, json={"body": body})


def update_comment(client: GitHubClient, repo: str, comment_id: int, body: str) -> Comment:
    """Replace the body of a comment."""
    what = f"update comment {comment_id} on {repo}"
    path = f"{_repo_path(repo)}/issues/comments/{comment_id}"
    return request_json(client, "PATCH", path, what, COMMENTS_PERMISSION, answers.comment, json={"body": body})


def delete_comment(client: GitHubClient, repo: str, comment_id: int) -> None:
    """Delete a comment."""
    what = f"delete comment {comment_id} on {repo}"
    request(client, "DELETE", f"{_repo_path(repo)}/issues/comments/{comment_id}", what, COMMENTS_PERMISSION)


_MINIMIZE = """mutation($subjectId: ID!, $classifier: ReportedContentClassifiers!) {
  minimizeComment(input: {subjectId: $subjectId, classifier: $classifier}) {
    minimizedComment { isMinimized }
  }
}"""


def minimize_comment(client: GitHubClient, node_id: str, classifier: str = "OUTDATED") -> None:
    """Hide a comment (GraphQL minimizeComment; REST has no such operation)."""
    variables = {"subjectId": node_id, "classifier": classifier}
    graphql(client, _MINIMIZE, variables, f"hide comment {node_id}", COMMENTS_PERMISSION, answers.minimized)


# -- releases ----------------------------------------------------------------------------


def get_release_by_tag(client: GitHubClient, repo: str, tag: str) -> Release | None:
    """The published release for `tag`, or None when there is none."""
    path = f"{_repo_path(repo)}/releases/tags/{quote(tag, safe='')}"
    try:
        return request_json(client, "GET", path, f"read release {tag} of {repo}", "contents: read", answers.release)
    except GitHubError as exc:
        if exc.status == 404:
            return None
        raise


def create_release(client: GitHubClient, repo: str, fields: dict[str, Any]) -> Release:
    """Create a release; `fields` are the API's (tag_name, name, body, target_commitish, ...)."""
    what = f"create release {fields['tag_name']} on {repo}"
    return request_json(client, "POST", f"{_repo_path(repo)}/releases", what, RELEASES_PERMISSION, answers.release, json=fields)


def update_release(client: GitHubClient, repo: str, release_id: int, fields: dict[str, Any]) -> Release:
    """Change a release's name, notes or other fields."""
    what, path = f"update release {release_id} on {repo}", f"{_repo_path(repo)}/releases/{release_id}"
    return request_json(client, "PATCH", path, what, RELEASES_PERMISSION, answers.release, json=fields)


def list_releases(client: GitHubClient, repo: str) -> Iterator[Release]:
    """The repository's releases, newest first."""
    return paginate(client, f"{_repo_path(repo)}/releases", f"list releases of {repo}", "contents: read", answers.release)


def download_release_asset(client: GitHubClient, repo: str, asset_id: int) -> bytes:
    """The bytes of a release asset (the API URL works for private repositories too)."""
    path = f"{_repo_path(repo)}/releases/assets/{asset_id}"
    return request(client, "GET", path, f"download release asset {asset_id} of {repo}", "contents: read", headers={"Accept": "application/octet-stream"}).content


def list_release_assets(client: GitHubClient, repo: str, release_id: int) -> list[ReleaseAsset]:
    """Every asset of a release."""
    what = f"list assets of release {release_id} on {repo}"
    return list(paginate(client, f"{_repo_path(repo)}/releases/{release_id}/assets", what, "contents: read", answers.asset))


def delete_release_asset(client: GitHubClient, repo: str, asset_id: int) -> None:
    """Delete a release asset."""
    what = f"delete release asset {asset_id} on {repo}"
    request(client, "DELETE", f"{_repo_path(repo)}/releases/assets/{asset_id}", what, RELEASES_PERMISSION)


def upload_release_asset(client: GitHubClient, release: Release, name: str, content: bytes, content_type: str) -> None:
    """Upload bytes as an asset, to the uploads host named by the release's upload_url."""
    url = release.upload_url.split("{", 1)[0]  # drop the URI template "{?name,label}"
    what = f"upload {name} to release {release.tag_name}"
    headers = {"Content-Type": content_type}
    request(client, "POST", url, what, RELEASES_PERMISSION, params={"name": name}, data=content, headers=headers)
