"""Which job a run waits for: the one this fingerprint already has (reused or re-attached), or a
new one when the mode, retry_failed and the budget allow it; else the outcome that says why not.
"""
from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from finetune_action import check as checking
from finetune_action import git
from finetune_action.config import Config
from finetune_action.errors import EXIT_OK, EXIT_PROBLEMS, EnvironmentProblem
from finetune_action.evaluation import session
from finetune_action.providers import inference
from finetune_action.providers.base import FINISHED, Job, Provider, api_key
from finetune_action.report import diff
from finetune_action.report import json as json_report
from finetune_action.training import launch
from finetune_action.training.endings import reason
from finetune_action.training.fingerprint import short
from finetune_action.training.run import Outcome, Run


def attach_or_launch(
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
        run.display.warning(f"{config.display_path}: the last job for this data and config, {job.id}, is {job.status}{reason(job)}. Resume does not start jobs: fix the data or config and push, or train again with retry-failed.")
        return None, (Outcome(EXIT_OK, job.status, job.id), f"### {config.name}: job {job.id} {job.status}\n\n{reason(job).lstrip(': ')}\n")
    if job is not None and not (run.retry_failed or config.retry_failed):
        message = (
            f"{config.display_path}: job {job.id} for this exact data and config (fingerprint {short(fp)}) is {job.status}{reason(job)}. "
            "Not starting another paid job automatically. Change the data or config, or ask for a retry: "
            "`retry_failed: true` in finetune.yaml, the `retry-failed: true` input, or `finetune train --retry-failed`."
        )
        run.display.error(message, "finetune train: earlier job " + job.status)
        return None, (Outcome(EXIT_PROBLEMS, job.status, job.id), f"### {config.name}: not retried\n\n{message}\n")
    refused = _over_budget(config, run, report)
    if refused is not None:
        return None, refused
    if job is not None:
        say(f"job {job.id} for this data and config is {job.status}; retrying as asked")
    for problem in eval_preflight(config, run.env):
        run.display.warning(f"{config.display_path}: the eval after training will not run: {problem} Training goes ahead; the model is recorded, and `finetune eval {config.display_path}` evaluates it once that is fixed.")
    # GitHub passes RUNNER_TEMP to Docker actions without mounting it (actions/runner#1984).
    runner_temp = run.env.get("RUNNER_TEMP") or ""
    with tempfile.TemporaryDirectory(prefix="finetune-", dir=runner_temp if os.path.isdir(runner_temp) else None) as directory:
        prepared = launch.prepare_files(config, fp, Path(directory))
        commit = run.commit or git.head_sha(config.root)
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        job = launch.launch(provider, config, prepared, fp, commit=commit, repository=run.repository, date=today, log=say, estimated_usd=report.estimated_cost_usd)
    return job, None


def eval_preflight(config: Config, env: Mapping[str, str]) -> list[str]:
    """What would stop the eval after training from asking its models, said before a job is paid
    for: a provider key or an Azure endpoint it needs that is not set. One message per provider
    settings the eval asks (its models, and the judge where a grader asks it); and a fine-tune the
    eval would ask at Azure OpenAI, which answers it only once deployed."""
    if config.eval is None:
        return []
    entries = list(config.eval.models)
    if config.eval.judge is not None and any(g.type.startswith("judge_") for g in config.eval.graders):
        entries.append(config.eval.judge)
    found = [needed for needed in (session.azure_deployment_needed(entry, config) for entry in config.eval.models) if needed]
    for settings in dict.fromkeys(entry.provider or config.provider for entry in entries):
        try:
            endpoint = inference.endpoint(settings, env)
            api_key(settings, env, endpoint.label, "evaluating")
        except EnvironmentProblem as exc:
            if str(exc) not in found:
                found.append(str(exc))
    return found


def _over_budget(config: Config, run: Run, report: checking.ConfigReport) -> tuple[Outcome, str] | None:
    """The outcome when the budget forbids a new job (nothing uploaded yet), else None."""
    violations = diff.own_budget_violations(config.budget._asdict(), json_report.config_report(report))
    failing = [v["message"] for v in violations if v["new"]]
    for v in violations:
        if not v["new"] or run.allow_over_budget:
            run.display.warning(f"{config.display_path}: {v['message']}" + (" Starting the job as allow-over-budget asks." if v["new"] else ""))
    if not failing or run.allow_over_budget:
        return None
    message = (
        f"{config.display_path}: not starting a paid job: {'; '.join(failing)}. Nothing was uploaded. Lower the cost, raise "
        "budget.max_usd, or train anyway with `finetune train --allow-over-budget` (the action's `allow-over-budget: true` input)."
    )
    run.display.error(message, "finetune train: over budget")
    return Outcome(EXIT_PROBLEMS), f"### {config.name}: not trained\n\n{message}\n"
