"""`finetune train` and `finetune resume` (and the action's train and resume modes).

For each config: check the data (refuse to spend on data that fails), fingerprint it, find the
job that fingerprint already has (reuse, re-attach, or retry only when asked), else upload and
create one; wait until it finishes, the wait times out (detach: the job keeps running), or a
signal arrives; then write model.json, publish the release and set the step outputs.
"""
from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from finetune_action import check as checking
from finetune_action import config as config_module
from finetune_action.config import Config
from finetune_action.errors import EXIT_OK, EXIT_PROBLEMS, EnvironmentProblem, FinetuneError, GitHubError
from finetune_action.evaluation import session, verdict
from finetune_action.github import actions, api, releases
from finetune_action.github.context import Context
from finetune_action.providers import get_provider
from finetune_action.providers.base import ACTION_INPUTS, ACTION_SETTINGS, FINISHED, Job, Provider
from finetune_action.report import diff
from finetune_action.report import json as json_report
from finetune_action.report import text as text_report
from finetune_action.training import launch, record, wait
from finetune_action.training.fingerprint import fingerprint, short

KEY_VARIABLES = tuple(ACTION_INPUTS)  # OPENAI_API_KEY, AZURE_OPENAI_API_KEY, TOGETHER_API_KEY, FIREWORKS_API_KEY


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


# --- entry points ---------------------------------------------------------------------------


def train(patterns: list[str], *, mode: str, retry_failed: bool, wait_timeout: str | None, env: Mapping[str, str], allow_over_budget: bool = False, verbosity: int = 0) -> int:
    """The CLI: train (or resume) each config; the release only when GITHUB_TOKEN and GITHUB_REPOSITORY are set."""
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    if in_actions:
        _mask_keys(env)
    token, repository = env.get("GITHUB_TOKEN", "").strip(), env.get("GITHUB_REPOSITORY", "").strip()
    run = Run(
        mode=mode,
        env=env,
        repository=repository,
        commit=env.get("GITHUB_SHA", ""),
        retry_failed=retry_failed,
        allow_over_budget=allow_over_budget,
        wait_timeout=_timeout(wait_timeout, "--wait-timeout"),
        display=wait.Display(in_actions, verbosity=verbosity),
        github=GitHubTarget(token, repository, env, in_actions) if token and repository else None,
    )
    paths = config_module.expand_config_paths(patterns, Path.cwd())
    return _finish(_run_all(paths, run), None, None, Path.cwd())


def run_in_action(ctx: Context, env: Mapping[str, str]) -> int:
    """The action's train and resume modes; keys from the inputs, release with the job's token."""
    env = dict(env)
    for variable, name in {**ACTION_INPUTS, **ACTION_SETTINGS}.items():
        value = ctx.inputs.get(name, "")
        if value:
            env[variable] = value
    _mask_keys(env)
    run = Run(
        mode=ctx.mode,
        env=env,
        repository=ctx.repository,
        commit=ctx.sha,
        retry_failed=ctx.inputs["retry-failed"].lower() == "true",
        allow_over_budget=ctx.inputs["allow-over-budget"].lower() == "true",
        wait_timeout=_timeout(ctx.inputs["wait-timeout"] or None, "input wait-timeout"),
        display=wait.Display(True),
        github=GitHubTarget(ctx.token, ctx.repository, env, True) if ctx.token else None,
    )
    if run.github is None:
        actions.warning("finetune-action: no GitHub token, so no release; pass `github-token` (model.json is still written).")
    paths = config_module.expand_config_paths(ctx.config_patterns, ctx.workspace)
    return _finish(_run_all(paths, run), ctx.output_path, ctx.summary_path, ctx.workspace)


def _mask_keys(env: Mapping[str, str]) -> None:
    for key in sorted({env.get(variable, "").strip() for variable in KEY_VARIABLES}):
        actions.add_mask(key)


