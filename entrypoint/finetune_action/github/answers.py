"""GitHub's answers as records: every field we use read with the type it must have.

Every field of an answer is untrusted input: a proxy, a wrong GITHUB_API_URL or a change at
GitHub can send any JSON. Each reader takes the fields we use and raises Unreadable, naming
the field and what came instead (never the value: it may be huge or hostile), when one we
cannot do without is not there; api.py makes that a GitHubError naming the endpoint, and
leaves such an entry of a list out. Fields we only show (a URL, a name) fall back to "".
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
    head, kind = _field(found, "head")
    _object(head, "`head`", missing=kind == "missing")
    sha = _word(found, "head.sha")
    if not _COMMIT.fullmatch(sha):
        raise Unreadable("`head.sha` is a string that is not a commit id")
    return Pull(sha)


def comment(answer: Any) -> Comment:
    found = any_object(answer)
    body, kind = _field(found, "body")
    if not isinstance(body, str) and body is not None:
        raise Unreadable(f"`body` is {kind}, not a string")
    minimized = found.get("minimized")
    return Comment(_id(found), _word(found, "node_id"), body or "", text(found, "html_url"), minimized is True or isinstance(minimized, dict))


def asset(answer: Any) -> ReleaseAsset:
    found = any_object(answer)
    return ReleaseAsset(_id(found), _word(found, "name"))


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
        _id(found), _word(found, "tag_name"), text(found, "name"), text(found, "body"),
        text(found, "html_url"), _word(found, "upload_url"), found.get("draft") is True, tuple(readable),
    )


def graphql(answer: Any) -> tuple[dict[str, Any], list[Any]]:
    """(data, errors) of a GraphQL answer: errors, or else data, is there."""
    body = any_object(answer)
    errors = any_list(body.get("errors") or [], "`errors`")
    if errors:
        return {}, errors
    data, kind = _field(body, "data")
    return _object(data, "`data`", missing=kind == "missing"), []


def minimized(data: dict[str, Any]) -> None:
    """The data of minimizeComment names the comment it hid."""
    value, kind = _field(data, "minimizeComment")
    _object(value, "`data.minimizeComment`", missing=kind == "missing")


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


def _field(found: dict[str, Any], path: str) -> tuple[Any, str]:
    """The value at a dotted `path`, and what it is (or "missing") for the message."""
    value: Any = found
    for key in path.split("."):
        if not isinstance(value, dict):
            return None, _kind(value)
        if key not in value:
            return None, "missing"
        value = value[key]
    return value, _kind(value)


def _id(found: dict[str, Any], key: str = "id") -> int:
    value, kind = _field(found, key)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise Unreadable(f"`{key}` is {kind}, not a positive whole number")


def _word(found: dict[str, Any], key: str) -> str:
    """A string field we cannot do without."""
    value, kind = _field(found, key)
    if isinstance(value, str) and value:
        return value
    raise Unreadable(f"`{key}` is {'an empty string' if value == '' else kind}, not a non-empty string")
