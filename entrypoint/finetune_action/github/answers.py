"""GitHub's answers as records: every field we use read with the type it must have.

Every field of an answer is untrusted input: a proxy, a wrong GITHUB_API_URL or a change at
GitHub can send any JSON. Each reader takes the fields we use and raises Unreadable, naming
the field and what came instead (never the value: it may be huge or hostile), when one we
cannot do without is not there; api.py makes that a GitHubError naming the endpoint, and
leaves such an entry of a list out. Fields we only show (a URL, a name) fall back to "".
The public readers (field, object_field, word, word_or_none, positive_int, commit, text) also
read the event payload, where github/context.py makes Unreadable an EnvironmentProblem.
"""
from __future__ import annotations

import re
from typing import Any, NamedTuple

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class Unreadable(Exception):
    """An answer (or one entry of a list answer) lacks a field we need, or has it in another shape."""


class Pull(NamedTuple):
    """A pull request, as far as we read it."""

    head_sha: str


class Comment(NamedTuple):
    """An issue comment on a pull request's conversation."""

    id: int
    node_id: str  # for GraphQL (hiding it)
    body: str
    html_url: str  # "" when GitHub gave none
    minimized: bool
    by_us: bool = True  # written by a bot (the token's app: github-actions[bot]) or by someone with write access, not by anyone else


class ReleaseAsset(NamedTuple):
    id: int
    name: str


class Release(NamedTuple):
    id: int
    tag_name: str
    name: str
    body: str
    html_url: str  # "" when GitHub gave none
    upload_url: str  # the uploads host's URI template
    draft: bool
    assets: tuple[ReleaseAsset, ...]


def pull(answer: Any) -> Pull:
    found = any_object(answer)
    object_field(found, "head")
    return Pull(commit(found, "head.sha"))


def comment(answer: Any) -> Comment:
    found = any_object(answer)
    body, kind = field(found, "body")
    if not isinstance(body, str) and body is not None:
        raise Unreadable(f"`body` is {kind}, not a string")
    minimized = found.get("minimized")
    user = found.get("user")
    bot = isinstance(user, dict) and user.get("type") == "Bot"
    by_us = bot or found.get("author_association") in WRITERS
    return Comment(positive_int(found), word(found, "node_id"), body or "", text(found, "html_url"), minimized is True or isinstance(minimized, dict), by_us)


#: author_association values of people who can write to the repository: a comment of theirs that
#: holds our marker may be the report posted with their token. Anyone else's is never updated or deleted.
WRITERS = ("OWNER", "MEMBER", "COLLABORATOR")


def asset(answer: Any) -> ReleaseAsset:
    found = any_object(answer)
    return ReleaseAsset(positive_int(found), word(found, "name"))


def release(answer: Any) -> Release:
    found = any_object(answer)
    assets = found.get("assets")
    readable = []
    for item in assets if isinstance(assets, list) else []:
        try:
            readable.append(asset(item))
        except Unreadable:
            continue
    return Release(
        positive_int(found), word(found, "tag_name"), text(found, "name"), text(found, "body"),
        text(found, "html_url"), word(found, "upload_url"), found.get("draft") is True, tuple(readable),
    )


def graphql(answer: Any) -> tuple[dict[str, Any], list[Any]]:
    """(data, errors) of a GraphQL answer: errors, or else data, is there."""
    body = any_object(answer)
    errors = any_list(body.get("errors") or [], "`errors`")
    if errors:
        return {}, errors
    return object_field(body, "data"), []


def minimized(data: dict[str, Any]) -> None:
    """The data of minimizeComment names the comment it hid."""
    object_field(data, "minimizeComment", where="`data.minimizeComment`")


def any_object(answer: Any) -> dict[str, Any]:
    """A whole answer that must be an object."""
    return _object(answer, "the answer")


def any_list(value: Any, where: str = "the answer") -> list[Any]:
    """An answer (or field) that must be a list."""
    if isinstance(value, list):
        return value
    if where == "the answer":
        raise Unreadable(f"{_kind(value)} where a list belongs")
    raise Unreadable(f"{where} is {_kind(value)}, not a list")


def text(found: dict[str, Any], key: str) -> str:
    """A string field we can do without: "" for null, absent or another type."""
    value = found.get(key)
    return value if isinstance(value, str) else ""


def object_field(found: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    """An object field we cannot do without; `where` names it in the message (default `key`)."""
    value, kind = field(found, key)
    return _object(value, where or f"`{key}`", missing=kind == "missing")


def word_or_none(found: dict[str, Any], key: str) -> str | None:
    """A string field that may be null or absent (None then); an empty string or another type is Unreadable."""
    return None if field(found, key)[0] is None else word(found, key)


def _kind(value: Any) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return {int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(type(value), "something else")


def _object(value: Any, where: str, missing: bool = False) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if where == "the answer":
        raise Unreadable(f"{_kind(value)} where an object belongs")
    raise Unreadable(f"{where} is {'missing' if missing else _kind(value)}, not an object")


def field(found: dict[str, Any], path: str) -> tuple[Any, str]:
    """The value at a dotted `path`, and what it is (or "missing") for the message."""
    value: Any = found
    keys = path.split(".")
    for depth, key in enumerate(keys):
        if not isinstance(value, dict):
            # Name the step that is not an object, not the leaf we hoped to find under it.
            raise Unreadable(f"`{'.'.join(keys[:depth])}` is {_kind(value)}, not an object")
        if key not in value:
            return None, "missing"
        value = value[key]
    return value, _kind(value)


def positive_int(found: dict[str, Any], key: str = "id") -> int:
    """A positive whole-number field we cannot do without (not true or false, not 2.0, and below
    2^63 as GitHub's ids are: a pull request number of 10**30 went into paths and messages)."""
    value, kind = field(found, key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    raise Unreadable(f"`{key}` is {kind if not isinstance(value, int) or isinstance(value, bool) else 'a number out of range'}, not a positive whole number")


def word(found: dict[str, Any], key: str) -> str:
    """A string field we cannot do without."""
    value, kind = field(found, key)
    if isinstance(value, str) and value:
        return value
    raise Unreadable(f"`{key}` is {'an empty string' if value == '' else kind}, not a non-empty string")


def commit(found: dict[str, Any], key: str) -> str:
    """A commit id field we cannot do without: 40 (or 64) lower-case hex digits, nothing else."""
    sha = word(found, key)
    if not _COMMIT.fullmatch(sha):
        raise Unreadable(f"`{key}` is a string that is not a commit id")
    return sha