def _timeout(value: str | None, where: str) -> float | None:
    if value is None:
        return None
    if value.strip() in ("0", "0s"):
        return 0.0  # launch (or look) and detach at once
    seconds = config_module.parse_duration(value)
    if seconds is None:
        raise EnvironmentProblem(f"{where}: {value!r} is not a duration; write it like 5h, 90m, 1h30m or 45s (0 to not wait).")
    return seconds


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


# --- one config -----------------------------------------------------------------------------


def _run_config(config: Config, run: Run) -> tuple[Outcome, str]:
    say = run.display.line
    try:
        # The key first: a missing key should not wait for a whole check of the data to be said.
        provider = get_provider(config.provider, run.env)
    except FinetuneError as exc:
        _error(run, str(exc), f"finetune {run.mode}: {config.display_path}")
        return Outcome(exc.exit_code), f"### {config.name}: {run.mode} failed\n\n{exc}\n"
    report = checking.check_config(config, log=_note if run.display.verbosity >= 0 else None)
    _show_report(run, report)
    if run.mode == "train" and report.errors:
        message = f"{config.display_path}: the data fails the check ({len(report.errors)} errors above); nothing was uploaded and no job started. Fix the data and push again."
        _error(run, message, "finetune train refused")
        return Outcome(EXIT_PROBLEMS), f"### {config.name}: not trained\n\n{message}\n"
    fp = fingerprint(config)
    say(f"{config.display_path}: fingerprint {short(fp)} (data + config + provider + model); estimate {text_report.usd(report.estimated_cost_usd)} for {report.billed_tokens:,} billed tokens")
    job: Job | None = None
    try:
        job = launch.find_job(provider, fp)
        job, ended = _attach_or_launch(config, run, provider, job, fp, report)
        if ended is not None:
            return ended
        assert job is not None
        if job.status not in FINISHED:
            timeout = run.wait_timeout if run.wait_timeout is not None else config.wait.timeout_seconds
            waited = wait.wait_for_job(provider, job, timeout=timeout, poll_interval=config.wait.poll_interval_seconds, display=run.display)
            job = waited.job
            if waited.timed_out:
                return _detached(config, run, job, timeout)
        if job.status == "succeeded":
            return _record(config, run, provider, job, fp, report)
        return _failed(config, run, job)
    except wait.Aborted as exc:
        return _aborted(config, run, provider, job, exc)
    except FinetuneError as exc:
        _error(run, str(exc), f"finetune {run.mode}: {config.display_path}")
        return Outcome(exc.exit_code, job.status if job else "", job.id if job else ""), f"### {config.name}: {run.mode} failed\n\n{exc}\n"


