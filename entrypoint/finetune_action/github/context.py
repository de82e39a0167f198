"""What a GitHub Actions run tells us: event, repository, inputs, paths; and which mode to run.

Inputs arrive as INPUT_<NAME> (upper-cased, hyphens kept). INPUTS and OUTPUTS are the
action's whole interface; a test holds action.yml to them.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from finetune_action import outputs
from finetune_action.errors import EnvironmentProblem
from finetune_action.github import actions, answers

#: Every input the entrypoint reads, with its default ("" = none).
INPUTS: dict[str, str] = {
    "config": "finetune.yaml",
    "mode": "auto",
    "github-token": "",
    "openai-api-key": "",
    "azure-openai-api-key": "",
    "together-api-key": "",
    "fireworks-api-key": "",
    "fireworks-account-id": "",
    "comment-behavior": "update",
    "comment-tag": "",
    "fail-on-budget": "true",
    "wait-timeout": "",
    "retry-failed": "false",
    "allow-over-budget": "false",
    "report-path": outputs.REPORT,
}

#: Every output the entrypoint writes.
OUTPUTS: tuple[str, ...] = (
    "examples",
    "billed-tokens",
    "estimated-cost-usd",
    "cost-delta-usd",
    "report-path",
    "model-id",
    "job-id",
    "status",
    "release-url",
    "model-json",
    "eval-passed",
    "eval-summary",
)

MODES = ("auto", "check", "train", "resume", "comment")
COMMENT_BEHAVIORS = ("update", "new", "hide-and-new", "delete-and-new", "off")
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")


class PullRequest(NamedTuple):
    number: int
    base_sha: str
    base_ref: str
    head_sha: str


class WorkflowRun(NamedTuple):
    """The run a workflow_run event reports on: the fork-safe poster posts for its head."""

    head_sha: str
    pull_requests: tuple[int, ...]  # the numbers GitHub lists; none for a fork's pull request


class Context(NamedTuple):
    event_name: str
    repository: str  # owner/name
    api_url: str
    server_url: str
    workspace: Path
    sha: str
    ref: str
    output_path: Path | None
    summary_path: Path | None
    inputs: dict[str, str]
    token: str | None
    mode: str  # check | train | resume, after "auto" is resolved
    pull_request: PullRequest | None
    workflow_run: WorkflowRun | None  # read in mode comment only
    default_branch: str | None

    @property
    def config_patterns(self) -> list[str]:
        return self.inputs["config"].split()


def read_inputs(env: Mapping[str, str]) -> dict[str, str]:
    """The action inputs, defaults filled in and surrounding whitespace removed."""
    return {name: actions.get_input(env, name) or default for name, default in INPUTS.items()}


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise EnvironmentProblem(
            f"{name} is not set. `finetune action` runs inside GitHub Actions, which sets it; "
            "outside Actions use `finetune check`, `finetune train` or `finetune resume` instead."
        )
    return value


def _load_event(path: str) -> dict[str, Any]:
    try:
        event = json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise EnvironmentProblem(f"GITHUB_EVENT_PATH points at {path}, which does not exist.") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: also an integer of more digits than Python reads
        raise EnvironmentProblem(f"the event payload {path} is not readable JSON ({exc.__class__.__name__}).") from None
    if not isinstance(event, dict):
        raise EnvironmentProblem(f"the event payload {path} is not a JSON object.")
    return event


def _pull_request(event: dict[str, Any]) -> PullRequest:
    return PullRequest(
        number=answers.positive_int(event, "pull_request.number"),
        base_sha=answers.commit(event, "pull_request.base.sha"),
        base_ref=answers.word(event, "pull_request.base.ref"),
        head_sha=answers.commit(event, "pull_request.head.sha"),
    )


def _workflow_run(event: dict[str, Any]) -> WorkflowRun:
    if event.get("workflow_run") is None:
        raise EnvironmentProblem("mode comment runs on a workflow_run event (the fork-safe poster); this event has no workflow_run.head_sha.")
    head_sha = answers.commit(event, "workflow_run.head_sha")
    listed = answers.any_list(answers.field(event, "workflow_run.pull_requests")[0] or [], "`workflow_run.pull_requests`")
    numbers = []
    for index, entry in enumerate(listed):
        try:
            numbers.append(answers.positive_int(answers.any_object(entry), "number"))
        except answers.Unreadable as exc:
            raise answers.Unreadable(f"`workflow_run.pull_requests[{index}]`: {exc}") from None
    return WorkflowRun(head_sha, tuple(numbers))


def _unreadable(event_name: str, event_path: str, exc: answers.Unreadable) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"the {event_name} event payload {event_path} is not in GitHub's shape: {exc}. "
        "GITHUB_EVENT_PATH must be the file the runner wrote for this event; a step that rewrites it must keep every field GitHub sends."
    )


def select_mode(event_name: str, ref: str, default_branch: str | None, mode_input: str) -> str:
    """The mode for this run: an explicit `mode` input always wins, else it follows the event."""
    if mode_input not in MODES:
        raise EnvironmentProblem(f"input mode: {mode_input!r} is not a mode. Use one of: {', '.join(MODES)}.")
    if mode_input != "auto":
        return mode_input
    if event_name in PULL_REQUEST_EVENTS:
        return "check"
    if event_name == "workflow_run":
        return "comment"  # the fork-safe poster: re-render a report made by an unprivileged run
    if event_name == "push":
        if default_branch and ref == f"refs/heads/{default_branch}":
            return "train"
        return "check"
    raise EnvironmentProblem(
        f"the {event_name} event does not say what to do: set the `mode` input to check, train or resume "
        "(for example `mode: resume` on a schedule)."
    )


_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")

#: An earlier report bigger than this is not read to tell it from another file: it is not ours.
REPORT_MAX_BYTES = 64 << 20


def check_report_path(workspace: Path, given: str) -> None:
    """The report goes inside the workspace and replaces nothing but an earlier report: a
    report-path naming the training data replaced it, and `../x` wrote outside the checkout."""
    where = f"input report-path: {given!r}"
    instead = f"name a new file inside the workspace, such as {outputs.REPORT} (the default)"
    path = (workspace / given).resolve()
    if not path.is_relative_to(workspace.resolve()):
        raise EnvironmentProblem(f"{where} lies outside the workspace; {instead}.")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise EnvironmentProblem(f"{where}: {parent.relative_to(workspace.resolve())} is a file, not a directory; {instead}.")
    if path.is_dir():
        raise EnvironmentProblem(f"{where} is a directory; {instead}.")
    if path.exists() and not _a_report(path):
        raise EnvironmentProblem(f"{where} is an existing file that is not a finetune-action report, and the report would replace it; {instead}.")


def _a_report(path: Path) -> bool:
    """Whether `path` holds a report an earlier run wrote (a JSON object with `version` and `configs`)."""
    try:
        if not path.is_file() or path.stat().st_size > REPORT_MAX_BYTES:
            return False
        found = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(found, dict) and "version" in found and isinstance(found.get("configs"), list)


def read_context(env: Mapping[str, str]) -> Context:
    """Gather the run's context from the environment; EnvironmentProblem if it is missing or contradictory."""
    event_name = _require(env, "GITHUB_EVENT_NAME")
    event_path = _require(env, "GITHUB_EVENT_PATH")
    repository = _require(env, "GITHUB_REPOSITORY")
    if not _REPOSITORY.fullmatch(repository):  # it goes into API paths and messages as it is
        raise EnvironmentProblem(f"GITHUB_REPOSITORY is {repository[:100]!r}; expected owner/name.")
    workspace = Path(_require(env, "GITHUB_WORKSPACE"))
    if not workspace.is_dir():
        raise EnvironmentProblem(f"GITHUB_WORKSPACE {workspace} is not a directory. Check out the repository first (actions/checkout).")
    event = _load_event(event_path)
    inputs = read_inputs(env)
    try:
        default_branch = answers.word_or_none(event, "repository.default_branch")
        ref = env.get("GITHUB_REF", "") or answers.word_or_none(event, "ref") or ""
        mode = select_mode(event_name, ref, default_branch, inputs["mode"])
        pull_request = _pull_request(event) if event_name in PULL_REQUEST_EVENTS else None
        workflow_run = _workflow_run(event) if mode == "comment" else None
    except answers.Unreadable as exc:
        raise _unreadable(event_name, event_path, exc) from None
    if mode == "train" and pull_request is not None:
        raise EnvironmentProblem(
            "mode train on a pull_request event would spend money on unmerged data; train on push to the default branch instead."
        )
    if inputs["comment-behavior"] not in COMMENT_BEHAVIORS:
        raise EnvironmentProblem(
            f"input comment-behavior: {inputs['comment-behavior']!r} is not valid. Use one of: {', '.join(COMMENT_BEHAVIORS)}."
        )
    for flag in ("fail-on-budget", "retry-failed", "allow-over-budget"):
        if inputs[flag].lower() not in ("true", "false"):
            raise EnvironmentProblem(f"input {flag}: {inputs[flag]!r} must be true or false.")
    check_report_path(workspace, inputs["report-path"])
    output = env.get("GITHUB_OUTPUT")
    summary = env.get("GITHUB_STEP_SUMMARY")
    # Before anything is posted or spent: a run that cannot report its outputs should not start.
    for variable, path in (("GITHUB_OUTPUT", output), ("GITHUB_STEP_SUMMARY", summary)):
        if path:
            actions.check_runner_file(path, variable)
    return Context(
        event_name=event_name,
        repository=repository,
        api_url=env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        server_url=env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
        workspace=workspace,
        sha=env.get("GITHUB_SHA", ""),
        ref=ref,
        output_path=Path(output) if output else None,
        summary_path=Path(summary) if summary else None,
        inputs=inputs,
        token=inputs["github-token"] or env.get("GITHUB_TOKEN") or None,
        mode=mode,
        pull_request=pull_request,
        workflow_run=workflow_run,
        default_branch=default_branch,
    )
