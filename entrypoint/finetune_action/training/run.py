"""How a `train` or `resume` run was asked to behave (Run), and what became of each config (Outcome)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from finetune_action import config as config_module
from finetune_action.errors import EnvironmentProblem
from finetune_action.github.context import Context
from finetune_action.providers.base import ACTION_INPUTS, ACTION_SETTINGS
from finetune_action.training import wait


class GitHubTarget(NamedTuple):
    """Where the release goes; None in a Run when there is no token or repository."""

    token: str
    repository: str
    env: Mapping[str, str]  # GITHUB_API_URL
    target_commit: bool  # the commit exists on GitHub (inside Actions), so the tag may point at it


class Run(NamedTuple):
    """How this invocation was asked to behave, shared by every config."""

    mode: str  # train | resume
    env: Mapping[str, str]
    repository: str
    commit: str  # of the checkout; a job records its own
    retry_failed: bool  # from the flag or input; finetune.yaml's retry_failed also counts
    allow_over_budget: bool  # from the flag or input: start a job over budget.max_usd
    wait_timeout: float | None  # overrides wait.timeout
    display: wait.Display
    github: GitHubTarget | None


def cli_run(*, mode: str, retry_failed: bool, wait_timeout: str | None, env: Mapping[str, str], allow_over_budget: bool, verbosity: int) -> Run:
    """`finetune train` / `resume`: from the flags; a release only when GITHUB_TOKEN and GITHUB_REPOSITORY are set."""
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    token, repository = env.get("GITHUB_TOKEN", "").strip(), env.get("GITHUB_REPOSITORY", "").strip()
    return Run(
        mode=mode,
        env=env,
        repository=repository,
        commit=env.get("GITHUB_SHA", ""),
        retry_failed=retry_failed,
        allow_over_budget=allow_over_budget,
        wait_timeout=_seconds(wait_timeout, "--wait-timeout"),
        display=wait.Display(in_actions, verbosity=verbosity),
        github=GitHubTarget(token, repository, env, in_actions) if token and repository else None,
    )


def action_run(ctx: Context, env: Mapping[str, str]) -> Run:
    """The action's train and resume modes: keys and provider settings from the inputs, a release with the job's token."""
    env = dict(env)
    for variable, name in {**ACTION_INPUTS, **ACTION_SETTINGS}.items():
        value = ctx.inputs.get(name, "")
        if value:
            env[variable] = value
    return Run(
        mode=ctx.mode,
        env=env,
        repository=ctx.repository,
        commit=ctx.sha,
        retry_failed=ctx.inputs["retry-failed"].lower() == "true",
        allow_over_budget=ctx.inputs["allow-over-budget"].lower() == "true",
        wait_timeout=_seconds(ctx.inputs["wait-timeout"] or None, "input wait-timeout"),
        display=wait.Display(True),
        github=GitHubTarget(ctx.token, ctx.repository, env, True) if ctx.token else None,
    )


class Outcome(NamedTuple):
    """What became of one config: its exit code and step outputs."""

    exit_code: int
    status: str = ""
    job_id: str = ""
    model_id: str = ""
    release_url: str = ""
    model_json: str = ""
    eval_passed: str = ""  # true | false | "" without eval:
    eval_summary: str = ""


def _seconds(value: str | None, where: str) -> float | None:
    """The --wait-timeout flag or wait-timeout input in seconds (0: do not wait); None when not given."""
    if value is None:
        return None
    if value.strip() in ("0", "0s"):
        return 0.0  # launch (or look) and detach at once
    seconds = config_module.parse_duration(value)
    if seconds is None:
        raise EnvironmentProblem(f"{where}: {value!r} is not a duration; write it like 5h, 90m, 1h30m or 45s (0 to not wait).")
    return seconds
