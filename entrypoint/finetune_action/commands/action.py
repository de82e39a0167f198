"""`finetune action`: what the container runs inside GitHub Actions.

Reads GitHub's environment, picks the mode from the event (or the `mode` input) and runs it:
check on pull requests, train on pushes to the default branch, resume on a schedule, and
comment for the fork-safe poster.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from finetune_action import git, outputs, review
from finetune_action.commands.comment import comment_from_workflow_run
from finetune_action.redact import redact
from finetune_action.errors import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, GitHubError
from finetune_action.github import actions, api, comments, releases
from finetune_action.github.context import Context, read_context
from finetune_action.report import comment as comment_report


def action(env: Mapping[str, str] | None = None) -> int:
    """Run the mode this GitHub event calls for; return the step's exit code."""
    env = os.environ if env is None else env
    ctx = read_context(env)
    if ctx.token:
        actions.add_mask(ctx.token)
    print(f"finetune-action: {ctx.event_name} event, mode {ctx.mode}", file=sys.stderr)
    if ctx.mode == "check":
        return run_check(ctx)
    if ctx.mode == "comment":
        return comment_from_workflow_run(ctx)
    from finetune_action.commands.train import run_in_action

    return run_in_action(ctx, env)


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def run_check(ctx: Context) -> int:
    """The PR check: review every config against the base, report everywhere, fail on new problems."""
    workspace = ctx.workspace
    pr = ctx.pull_request
    if pr:
        base = git.pull_request_base(workspace, pr.base_sha, pr.head_sha)
        head_sha = pr.head_sha
    else:
        base = git.Base(None, "not a pull request: nothing to compare with")
        head_sha = ctx.sha
    if base.sha is None:
        actions.warning(f"finetune-action cannot compare with the base branch: {base.note}")
    review_data = review.build(
        ctx.config_patterns,
        workspace,
        base=base,
        repository=ctx.repository,
        server_url=ctx.server_url,
        head_sha=head_sha,
        pull_request={"number": pr.number, "head_sha": pr.head_sha, "base_sha": pr.base_sha} if pr else None,
        log=_log,
    )
    attach_release_evals(ctx, review_data)
    report_path = write_report(ctx, review_data)
    publish(ctx, review_data)
    annotate(review_data)
    if pr:
        post_comments(ctx, review_data, pr.number)
    fail_on_budget = ctx.inputs["fail-on-budget"].lower() == "true"
    outputs = {**review.totals(review_data), "report-path": actions.workspace_path(report_path, ctx.workspace)}
    write_outputs(ctx, outputs)
    return exit_code(review_data, fail_on_budget)


def exit_code(review_data: dict[str, Any], fail_on_budget: bool) -> int:
    """2 when a config is invalid, 1 when data has errors or a budget is newly broken, else 0."""
    entries = review_data["configs"]
    if any(review.config_invalid(e) for e in entries):
        return EXIT_USAGE
    if any(review.failed(e, fail_on_budget) for e in entries):
        for e in entries:
            for v in (e.get("budget") or {}).get("violations", []):
                if v.get("new") and fail_on_budget:
                    with actions.stop_commands():
                        print(f"budget: {e['config']}: {v['message']}")
        return EXIT_PROBLEMS
    return EXIT_OK


def write_report(ctx: Context, review_data: dict[str, Any]) -> Path:
    """Write the review JSON where the `report-path` input says (inside the workspace)."""
    path = (ctx.workspace / ctx.inputs["report-path"]).resolve()
    outputs.prepare(path)  # the default, under finetune-output/, is ignored by git
    path.write_text(redact(json.dumps(review_data, indent=2, ensure_ascii=False) + "\n"), "utf-8")
    print(f"report written to {path}", file=sys.stderr)
    return path


def publish(ctx: Context, review_data: dict[str, Any]) -> None:
    """The job summary (always, comments or not) and a text report in the log."""
    # Each config keeps its verdict within what the step summary can still take (a summary cut
    # at its end would lose every later config).
    markdown = comment_report.render_summary(review_data, actions.summary_room(ctx.summary_path) if ctx.summary_path else comment_report.SUMMARY_BYTES)
    if ctx.summary_path:
        actions.append_summary(ctx.summary_path, markdown)
    with actions.group("finetune check report"), actions.stop_commands():
        print(markdown)


def annotate(review_data: dict[str, Any]) -> None:
    """Line annotations for data problems, the config key for config problems; 10 per level at most."""
    budget = actions.AnnotationBudget()
    for entry in review_data["configs"]:
        head = entry.get("head") or {}
        for level, problems in (("error", head.get("errors", [])), ("warning", head.get("warnings", []))):
            # The same total as the comment and the summary: kept problems plus those only counted.
            budget.count_unkept(level, comment_report.total(head, level + "s") - len(problems))
            for p in problems:
                if p.get("code") == "config-invalid":
                    key = str(p["message"]).split(": ", 1)[0] if ": " in str(p["message"]) else ""
                    title = f"finetune.yaml {key}" if key and " " not in key else "finetune.yaml"
                    budget.annotate(level, str(p["message"]), file=p["path"], line=p.get("line"), col=p.get("column"), title=title)
                    continue
                budget.annotate(level, f"{p['code']}: {p['message']}", file=p["path"], line=p.get("line"), col=p.get("column"), title=f"finetune check: {p['code']}")
    budget.close()


def attach_release_evals(ctx: Context, review_data: dict[str, Any]) -> None:
    """Beside each planned eval: the eval line of the config's current release, from its own model.json."""
    entries = [e for e in review_data["configs"] if (e.get("head") or {}).get("eval")]
    if not entries or not ctx.token:
        return
    client = api.client_from_env(os.environ, ctx.token)
    try:
        for entry in entries:
            found = releases.previous_record(client, ctx.repository, entry["name"], "")
            if found:
                entry["release_eval"] = {"tag": found[0], "model": found[1].get("fine_tuned_model"), "summary": found[1]["eval"].get("summary")}
    except GitHubError as exc:
        actions.warning(f"finetune-action could not read the current release's eval: {exc}")
    finally:
        client.close()


def post_comments(ctx: Context, review_data: dict[str, Any], number: int) -> None:
    """One sticky comment per config. A token that cannot comment never fails the check."""
    behavior = ctx.inputs["comment-behavior"]
    if behavior == "off":
        return
    if not ctx.token:
        actions.warning("finetune-action: no GitHub token, so no PR comment; pass `github-token` (the job summary has the report).")
        return
    client = api.client_from_env(os.environ, ctx.token)
    try:
        comments.post_each(client, ctx.repository, number, review_data, behavior, ctx.inputs["comment-tag"], say=_log)
    except GitHubError as exc:
        how = (
            "The report is in the job summary and in the report file. From a fork, use the fork-safe pair of workflows "
            "(README: Forks), or post it with `finetune comment --report " + ctx.inputs["report-path"] + "` using a token that can write."
        )
        actions.warning(f"finetune-action could not comment on the pull request: {exc} {how}")
    finally:
        client.close()


def write_outputs(ctx: Context, outputs: dict[str, str]) -> None:
    """Step outputs, when the runner gave us a GITHUB_OUTPUT file."""
    if ctx.output_path:
        for name, value in outputs.items():
            actions.set_output(ctx.output_path, name, value)
