"""How a run ends without a new model: the job failed or was cancelled, the wait timed out
(detached: the job keeps running), or a signal stopped the run. Each says how to carry on.
"""
from __future__ import annotations

from finetune_action.config import Config
from finetune_action.errors import EXIT_OK, EXIT_PROBLEMS, FinetuneError
from finetune_action.github import actions
from finetune_action.providers.base import FINISHED, Job, Provider
from finetune_action.training import wait
from finetune_action.training.run import Outcome, Run


def failed(config: Config, run: Run, job: Job) -> tuple[Outcome, str]:
    """The job failed or was cancelled: an error saying what to change."""
    if job.status == "cancelled":
        message = f"{config.display_path}: job {job.id} was cancelled. Train again with retry-failed (`--retry-failed`, or `retry_failed: true`)."
    else:
        message = f"{config.display_path}: job {job.id} {job.status}{reason(job)}. Fix the cause, then push again (or retry with retry-failed)."
    run.display.error(message, f"fine-tuning job {job.status}")
    return Outcome(EXIT_PROBLEMS, job.status, job.id), f"### {config.name}: job {job.status}\n\n{message}\n"


def detached(config: Config, run: Run, job: Job, timeout: float) -> tuple[Outcome, str]:
    """The wait timed out: the job keeps running, and resume records it later."""
    message = (
        f"{config.display_path}: stopped waiting after {timeout:g} s; job {job.id} is still {job.status} at the provider. "
        f"To record the model when it is done, {_resume_hint(config, run)}."
    )
    if run.display.in_actions:
        actions.notice(message, title="finetune: detached from the job")
    else:
        run.display.line(message)
    return Outcome(EXIT_OK, "running", job.id), f"### {config.name}: still training\n\n{message}\n"


def aborted(config: Config, run: Run, provider: Provider | None, job: Job | None, exc: wait.Aborted) -> tuple[Outcome, str]:
    """A signal stopped the run: cancel the job when wait.cancel_on_abort asks, else say how to resume."""
    wait.handled()
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


def _resume_hint(config: Config, run: Run) -> str:
    if run.display.in_actions:
        return "run the resume workflow (`mode: resume`, e.g. on a schedule) or re-run this one: it re-attaches to the job, it does not start another"
    return f"run `finetune resume {config.display_path}`"


def reason(job: Job) -> str:
    """": code: message (param p)" of a job's error, for the end of a sentence; "" without one."""
    if job.error is None:
        return ""
    param = f" (param {job.error.param})" if job.error.param else ""
    return f": {job.error.code or 'error'}: {job.error.message}{param}"
