"""One sticky report comment per config (and tag) on a pull request.

A hidden marker names the config and tag the comment is for; a second one records the head
commit the report describes. Just before writing, the pull request's current head is read from
GitHub, and only a run for that head writes: a late run for a commit the pull request has left
(pushed over, or force-pushed away from) changes nothing, whatever the commit times say.
When GitHub cannot say what the head is, nothing is written (GitHubError). Deciding what to do
from the existing comments (`plan`) is pure; `post_sticky_comment` does it, and `post_each`
renders and posts every config's comment of a review (the check's, or a report's).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import quote

from finetune_action.errors import GitHubError
from finetune_action.github import api
from finetune_action.redact import redact
from finetune_action.report.comment import render, truncate_middle

BEHAVIORS = ("update", "new", "hide-and-new", "delete-and-new", "off")

#: GitHub refuses longer comment bodies with 422.
BODY_LIMIT = 65536

# Comments written before the head check also carry the head commit's time; it is read past.
_VALID_AT = re.compile(r"<!-- finetune-action valid-at: sha=(?P<sha>[^\s>]*)(?: time=-?\d+)? -->\n?")


class CommentResult(NamedTuple):
    """What happened to the report comment."""

    action: str  # created | updated | unchanged | skipped-stale | off
    url: str | None  # the comment that now holds the report (None when off or none yet)
    hidden: int = 0  # older report comments minimized (hide-and-new)
    deleted: int = 0  # older report comments deleted (delete-and-new)
    note: str = ""  # why nothing was written (skipped-stale), for the log


class Plan(NamedTuple):
    """What `post_sticky_comment` will do, decided from the existing comments alone."""

    action: str  # create | update | unchanged | off
    target: api.Comment | None  # the comment to update, or the one left unchanged
    hide: list[api.Comment]
    delete: list[api.Comment]


def marker(config_path: str, tag: str = "") -> str:
    """The hidden line that identifies the comment for one config (and tag)."""
    # Quoting keeps "-->" and spaces out of the values, so no marker is a prefix of another.
    safe = "/._-@+=,:~"
    name = quote(config_path, safe=safe)
    return f"<!-- finetune-action: {name}{' tag=' + quote(tag, safe=safe) if tag else ''} -->"


def valid_at_marker(head_sha: str) -> str:
    """The hidden line recording which head commit the report describes."""
    return f"<!-- finetune-action valid-at: sha={head_sha} -->"


def valid_at(body: str) -> str | None:
    """The head commit a comment body was written for, if it says."""
    match = _VALID_AT.search(body)
    return match["sha"] if match else None


def _without_valid_at(body: str) -> str:
    return _VALID_AT.sub("", body)


def compose(body: str, config_path: str, tag: str, head_sha: str) -> str:
    """The full comment: markers first (so cutting the report never loses them), then the report."""
    header = marker(config_path, tag) + "\n" + valid_at_marker(head_sha) + "\n"
    return header + truncate_middle(body, BODY_LIMIT - len(header))


def _ours(existing: list[api.Comment], config_path: str, tag: str) -> list[api.Comment]:
    # The marker is text anyone can write in a comment: only the bot's (or a writer's) comments are ours to edit or delete.
    return [c for c in existing if c.by_us and marker(config_path, tag) in c.body]


def plan(existing: list[api.Comment], body: str, behavior: str, config_path: str, tag: str) -> Plan:
    """Decide what to do given the PR's comments (oldest first) and the composed new body."""
    if behavior == "off":
        return Plan("off", None, [], [])
    if behavior not in BEHAVIORS:
        raise ValueError(f"unknown comment behavior {behavior!r}")
    ours = _ours(existing, config_path, tag)
    visible = [c for c in ours if not c.minimized]
    # The same report for another head is not news: nothing is sent (the marker keeps the first head).
    if visible and _without_valid_at(visible[-1].body) == _without_valid_at(body):
        return Plan("unchanged", visible[-1], [], [])
    if behavior == "update" and visible:
        return Plan("update", visible[-1], [], [])
    if behavior == "hide-and-new":
        return Plan("create", None, visible, [])
    if behavior == "delete-and-new":
        return Plan("create", None, [], ours)
    return Plan("create", None, [], [])