def _attach_or_launch(
    config: Config, run: Run, provider: Provider, job: Job | None, fp: str, report: checking.ConfigReport
) -> tuple[Job | None, tuple[Outcome, str] | None]:
    """The job to wait for, or the outcome when there is nothing to wait for."""
    say = run.display.line
    if job is not None and job.status == "succeeded":
        say(f"job {job.id} already trained this exact data and config ({job.fine_tuned_model}): reusing it; nothing uploaded, no new job")
        return job, None
    if job is not None and job.status not in FINISHED:
        say(f"re-attaching to job {job.id} ({job.status}), started for this exact data and config")
        return job, None
    if run.mode == "resume":
        if job is None:
            say(f"{config.display_path}: no job for fingerprint {short(fp)}: nothing to resume (resume never starts a job; training starts on push, or with `finetune train`).")
            return None, (Outcome(EXIT_OK), "")
        _warn(run, f"{config.display_path}: the last job for this data and config, {job.id}, is {job.status}{_reason(job)}. Resume does not start jobs: fix the data or config and push, or train again with retry-failed.")
        return None, (Outcome(EXIT_OK, job.status, job.id), f"### {config.name}: job {job.id} {job.status}\n\n{_reason(job).lstrip(': ')}\n")
    if job is not None and not (run.retry_failed or config.retry_failed):
        message = (
            f"{config.display_path}: job {job.id} for this exact data and config (fingerprint {short(fp)}) is {job.status}{_reason(job)}. "
            "Not starting another paid job automatically. Change the data or config, or ask for a retry: "
            "`retry_failed: true` in finetune.yaml, the `retry-failed: true` input, or `finetune train --retry-failed`."
        )
        _error(run, message, "finetune train: earlier job " + job.status)
        return None, (Outcome(EXIT_PROBLEMS, job.status, job.id), f"### {config.name}: not retried\n\n{message}\n")
    refused = _over_budget(config, run, report)
    if refused is not None:
        return None, refused
    if job is not None:
        say(f"job {job.id} for this data and config is {job.status}; retrying as asked")
    # GitHub passes RUNNER_TEMP to Docker actions without mounting it (actions/runner#1984).
    runner_temp = run.env.get("RUNNER_TEMP") or ""
    with tempfile.TemporaryDirectory(prefix="finetune-", dir=runner_temp if os.path.isdir(runner_temp) else None) as directory:
        prepared = launch.prepare_files(config, fp, Path(directory))
        commit = run.commit or _git_head(config.root)
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        job = launch.launch(provider, config, prepared, fp, commit=commit, repository=run.repository, date=today, log=say, estimated_usd=report.estimated_cost_usd)
    return job, None


def _over_budget(config: Config, run: Run, report: checking.ConfigReport) -> tuple[Outcome, str] | None:
    """The outcome when the budget forbids a new job (nothing uploaded yet), else None."""
    violations = diff.own_budget_violations(config.budget._asdict(), json_report.config_report(report))
    failing = [v["message"] for v in violations if v["new"]]
    for v in violations:
        if not v["new"] or run.allow_over_budget:
            _warn(run, f"{config.display_path}: {v['message']}" + (" Starting the job as allow-over-budget asks." if v["new"] else ""))
    if not failing or run.allow_over_budget:
        return None
    message = (
        f"{config.display_path}: not starting a paid job: {'; '.join(failing)}. Nothing was uploaded. Lower the cost, raise "
        "budget.max_usd, or train anyway with `finetune train --allow-over-budget` (the action's `allow-over-budget: true` input)."
    )
    _error(run, message, "finetune train: over budget")
    return Outcome(EXIT_PROBLEMS), f"### {config.name}: not trained\n\n{message}\n"


def _reason(job: Job) -> str:
    if job.error is None:
        return ""
    param = f" (param {job.error.param})" if job.error.param else ""
    return f": {job.error.code or 'error'}: {job.error.message}{param}"


