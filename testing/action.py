"""Run `finetune action` the way the GitHub runner does: event payload, GITHUB_* variables, env files."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, NamedTuple

from testing.repo import Run, run_finetune

EVENTS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "github" / "events"


def event_payload(name: str) -> dict[str, Any]:
    """A real webhook payload from @octokit/webhooks-examples, e.g. "pull_request.synchronize"."""
    return copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text("utf-8")))


def pull_request_event(repo: str, number: int, base_sha: str, head_sha: str, base_ref: str = "main", head_repo: str | None = None) -> dict[str, Any]:
    """The synchronize payload, pointed at our repository, PR and commits."""
    event = event_payload("pull_request.synchronize")
    pr = event["pull_request"]
    event["number"] = pr["number"] = number
    pr["base"].update(sha=base_sha, ref=base_ref)
    pr["base"]["repo"]["full_name"] = repo
    pr["head"]["sha"] = head_sha
    pr["head"]["repo"]["full_name"] = head_repo or repo
    event["repository"].update(full_name=repo, default_branch=base_ref)
    return event


def push_event(repo: str, sha: str, branch: str = "main") -> dict[str, Any]:
    event = event_payload("push")
    event.update(ref=f"refs/heads/{branch}", after=sha)
    event["repository"].update(full_name=repo, default_branch="main")
    return event


class ActionRun(NamedTuple):
    run: Run
    outputs: dict[str, str]
    summary: str


def parse_outputs(text: str) -> dict[str, str]:
    """Read a $GITHUB_OUTPUT / $GITHUB_ENV file as the runner does: `name=value` lines and `name<<DELIMITER` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block: list[str] = []
            for body in lines:
                if body == delimiter:
                    break
                block.append(body)
            else:
                raise ValueError(f"{name}: delimiter {delimiter!r} never closes")
            values[name] = "\n".join(block)
        elif line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def run_action(
    workspace: Path,
    runner_temp: Path,
    event_name: str,
    event: dict[str, Any],
    *,
    repository: str,
    api_url: str,
    sha: str,
    ref: str = "",
    inputs: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    summary_before: str = "",
) -> ActionRun:
    """`finetune action` as a subprocess with a fresh event file, output file and summary file
    (holding `summary_before`: what an earlier step of the same composite action wrote)."""
    runner_temp.mkdir(parents=True, exist_ok=True)
    event_path = runner_temp / "event.json"
    event_path.write_text(json.dumps(event), "utf-8")
    output = runner_temp / "output.txt"
    summary = runner_temp / "summary.md"
    output.write_text("")
    summary.write_text(summary_before, "utf-8")
    variables = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": repository,
        "GITHUB_API_URL": api_url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_SHA": sha,
        "GITHUB_REF": ref,
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(runner_temp),
    }
    for name, value in (inputs or {}).items():
        variables[f"INPUT_{name.upper()}"] = value
    result = run_finetune("action", cwd=workspace, env={**variables, **(env or {})})
    return ActionRun(result, parse_outputs(output.read_text("utf-8")), summary.read_text("utf-8"))
