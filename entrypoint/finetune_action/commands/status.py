"""`finetune status`: the job of each config (found by its fingerprint), or of --job, for people at a terminal."""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from finetune_action import config as config_module
from finetune_action import lifecycle
from finetune_action.errors import EXIT_OK
from finetune_action.training import launch, wait
from finetune_action.training.fingerprint import short

EVENTS_SHOWN = 5


def status(patterns: list[str], *, job_id: str | None, env: Mapping[str, str], verbosity: int = 0) -> int:
    """Print each config's job: status, progress, model, error and its latest events (terse: one line; detailed: every event)."""
    for path in config_module.expand_config_paths(patterns, Path.cwd()):
        config = config_module.load(path)
        provider, fp, job, running = launch.locate(config, env, job_id)
        if job is None:
            print(f"{config.display_path}: no job for fingerprint {short(fp)} at {provider.label} (`finetune train` starts one)")
            continue
        others = [j.id for j in running if j.id != job.id]
        if others:
            print(f"{config.display_path}: also in progress for this fingerprint: {', '.join(others)} (each bills; `finetune cancel` stops every one)")
        events = provider.list_events(job.id, None)
        step = next((e.data for e in reversed(events) if "step" in e.data), {})
        print(f"{config.display_path}: job {job.id} at {provider.label}: {wait.describe(job, step.get('step'), step.get('total_steps'), time.time())}")
        if verbosity < 0:
            continue
        if job.fine_tuned_model:
            print(f"  model: {job.fine_tuned_model}")
            if config.model_info.serving_ends:
                print(f"  serves until: {config.model_info.serving_ends} (the day its base model stops serving)")
            for judgement in lifecycle.judge(config.model_info, lifecycle.today(env=env)):
                if judgement.code == "serving-ending":
                    print(f"  warning: {judgement.message}")
        if job.error:
            print(f"  error: {job.error.code}: {job.error.message}" + (f" (param {job.error.param})" if job.error.param else ""))
        if job.metadata.get("finetune_fingerprint") and job.metadata["finetune_fingerprint"] != fp:
            print(f"  trained from other data or config than {config.display_path} has now (fingerprint {short(job.metadata['finetune_fingerprint'])})")
        for event in events if verbosity > 0 else events[-EVENTS_SHOWN:]:
            print("  " + wait.event_line(event))
    return EXIT_OK
