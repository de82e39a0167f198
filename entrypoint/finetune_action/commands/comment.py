"""`finetune comment --report FILE`: post a report made elsewhere (e.g. by a fork's unprivileged run).

The report file is untrusted: it is size-capped, shape-checked and re-rendered with every
string escaped, and, like every report, it is only posted while the pull request's head is the
commit it was made for (github/comments.py asks GitHub just before writing).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from finetune_action import review
from finetune_action.errors import EXIT_OK, EnvironmentProblem, FinetuneError
from finetune_action.github import api, comments
from finetune_action.github.context import Context
from finetune_action.report import comment as comment_report

MAX_REPORT_BYTES = 20 * 1024 * 1024
MAX_CONFIGS = 50


class ReportError(FinetuneError):
    """The report file is missing or not a finetune-action review."""


def load_report(path: Path) -> dict[str, Any]:
    """Read and shape-check a review JSON file; every entry must render."""
    try:
        size = path.stat().st_size
    except OSError:
        raise ReportError(f"{path}: no such report file. Download the artifact first (see README: Forks).") from None
    if not path.is_file():
        raise ReportError(f"{path}: not a file. Pass the report file `finetune action` wrote (report-path), not its directory.")
    if size > MAX_REPORT_BYTES:
        raise ReportError(f"{path}: {size:,} bytes is too large for a report (limit {MAX_REPORT_BYTES:,}).")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: also JSON's errors, and integers of more digits than Python reads
        raise ReportError(f"{path}: not a JSON report ({exc.__class__.__name__}). Pass the file `finetune action` wrote (report-path).") from None
    if not isinstance(data, dict) or data.get("kind") != review.KIND or data.get("version") != review.VERSION:
        raise ReportError(f"{path}: not a finetune-action report (kind {review.KIND}, version {review.VERSION}).")
    configs = data.get("configs")
    if not isinstance(configs, list) or not configs or len(configs) > MAX_CONFIGS:
        raise ReportError(f"{path}: `configs` must be a list of 1 to {MAX_CONFIGS} entries.")
    for index, entry in enumerate(configs):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), str):
            raise ReportError(f"{path}: configs[{index}] is not a report entry.")
        try:
            comment_report.render(data, entry)
        except (TypeError, KeyError, ValueError, AttributeError, IndexError, OverflowError, RecursionError):
            # OverflowError: a number too big for a float (a 400-digit cost); the report is untrusted input.
            raise ReportError(f"{path}: configs[{index}] ({entry['config'][:100]!r}) is malformed and cannot be rendered.") from None
    if not isinstance(data.get("head_sha"), str) or not data["head_sha"]:
        raise ReportError(f"{path}: the report names no head commit (`head_sha`), so it cannot be matched to the pull request's head. Pass the file `finetune action` wrote (report-path).")
    return data


def comment(report_path: str, *, repository: str | None, number: int | None, behavior: str = "update", tag: str = "", verbosity: int = 0) -> int:
    """Post each config's comment from a report file on the pull request it names (or `number`); what happened goes to stdout."""
    data = load_report(Path(report_path))
    repository = repository or os.environ.get("GITHUB_REPOSITORY") or data.get("repository")
    number = number or (data.get("pull_request") or {}).get("number")
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not repository or not isinstance(number, int):
        raise EnvironmentProblem("which pull request? Pass --repo OWNER/NAME and --pr NUMBER (the report names none).")
    if not token:
        raise EnvironmentProblem("set GITHUB_TOKEN (or GH_TOKEN) to a token that can write pull-request comments.")
    client = api.client_from_env(os.environ, token)
    try:
        comments.post_each(client, repository, number, data, behavior, tag, say=print, verbosity=verbosity)
    finally:
        client.close()
    return EXIT_OK


def comment_from_workflow_run(ctx: Context) -> int:
    """The fork-safe poster: post the artifact's report on the PR whose head made it."""
    run = ctx.workflow_run
    assert run is not None  # read_context reads it in mode comment, or says why it cannot
    data = load_report(ctx.workspace / ctx.inputs["report-path"])
    if not ctx.token:
        raise EnvironmentProblem("mode comment needs a token that can write pull-request comments (`github-token`).")
    claimed = (data.get("pull_request") or {}).get("number")
    number = run.pull_requests[0] if run.pull_requests else claimed
    if not isinstance(number, int):
        raise EnvironmentProblem("the report names no pull request and the workflow_run event lists none (fork PRs are not listed).")
    # The event's head, not the report's claim: the artifact is untrusted, the event is GitHub's.
    data["repository"] = ctx.repository
    data["head_sha"] = run.head_sha
    client = api.client_from_env(os.environ, ctx.token)
    try:
        comments.post_each(client, ctx.repository, number, data, ctx.inputs["comment-behavior"], ctx.inputs["comment-tag"], say=lambda line: print(line, file=sys.stderr))
    finally:
        client.close()
    return EXIT_OK
