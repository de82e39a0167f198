"""`finetune train` and `finetune resume` (and the action's train and resume modes).

For each config: check the data (refuse to spend on data that fails), fingerprint it, find the
job that fingerprint already has (reuse, re-attach, or retry only when asked), else upload and
create one; wait until it finishes, the wait times out (detach: the job keeps running), or a
signal arrives; then write model.json, publish the release and set the step outputs.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from finetune_action import check as checking
from finetune_action import config as config_module
from finetune_action.config import Config
from finetune_action.errors import EXIT_OK, EXIT_PROBLEMS, FinetuneError
from finetune_action.github import actions
from finetune_action.github.context import Context
from finetune_action.providers import get_provider
from finetune_action.providers.base import ACTION_INPUTS, FINISHED, Job
from finetune_action.report import text as text_report
from finetune_action.training import endings, launch, release, start, wait
from finetune_action.training.fingerprint import fingerprint, short
from finetune_action.training.run import Outcome, Run, action_run, cli_run

KEY_VARIABLES = tuple(ACTION_INPUTS)  # OPENAI_API_KEY, AZURE_OPENAI_API_KEY, TOGETHER_API_KEY, FIREWORKS_API_KEY


def train(patterns: list[str], *, mode: str, retry_failed: bool, wait_timeout: str | None, env: Mapping[str, str], allow_over_budget: bool = False, verbosity: int = 0) -> int:
    """The CLI: train (or resume) each config; the release only when GITHUB_TOKEN and GITHUB_REPOSITORY are set."""
    if env.get("GITHUB_ACTIONS") == "true":
        _mask_keys(env)
    run = cli_run(mode=mode, retry_failed=retry_failed, wait_timeout=wait_timeout, env=env, allow_over_budget=allow_over_budget, verbosity=verbosity)
    paths = config_module.expand_config_paths(patterns, Path.cwd())
    return _finish(_run_all(paths, run), None, None, Path.cwd())


def run_in_action(ctx: Context, env: Mapping[str, str]) -> int:
    """The action's train and resume modes; keys from the inputs, release with the job's token."""
    run = action_run(ctx, env)
    _mask_keys(run.env)
    if run.github is None:
        actions.warning("finetune-action: no GitHub token, so no release; pass `github-token` (model.json is still written).")
    paths = config_module.expand_config_paths(ctx.config_patterns, ctx.workspace)
    return _finish(_run_all(paths, run), ctx.output_path, ctx.summary_path, ctx.workspace)


def _mask_keys(env: Mapping[str, str]) -> None:
    for key in sorted({env.get(variable, "").strip() for variable in KEY_VARIABLES}):
        actions.add_mask(key)


def _run_all(paths: list[Path], run: Run) -> list[tuple[str, Outcome, str]]:
    """(config, outcome, summary markdown) per config; a signal stops here, after its config."""
    results = []
    with wait.abort_on_signals():
        for path in paths:
            try:
                config = config_module.load(path)
            except FinetuneError as exc:
                _config_error(run, path, exc)
                results.append((str(path), Outcome(exc.exit_code), ""))
                continue
            if run.display.in_actions:
                actions.add_mask(run.env.get(config.provider.api_key_env, "").strip())
            try:
                outcome, summary = _run_config(config, run)
            except wait.Aborted as exc:  # a second signal while handling the first
                outcome, summary = Outcome(128 + exc.signum), ""
            results.append((config.display_path, outcome, summary))
            if outcome.exit_code >= 128:
                break
    return results


def _finish(results: list[tuple[str, Outcome, str]], output_path: Path | None, summary_path: Path | None, workspace: Path) -> int:
    if summary_path:
        text = "\n".join(summary for _config, _outcome, summary in results if summary)
        if text:
            actions.append_summary(summary_path, text)
    if output_path:
        # Paths relative to the workspace: the next step runs on the host, not in this container.
        outcomes = [o._replace(model_json=actions.workspace_path(Path(o.model_json), workspace) if o.model_json else "") for _c, o, _s in results]
        for name in ("model-id", "job-id", "status", "release-url", "model-json", "eval-passed", "eval-summary"):
            # One line per config, in config order (one config: just its value).
            actions.set_output(output_path, name, "\n".join(getattr(o, name.replace("-", "_")) for o in outcomes))
    return max((outcome.exit_code for _config, outcome, _summary in results), default=EXIT_OK)


def _run_config(config: Config, run: Run) -> tuple[Outcome, str]:
    say = run.display.line
    try:
        # The key first: a missing key should not wait for a whole check of the data to be said.
        provider = get_provider(config.provider, run.env)
    except FinetuneError as exc:
        run.display.error(str(exc), f"finetune {run.mode}: {config.display_path}")
        return Outcome(exc.exit_code), f"### {config.name}: {run.mode} failed\n\n{exc}\n"
    report = checking.check_config(config, log=_note if run.display.verbosity >= 0 else None)
    _show_report(run, report)
    if run.mode == "train" and report.errors:
        message = f"{config.display_path}: the data fails the check ({len(report.errors)} errors above); nothing was uploaded and no job started. Fix the data and push again."
        run.display.error(message, "finetune train refused")
        return Outcome(EXIT_PROBLEMS), f"### {config.name}: not trained\n\n{message}\n"
    fp = fingerprint(config)
    say(f"{config.display_path}: fingerprint {short(fp)} (data + config + provider + model); estimate {text_report.usd(report.estimated_cost_usd)} for {report.billed_tokens:,} billed tokens")
    job: Job | None = None
    try:
        job = launch.find_job(provider, fp)
        job, ended = start.attach_or_launch(config, run, provider, job, fp, report)
        if ended is not None:
            return ended
        assert job is not None
        if job.status not in FINISHED:
            timeout = run.wait_timeout if run.wait_timeout is not None else config.wait.timeout_seconds
            waited = wait.wait_for_job(provider, job, timeout=timeout, poll_interval=config.wait.poll_interval_seconds, display=run.display)
            job = waited.job
            if waited.timed_out:
                return endings.detached(config, run, job, timeout)
        if job.status == "succeeded":
            return release.succeeded(config, run, provider, job, fp, report)
        return endings.failed(config, run, job)
    except wait.Aborted as exc:
        return endings.aborted(config, run, provider, job, exc)
    except FinetuneError as exc:
        run.display.error(str(exc), f"finetune {run.mode}: {config.display_path}")
        return Outcome(exc.exit_code, job.status if job else "", job.id if job else ""), f"### {config.name}: {run.mode} failed\n\n{exc}\n"


def _show_report(run: Run, report: checking.ConfigReport) -> None:
    text = text_report.render(report, run.display.verbosity)
    if run.display.in_actions:
        with actions.group(f"finetune check: {report.config}"), actions.stop_commands():
            run.display.line(text)
    else:
        run.display.line(text)


def _config_error(run: Run, path: Path, exc: FinetuneError) -> None:
    """In Actions, one annotation per config problem at its line, as the PR check does."""
    problems = getattr(exc, "problems", ())
    if not (run.display.in_actions and problems):
        run.display.error(str(exc), "finetune.yaml")
        return
    shown = os.path.relpath(path)  # the workspace is the working directory in Actions
    for p in problems:
        actions.error(f"{p.key}: {p.message}" if p.key else p.message, file=shown, line=p.line, col=p.column, title=f"finetune.yaml {p.key}".rstrip())


def _note(message: str) -> None:
    # Notes on the work in progress go to stderr, as in every command (README: Output).
    print(message, file=sys.stderr, flush=True)
