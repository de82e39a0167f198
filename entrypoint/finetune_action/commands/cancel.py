"""`finetune cancel`: stop the running job of each config (found by its fingerprint), or --job."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from finetune_action import config as config_module
from finetune_action.errors import EXIT_OK
from finetune_action.training import launch, wait
from finetune_action.training.fingerprint import short


def cancel(patterns: list[str], *, job_id: str | None, env: Mapping[str, str], verbosity: int = 0) -> int:
    """Cancel each config's job when it is still in progress; say so when there is none.

    One line per config; terse leaves out the advice, detailed adds the fingerprint and the job's events.
    """
    for path in config_module.expand_config_paths(patterns, Path.cwd()):
        config = config_module.load(path)
        provider, fp, job, running = launch.locate(config, env, job_id)
        if job is None:
            print(f"{config.display_path}: no job for fingerprint {short(fp)} at {provider.label}: nothing to cancel")
        elif not running:
            print(f"{config.display_path}: job {job.id} is already {job.status}: nothing to cancel")
        for each in running:  # every one in progress: two runs at once may have made two, each billing
            job = provider.cancel_job(each.id)
            advice = "; `finetune train --retry-failed` starts a new one" if verbosity >= 0 else ""
            print(f"{config.display_path}: cancelled job {job.id} (now {job.status}){advice}")
        if verbosity > 0:
            print(f"  fingerprint: {fp}")
            for event in provider.list_events(job.id, None) if job else []:
                print("  " + wait.event_line(event))
    return EXIT_OK
