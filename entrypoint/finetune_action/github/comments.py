"""One sticky report comment per config (and tag) on a pull request.

A hidden marker names the config and tag the comment is for; a second one says which head
commit it is valid at, so a run for an older commit that finishes late never replaces a report
written for a newer one. Deciding what to do (`plan`) is pure; `post_sticky_comment` does it.
"""
from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote

from finetune_action.github import api
from finetune_action.report.comment import truncate_middle

BEHAVIORS = ("update", "new", "hide-and-new", "delete-and-new", "off")

#: GitHub refuses longer comment bodies with 422.
BODY_LIMIT = 65536

_VALID_AT = re.compile(r"<!-- finetune-action valid-at: sha=(?P<sha>\S*) time=(?P<time>-?\d+) -->\n?")


class CommentResult(NamedTuple):
    """What happened to the report comment."""

    action: str  # created | updated | unchanged | skipped-stale | off
    url: str | None  # the comment that now holds the report (None when off)
    hidden: int = 0  # older report comments minimized (hide-and-new)
    deleted: int = 0  # older report comments deleted (delete-and-new)


class Plan(NamedTuple):
    """What `post_sticky_comment` will do, decided from the existing comments alone."""

    action: str  # create | update | unchanged | skipped-stale | off
    target: dict | None  # the comment to update, or the one that made us stop
    hide: list[dict]
    delete: list[dict]


def marker(config_path: str, tag: str = "") -> str:
    """The hidden line that identifies the comment for one config (and tag)."""
    # Quoting keeps "-->" and spaces out of the values, so no marker is a prefix of another.
    safe = "/._-@+=,:~"
    name = quote(config_path, safe=safe)
    return f"<!-- finetune-action: {name}{' tag=' + quote(tag, safe=safe) if tag else ''} -->"


def valid_at_marker(head_sha: str, head_time: int) -> str:
    """The hidden line recording which head commit (and its time) the report is valid at."""
    return f"<!-- finetune-action valid-at: sha={head_sha} time={head_time} -->"


def valid_at(body: str) -> tuple[str, int] | None:
    """The (head sha, head time) a comment body was written for, if it says."""
    match = _VALID_AT.search(body)
    return (match["sha"], int(match["time"])) if match else None


def _without_valid_at(body: str) -> str:
    return _VALID_AT.sub("", body)


def compose(body: str, config_path: str, tag: str, head_sha: str, head_time: int | None) -> str:
    """The full comment: markers first (so cutting the report never loses them), then the report."""
    lines = [marker(config_path, tag)]
    if head_time is not None:
        lines.append(valid_at_marker(head_sha, head_time))
    header = "\n".join(lines) + "\n"
    return header + truncate_middle(body, BODY_LIMIT - len(header))


def plan(existing: list[dict], body: str, behavior: str, config_path: str, tag: str, head_time: int | None) -> Plan:
    """Decide what to do given the PR's comments (oldest first) and the composed new body."""
    if behavior == "off":
        return Plan("off", None, [], [])
    if behavior not in BEHAVIORS:
        raise ValueError(f"unknown comment behavior {behavior!r}")
    ours = [c for c in existing if marker(config_path, tag) in (c.get("body") or "")]
    visible = [c for c in ours if not c.get("minimized")]
    # Hidden reports still count for staleness: they were written by a run for that head.
    stamps = [(valid_at(c["body"]), c) for c in ours]
    newer = [c for stamp, c in stamps if head_time is not None and stamp is not None and stamp[1] > head_time]
    if newer:
        return Plan("skipped-stale", newer[-1], [], [])
    if visible and _without_valid_at(visible[-1]["body"]) == _without_valid_at(body):
        return Plan("unchanged", visible[-1], [], [])
    if behavior == "update" and visible:
        return Plan("update", visible[-1], [], [])
    if behavior == "hide-and-new":
        return Plan("create", None, visible, [])
    if behavior == "delete-and-new":
        return Plan("create", None, [], ours)
    return Plan("create", None, [], [])


def post_sticky_comment(
    client: api.GitHubClient,
    repo: str,
    pr_number: int,
    config_path: str,
    body: str,
    behavior: str,
    tag: str,
    head_sha: str,
    head_time: int | None,
) -> CommentResult:
    """Put the report for `config_path` on the PR as `behavior` says; never overwrite a newer report.

    `head_time` orders runs (the head commit's Unix time); None turns the stale guard off.
    """
    if behavior == "off":
        return CommentResult("off", None)
    full_body = compose(body, config_path, tag, head_sha, head_time)
    decision = plan(api.list_comments(client, repo, pr_number), full_body, behavior, config_path, tag, head_time)
    if decision.action in ("unchanged", "skipped-stale"):
        return CommentResult(decision.action, decision.target["html_url"])
    if decision.action == "update":
        updated = api.update_comment(client, repo, decision.target["id"], full_body)
        return CommentResult("updated", updated["html_url"])
    # Post the new report before removing old ones, so a failure never leaves the PR without one.
    created = api.create_comment(client, repo, pr_number, full_body)
    for comment in decision.hide:
        api.minimize_comment(client, comment["node_id"])
    for comment in decision.delete:
        api.delete_comment(client, repo, comment["id"])
    return CommentResult("created", created["html_url"], hidden=len(decision.hide), deleted=len(decision.delete))
