"""A malformed event payload: `finetune action` names the file and the field, asks nothing of GitHub, and never shows a traceback."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testing.action import event_payload, pull_request_event, push_event, run_action
from tests.commands.conftest import PR, REPO, TOKEN

SHA = "a" * 40


def _pull(change: Callable[[dict[str, Any]], None]) -> tuple[str, dict[str, Any], str]:
    event = pull_request_event(REPO, PR, base_sha="b" * 40, head_sha=SHA)
    change(event)
    return "pull_request", event, f"refs/pull/{PR}/merge"


def _push(change: Callable[[dict[str, Any]], None]) -> tuple[str, dict[str, Any], str]:
    event = push_event(REPO, SHA)
    change(event)
    return "push", event, ""  # no GITHUB_REF: the event's `ref` is read


def _workflow_run(change: Callable[[dict[str, Any]], None]) -> tuple[str, dict[str, Any], str]:
    event = event_payload("workflow_run.completed")
    event["workflow_run"].update(head_sha=SHA, event="pull_request")
    event["repository"]["full_name"] = REPO
    change(event)
    return "workflow_run", event, ""


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(event: dict[str, Any]) -> None:
        for key in parents:
            event = event[key]
        event[last] = value

    return change


@pytest.mark.parametrize(
    "make, path, value, reason",
    [
        (_pull, "pull_request.number", "42", "`pull_request.number` is a string, not a positive whole number"),
        (_pull, "pull_request.number", True, "`pull_request.number` is true, not a positive whole number"),
        (_pull, "pull_request.head", "main", "`pull_request.head` is a string, not an object"),
        (_pull, "pull_request.head.sha", 12345, "`pull_request.head.sha` is a number, not a non-empty string"),
        (_pull, "pull_request.base.sha", "--upload-pack=touch owned", "`pull_request.base.sha` is a string that is not a commit id"),
        (_pull, "pull_request.base.ref", None, "`pull_request.base.ref` is null, not a non-empty string"),
        (_pull, "repository.default_branch", 5, "`repository.default_branch` is a number, not a non-empty string"),
        (_push, "ref", ["refs/heads/main"], "`ref` is a list, not a non-empty string"),
        (_workflow_run, "workflow_run.head_sha", 1234, "`workflow_run.head_sha` is a number, not a non-empty string"),
        (_workflow_run, "workflow_run.head_sha", "main", "`workflow_run.head_sha` is a string that is not a commit id"),
        (_workflow_run, "workflow_run.pull_requests", {"number": PR}, "`workflow_run.pull_requests` is an object, not a list"),
        (_workflow_run, "workflow_run.pull_requests", [{"number": str(PR)}], "`workflow_run.pull_requests[0]`: `number` is a string, not a positive whole number"),
        (_workflow_run, "workflow_run.pull_requests", ["42"], "`workflow_run.pull_requests[0]`: a string where an object belongs"),
        (_workflow_run, "workflow_run", "completed", "`workflow_run` is a string, not an object"),
    ],
)
def test_a_malformed_field_is_named_with_the_event_file(tmp_path: Path, github, make, path: str, value: Any, reason: str) -> None:
    event_name, event, ref = make(_set(path, value))
    workspace = tmp_path / "work"
    workspace.mkdir()
    result = run_action(workspace, tmp_path / "runner", event_name, event, repository=REPO, api_url=github.base_url,
                        sha=SHA, ref=ref, inputs={"github-token": TOKEN})
    event_file = tmp_path / "runner" / "event.json"
    assert result.run.returncode == 2, result.run.stderr
    assert f"the {event_name} event payload {event_file} is not in GitHub's shape: {reason}." in result.run.stderr
    assert "GITHUB_EVENT_PATH must be the file the runner wrote for this event" in result.run.stderr
    assert "Traceback" not in result.run.stderr and "unexpected" not in result.run.stderr
    assert github.requests == [] and result.outputs == {}
    if isinstance(value, str) and len(value) > 5:
        assert value not in result.run.stderr  # the message names the field, never echoes its value


def test_comment_mode_without_a_workflow_run_says_where_it_runs(tmp_path: Path, github) -> None:
    workspace = tmp_path / "work"
    workspace.mkdir()
    result = run_action(workspace, tmp_path / "runner", "push", push_event(REPO, SHA), repository=REPO, api_url=github.base_url,
                        sha=SHA, ref="refs/heads/main", inputs={"github-token": TOKEN, "mode": "comment"})
    assert result.run.returncode == 2
    assert "mode comment runs on a workflow_run event (the fork-safe poster); this event has no workflow_run.head_sha." in result.run.stderr
    assert "Traceback" not in result.run.stderr and github.requests == []


def test_a_head_repo_in_another_shape_is_not_read(repo, tmp_path: Path, github) -> None:
    """The head's repository (null once a fork is deleted) is no field the check needs."""
    work, base = repo
    github.add_pull(REPO, PR, head_sha=base)
    event = pull_request_event(REPO, PR, base_sha=base, head_sha=base)
    event["pull_request"]["head"]["repo"] = "fork-owner/bots"
    result = run_action(work, tmp_path / "runner", "pull_request", event, repository=REPO, api_url=github.base_url,
                        sha=base, ref=f"refs/pull/{PR}/merge", inputs={"github-token": TOKEN})
    assert result.run.returncode == 0, result.run.stderr
    assert "Traceback" not in result.run.stderr and result.outputs["examples"] == "20"
