"""What a GitHub Actions run tells us: event, repository, inputs, paths; and which mode to run.

Inputs arrive as INPUT_<NAME> (upper-cased, hyphens kept). INPUTS and OUTPUTS are the
action's whole interface; a test holds action.yml to them.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from finetune_action import outputs
from finetune_action.errors import EnvironmentProblem
from finetune_action.github import actions

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
    head_repository: str  # owner/name of the head; differs from the base repository for forks


class Context(NamedTuple):
    event_name: str
    event: dict[str, Any]
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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvironmentProblem(f"the event payload {path} is not readable JSON ({exc.__class__.__name__}).") from None
    if not isinstance(event, dict):
        raise EnvironmentProblem(f"the event payload {path} is not a JSON object.")
    return event


def _pull_request(event: dict[str, Any], event_path: str) -> PullRequest:
    try:
        pr = event["pull_request"]
        return PullRequest(
            number=int(pr["number"]),
            base_sha=str(pr["base"]["sha"]),
            base_ref=str(pr["base"]["ref"]),
            head_sha=str(pr["head"]["sha"]),
            head_repository=str((pr["head"].get("repo") or {}).get("full_name") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvironmentProblem(
            f"the pull_request event payload {event_path} lacks {exc} (pull_request.number, base.sha, base.ref, head.sha are needed)."
        ) from None


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


def read_context(env: Mapping[str, str]) -> Context:
    """Gather the run's context from the environment; EnvironmentProblem if it is missing or contradictory."""
    event_name = _require(env, "GITHUB_EVENT_NAME")
    event_path = _require(env, "GITHUB_EVENT_PATH")
    repository = _require(env, "GITHUB_REPOSITORY")
    if repository.count("/") != 1:
        raise EnvironmentProblem(f"GITHUB_REPOSITORY is {repository!r}; expected owner/name.")
    workspace = Path(_require(env, "GITHUB_WORKSPACE"))
    if not workspace.is_dir():
        raise EnvironmentProblem(f"GITHUB_WORKSPACE {workspace} is not a directory. Check out the repository first (actions/checkout).")
    event = _load_event(event_path)
    inputs = read_inputs(env)
    default_branch = (event.get("repository") or {}).get("default_branch") if isinstance(event.get("repository"), dict) else None
    ref = env.get("GITHUB_REF", "") or str(event.get("ref", ""))
    mode = select_mode(event_name, ref, default_branch, inputs["mode"])
    pull_request = _pull_request(event, event_path) if event_name in PULL_REQUEST_EVENTS else None
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
    output = env.get("GITHUB_OUTPUT")
    summary = env.get("GITHUB_STEP_SUMMARY")
    # Before anything is posted or spent: a run that cannot report its outputs should not start.
    for variable, path in (("GITHUB_OUTPUT", output), ("GITHUB_STEP_SUMMARY", summary)):
        if path:
            actions.check_runner_file(path, variable)
    return Context(
        event_name=event_name,
        event=event,
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
        default_branch=default_branch,
    )
