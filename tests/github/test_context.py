from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_action.errors import EnvironmentProblem
from finetune_action.github import context

EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "github" / "events"


def env_for(tmp_path: Path, event_name: str, event_file: str, **extra: str) -> dict[str, str]:
    event = json.loads((EVENTS / event_file).read_text())
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return {
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_REPOSITORY": "Codertocat/Hello-World",
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_SHA": "a" * 40,
        **extra,
    }


def test_pull_request_means_check(tmp_path: Path) -> None:
    ctx = context.read_context(env_for(tmp_path, "pull_request", "pull_request.synchronize.json", GITHUB_TOKEN="t"))
    assert ctx.mode == "check"
    assert ctx.pull_request.number == 2 and ctx.pull_request.base_ref == "master"
    assert ctx.token == "t" and ctx.config_patterns == ["finetune.yaml"]


def test_push_to_default_branch_means_train(tmp_path: Path) -> None:
    ctx = context.read_context(env_for(tmp_path, "push", "push.json", GITHUB_REF="refs/heads/master"))
    assert ctx.mode == "train"


def test_push_elsewhere_means_check(tmp_path: Path) -> None:
    ctx = context.read_context(env_for(tmp_path, "push", "push.json", GITHUB_REF="refs/heads/feature"))
    assert ctx.mode == "check"


def test_mode_input_wins(tmp_path: Path) -> None:
    ctx = context.read_context(env_for(tmp_path, "push", "push.json", GITHUB_REF="refs/heads/master", INPUT_MODE="resume"))
    assert ctx.mode == "resume"


def test_dispatch_needs_a_mode(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="set the `mode` input"):
        context.read_context(env_for(tmp_path, "workflow_dispatch", "workflow_dispatch.json"))


def test_inputs_keep_hyphens_and_token_input_wins(tmp_path: Path) -> None:
    env = env_for(tmp_path, "pull_request", "pull_request.opened.json", **{"INPUT_GITHUB-TOKEN": "input", "GITHUB_TOKEN": "env", "INPUT_COMMENT-BEHAVIOR": "new", "INPUT_CONFIG": "a.yaml\n b/*.yaml"})
    ctx = context.read_context(env)
    assert ctx.token == "input" and ctx.inputs["comment-behavior"] == "new"
    assert ctx.config_patterns == ["a.yaml", "b/*.yaml"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"GITHUB_EVENT_NAME": ""}, "GITHUB_EVENT_NAME is not set"),
        ({"GITHUB_REPOSITORY": "nope"}, "expected owner/name"),
        ({"GITHUB_REPOSITORY": "/"}, "expected owner/name"),  # "/" and "ac me/b ots" went into API paths as they were
        ({"GITHUB_REPOSITORY": "ac me/b ots"}, "expected owner/name"),
        ({"GITHUB_EVENT_PATH": "/nonexistent/event.json"}, "does not exist"),
        ({"INPUT_MODE": "deploy"}, "input mode: 'deploy' is not a mode"),
        ({"INPUT_MODE": "train"}, "train on push to the default branch"),
        ({"INPUT_COMMENT-BEHAVIOR": "sometimes"}, "comment-behavior"),
        ({"INPUT_FAIL-ON-BUDGET": "yes"}, "must be true or false"),
    ],
)
def test_bad_environment_is_explained(tmp_path: Path, change: dict, message: str) -> None:
    env = env_for(tmp_path, "pull_request", "pull_request.opened.json")
    env.update(change)
    with pytest.raises(EnvironmentProblem, match=message):
        context.read_context(env)


def test_pull_request_payload_without_base(tmp_path: Path) -> None:
    env = env_for(tmp_path, "pull_request", "pull_request.opened.json")
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps({"pull_request": {"number": 1}}))
    with pytest.raises(EnvironmentProblem, match="`pull_request.base.sha` is missing, not a non-empty string"):
        context.read_context(env)


def test_workflow_run_means_comment(tmp_path: Path) -> None:
    ctx = context.read_context(env_for(tmp_path, "workflow_run", "workflow_run.completed.json"))
    assert ctx.mode == "comment"


@pytest.mark.parametrize(("given", "message"), [
    ("data/train.jsonl", "is an existing file that is not a finetune-action report, and the report would replace it"),
    ("../outside.json", "lies outside the workspace"),
    ("data", "is a directory"),
    ("finetune.yaml/x.json", "finetune.yaml is a file, not a directory"),
])
def test_a_report_path_that_would_replace_or_escape_something_is_refused(tmp_path: Path, given: str, message: str) -> None:
    # report-path: data/train.jsonl replaced the training data with the report (exit 0); ../x
    # wrote outside the checkout; a directory was an unexpected IsADirectoryError after the check.
    workspace = tmp_path / "work"
    (workspace / "data").mkdir(parents=True)
    (workspace / "data" / "train.jsonl").write_text('{"messages": []}\n')
    (workspace / "finetune.yaml").write_text("version: 1\n")
    env = env_for(tmp_path, "pull_request", "pull_request.synchronize.json", GITHUB_WORKSPACE=str(workspace), **{"INPUT_REPORT-PATH": given})
    with pytest.raises(EnvironmentProblem, match=f"input report-path: '{given}'.*{message}"):
        context.read_context(env)
    assert (workspace / "data" / "train.jsonl").read_text() == '{"messages": []}\n' and not (tmp_path / "outside.json").exists()


def test_an_earlier_report_may_be_replaced(tmp_path: Path) -> None:
    report = tmp_path / "finetune-output" / "finetune-report.json"
    report.parent.mkdir()
    report.write_text(json.dumps({"version": 1, "configs": []}))
    context.read_context(env_for(tmp_path, "pull_request", "pull_request.synchronize.json"))


@pytest.mark.parametrize("payload", ["[" * 100_000 + "]" * 100_000, '{"x": 1' + "0" * 5000 + "}"])
def test_an_event_payload_python_cannot_read_is_a_clear_error(tmp_path: Path, payload: str) -> None:
    env = env_for(tmp_path, "pull_request", "pull_request.synchronize.json")
    Path(env["GITHUB_EVENT_PATH"]).write_text(payload)
    with pytest.raises(EnvironmentProblem, match="is not readable JSON"):
        context.read_context(env)


def test_a_pull_request_number_out_of_githubs_range_is_unreadable(tmp_path: Path) -> None:
    env = env_for(tmp_path, "pull_request", "pull_request.synchronize.json")
    event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
    event["pull_request"]["number"] = 10**30
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(event))
    with pytest.raises(EnvironmentProblem, match="a number out of range, not a positive whole number"):
        context.read_context(env)