def pull_head(client: api.GitHubClient, repo: str, pr_number: int) -> str:
    """The pull request's head commit as GitHub has it now; GitHubError when it cannot say."""
    rule = "Nothing was written: only a run for the pull request's current head writes the comment, and GitHub did not say which commit that is."
    try:
        return api.get_pull(client, repo, pr_number).head_sha
    except GitHubError as exc:
        raise GitHubError(f"{exc} {rule}", exc.status) from None


def _stale_note(pr_number: int, pull_sha: str, head_sha: str, kept: api.Comment | None) -> str:
    """The log line for a run whose head the pull request has left."""
    if kept is None:
        left = f"there is no report comment yet, the run for {pull_sha[:7]} writes it"
    else:
        left = f"the comment (for {(valid_at(kept.body) or 'an unrecorded head')[:7]}) is unchanged"
    this = head_sha[:7] or "no commit"
    return f"pull request #{pr_number} is now at {pull_sha[:7]} and this report is for {this}, a commit it has left, so nothing was written; {left}"


def post_sticky_comment(
    client: api.GitHubClient,
    repo: str,
    pr_number: int,
    config_path: str,
    body: str,
    behavior: str,
    tag: str,
    head_sha: str,
) -> CommentResult:
    """Put the report for `config_path` on the PR as `behavior` says, only if `head_sha` is the PR's head."""
    if behavior == "off":
        return CommentResult("off", None)
    # As GitHub will hold it (api.py redacts what it sends), so an unchanged report compares equal.
    full_body = redact(compose(body, config_path, tag, head_sha))
    existing = api.list_comments(client, repo, pr_number)
    decision = plan(existing, full_body, behavior, config_path, tag)
    if decision.action == "unchanged":
        return CommentResult("unchanged", decision.target.html_url or None)
    # Asked as late as possible: GitHub has no conditional write for comments, so the window in
    # which a push can slip between this answer and the write is this one round trip.
    pull_sha = pull_head(client, repo, pr_number)
    if pull_sha != head_sha:
        ours = _ours(existing, config_path, tag)
        kept = ours[-1] if ours else None
        note = _stale_note(pr_number, pull_sha, head_sha, kept)
        return CommentResult("skipped-stale", (kept.html_url or None) if kept else None, note=note)
    if decision.action == "update":
        updated = api.update_comment(client, repo, decision.target.id, full_body)
        return CommentResult("updated", updated.html_url or None)
    # Post the new report before removing old ones, so a failure never leaves the PR without one.
    created = api.create_comment(client, repo, pr_number, full_body)
    for comment in decision.hide:
        api.minimize_comment(client, comment.node_id)
    for comment in decision.delete:
        api.delete_comment(client, repo, comment.id)
    return CommentResult("created", created.html_url or None, hidden=len(decision.hide), deleted=len(decision.delete))


def post_each(
    client: api.GitHubClient, repository: str, number: int, review_data: dict[str, Any], behavior: str, tag: str,
    *, say: Callable[[str], None], verbosity: int = 0,
) -> None:
    """Render and post the comment of each config in `review_data`, if its head is still the PR's.

    One line per config says what happened; terse leaves out why nothing was written, detailed
    adds the head the report describes and the older reports hidden or deleted.
    """
    head_sha = review_data.get("head_sha") or ""
    for entry in review_data["configs"]:
        body = render(review_data, entry)
        result = post_sticky_comment(client, repository, number, entry["config"], body, behavior, tag, head_sha)
        said = " ".join(part for part in (result.action, result.url, verbosity >= 0 and result.note and f"({result.note})") if part)
        say(f"comment for {entry['config']}: {said}")
        if verbosity > 0:
            say(f"  describes head {head_sha or 'not named'}")
            for count, done in ((result.hidden, "hid"), (result.deleted, "deleted")):
                if count:
                    say(f"  {done} {count} older report comment{'s' if count != 1 else ''}")
