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