def _record(config: Config, run: Run, provider: Provider, job: Job, fp: str, report: checking.ConfigReport) -> tuple[Outcome, str]:
    say = run.display.line
    commit = job.metadata.get("finetune_commit") or run.commit or _git_head(config.root)
    prepared = launch.prepare_files(config, fp, None)  # the same bytes as uploaded: their sha256 for the record
    checkpoints = provider.list_checkpoints(job.id)
    metrics = provider.file_content(job.result_files[0]) if job.result_files else None
    model = record.model_record(
        config=config,
        job=job,
        fingerprint=fp,
        prepared=prepared,
        checkpoints=checkpoints,
        estimated_cost_usd=report.estimated_cost_usd,
        estimated_billed_tokens=report.billed_tokens,
        provider_label=provider.label,
        commit=commit,
        repository=run.repository,
        metrics_csv=metrics is not None,
    )
    evaluated = _evaluate(config, run, model, record.release_tag(config, job, commit)) if config.eval else None
    path = record.write_record(record.output_dir(config), model, metrics)
    notes = record.notes(model, record.parse_metrics(metrics) if metrics else []) + (f"\n{evaluated.notes}" if evaluated else "")
    say(f"{config.display_path}: succeeded: {job.fine_tuned_model} (trained_tokens {job.trained_tokens}); record written to {path}")
    outcome = Outcome(EXIT_OK, job.status, job.id, job.fine_tuned_model or "", "", str(path), *_eval_outputs(evaluated))
    if evaluated and not evaluated.passed:
        # Recorded and released all the same: the model is kept, the release says it did not pass.
        _error(run, f"{config.display_path}: {job.fine_tuned_model} did not pass the eval gate: {'; '.join(evaluated.block['gate']['reasons'])}. The model is kept and recorded.", "finetune eval gate")
        outcome = outcome._replace(exit_code=EXIT_PROBLEMS)
    if run.github is None:
        say("release skipped: set GITHUB_TOKEN and GITHUB_REPOSITORY to record the model as a GitHub release")
        return outcome, notes
    tag = record.release_tag(config, job, commit)
    assets = [releases.Asset(record.MODEL_JSON, record.record_json(model).encode("utf-8"))]
    if metrics is not None:
        assets.append(releases.Asset(record.METRICS_CSV, metrics, "text/csv"))
    client = api.client_from_env(run.github.env, run.github.token)
    try:
        existing = _released(client, run.github.repository, tag) if run.mode == "resume" else None
        if existing:
            # A scheduled resume comes back every hour: leave a finished record alone.
            say(f"release {tag} already holds {record.MODEL_JSON}: nothing to update")
            return outcome._replace(release_url=existing), notes
        result = releases.publish_release(
            client, run.github.repository, tag, f"{config.name}: {job.fine_tuned_model}" + (" (did not pass the eval gate)" if evaluated and not evaluated.passed else ""), notes, assets,
            target_commitish=commit if run.github.target_commit and commit else None,
        )
    except GitHubError as exc:
        _error(run, f"the model is trained ({job.fine_tuned_model}) and {path} written, but the release failed: {exc} Re-run: the job is reused, not trained again.", "finetune release")
        return outcome._replace(exit_code=EXIT_PROBLEMS), notes
    finally:
        client.close()
    say(f"release {tag} {'created' if result.created else 'updated'}: {result.url}")
    return outcome._replace(release_url=result.url), notes


def _evaluate(config: Config, run: Run, model: dict, tag: str) -> session.Outcome | None:
    """The eval after training, into model["eval"]; an eval that cannot run is recorded as such, never loses the model."""
    try:
        previous = _previous_release(config, run, tag)
        evaluated = session.run(config, model, run.env, log=run.display.line, previous=previous[1] if previous else None, previous_release=previous[0] if previous else None)
    except session.Stopped:
        raise  # a cancelled run: the answers so far are cached; resume evaluates and records
    except FinetuneError as exc:
        _error(run, f"{config.display_path}: the model is trained, but the eval could not run: {exc} Run `finetune eval {config.display_path}` once fixed.", "finetune eval")
        model["eval"] = {"error": str(exc)}
        return session.Outcome(model["eval"], f"### Evaluation: not run\n\n{exc}\n", False)
    model["eval"] = evaluated.block
    return evaluated


def _previous_release(config: Config, run: Run, tag: str) -> tuple[str, dict] | None:
    """For eval.gate.no_regressions: the newest release of this config that passed, from its own model.json."""
    if not (config.eval and config.eval.gate.no_regressions and run.github):
        return None
    client = api.client_from_env(run.github.env, run.github.token)
    try:
        found = releases.previous_record(client, run.github.repository, config.name, tag)
    finally:
        client.close()
    run.display.line(f"eval: previous release {found[0]} ({found[1].get('fine_tuned_model')})" if found else "eval: no earlier release of this config passed its eval: no_regressions has nothing to hold yet")
    return found


def _eval_outputs(evaluated: session.Outcome | None) -> tuple[str, str]:
    """The eval-passed and eval-summary step outputs."""
    if evaluated is None:
        return "", ""
    summary = verdict.headline(evaluated.block) if "gate" in evaluated.block else evaluated.block.get("error", "")
    return ("true" if evaluated.passed else "false"), summary


def _released(client: api.GitHubClient, repository: str, tag: str) -> str | None:
    """The URL of the release for `tag` when it already has a model.json."""
    release = api.get_release_by_tag(client, repository, tag)
    if release and any(a.name == record.MODEL_JSON for a in api.list_release_assets(client, repository, release.id)):
        return release.html_url
    return None


def _failed(config: Config, run: Run, job: Job) -> tuple[Outcome, str]:
    if job.status == "cancelled":
        message = f"{config.display_path}: job {job.id} was cancelled. Train again with retry-failed (`--retry-failed`, or `retry_failed: true`)."
    else:
        message = f"{config.display_path}: job {job.id} {job.status}{_reason(job)}. Fix the cause, then push again (or retry with retry-failed)."
    _error(run, message, f"fine-tuning job {job.status}")
    return Outcome(EXIT_PROBLEMS, job.status, job.id), f"### {config.name}: job {job.status}\n\n{message}\n"


def _resume_hint(config: Config, run: Run) -> str:
    if run.display.in_actions:
        return "run the resume workflow (`mode: resume`, e.g. on a schedule) or re-run this one: it re-attaches to the job, it does not start another"
    return f"run `finetune resume {config.display_path}`"


def _detached(config: Config, run: Run, job: Job, timeout: float) -> tuple[Outcome, str]:
    message = (
        f"{config.display_path}: stopped waiting after {timeout:g} s; job {job.id} is still {job.status} at the provider. "
        f"To record the model when it is done, {_resume_hint(config, run)}."
    )
    if run.display.in_actions:
        actions.notice(message, title="finetune: detached from the job")
    else:
        run.display.line(message)
    return Outcome(EXIT_OK, "running", job.id), f"### {config.name}: still training\n\n{message}\n"


def _aborted(config: Config, run: Run, provider: Provider | None, job: Job | None, exc: wait.Aborted) -> tuple[Outcome, str]:
    say = run.display.line
    code = 128 + exc.signum
    if job is None:
        message = (
            f"{config.display_path}: stopped by {exc} before a job was known. If one was created, `finetune resume` "
            "(or the resume workflow) finds it; otherwise train again."
        )
        say(message)
        return Outcome(code), f"### {config.name}: stopped\n\n{message}\n"
    if config.wait.cancel_on_abort and provider is not None:
        try:
            job = provider.cancel_job(job.id)
            message = f"{config.display_path}: stopped by {exc}; cancelled job {job.id} as wait.cancel_on_abort asks."
        except FinetuneError as cancel_error:
            message = f"{config.display_path}: stopped by {exc}; could not cancel job {job.id}: {cancel_error}"
    else:
        message = f"{config.display_path}: stopped by {exc}; job {job.id} keeps running at the provider. To record the model, {_resume_hint(config, run)}."
    say(message)
    return Outcome(code, job.status if job.status in FINISHED else "running", job.id), f"### {config.name}: stopped\n\n{message}\n"


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
        _error(run, str(exc), "finetune.yaml")
        return
    shown = os.path.relpath(path)  # the workspace is the working directory in Actions
    for p in problems:
        actions.error(f"{p.key}: {p.message}" if p.key else p.message, file=shown, line=p.line, col=p.column, title=f"finetune.yaml {p.key}".rstrip())


def _error(run: Run, message: str, title: str) -> None:
    if run.display.in_actions:
        actions.error(message, title=title)
    else:
        print(f"error: {message}", file=sys.stderr, flush=True)


def _note(message: str) -> None:
    # Notes on the work in progress go to stderr, as in every command (README: Output).
    print(message, file=sys.stderr, flush=True)


def _warn(run: Run, message: str) -> None:
    if run.display.in_actions:
        actions.warning(message)
    else:
        print(f"warning: {message}", file=sys.stderr, flush=True)


def _git_head(root: Path) -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else ""
