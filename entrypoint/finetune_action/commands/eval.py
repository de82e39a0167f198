"""`finetune eval`: evaluate each config's models on its held-out data, at any time.

The baseline and candidate come from eval.models (default: the recorded base and fine-tune),
or from --models (labels of eval.models, `base`, `fine_tuned`, or any model id at the
config's provider). The result is written into the recorded model.json when there is one
(else eval.json beside it) and printed as the release table; a failing gate exits 1 after
the record is written.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from finetune_action import config as config_module
from finetune_action.errors import EXIT_OK, EXIT_PROBLEMS, ConfigError
from finetune_action.evaluation import session
from finetune_action.github import actions
from finetune_action.redact import redact
from finetune_action.training import record

EVAL_JSON = "eval.json"


def evaluate(patterns: list[str], *, models: Sequence[str] | None, previous: str | None, env: Mapping[str, str]) -> int:
    """Evaluate every config matching `patterns`; the highest exit code wins."""
    exit_code = EXIT_OK
    for path in config_module.expand_config_paths(patterns, Path.cwd()):
        config = config_module.load(path)
        if config.eval is None:
            raise ConfigError(f"{config.display_path}: no `eval:` block. Add one, e.g. `eval: {{split: {{fraction: 0.1, seed: 1}}, graders: [normalised_match]}}`.")
        directory = record.output_dir(config)
        recorded = _read(directory / record.MODEL_JSON)
        earlier = _read(Path(previous)) if previous else None
        if previous and earlier is None:
            raise ConfigError(f"--previous {previous}: not a readable model.json. Download it from the previous release (`gh release download TAG -p model.json`).")
        try:
            outcome = session.run(config, recorded, env, log=_log, selected=models, previous=earlier, previous_release=previous)
        except session.Stopped as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        written = _write(directory, recorded, outcome.block, models)
        print(outcome.notes)
        _log(f"{config.display_path}: eval recorded in {written}")
        summary = env.get("GITHUB_STEP_SUMMARY")
        if summary:
            actions.append_summary(Path(summary), f"## {config.name}\n\n{outcome.notes}")
        if not outcome.passed:
            print(f"error: {config.display_path}: the eval gate did not pass ({'; '.join(outcome.block['gate']['reasons'])}). The model is kept; the record says it did not pass.", file=sys.stderr)
            exit_code = max(exit_code, EXIT_PROBLEMS)
    return exit_code


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write(directory: Path, recorded: dict[str, Any] | None, block: dict[str, Any], models: Sequence[str] | None) -> Path:
    """Into model.json when the recorded model was the candidate; otherwise eval.json beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    if recorded is not None and not models:
        recorded["eval"] = block
        path = directory / record.MODEL_JSON
        path.write_text(record.record_json(recorded), "utf-8")
        return path
    path = directory / EVAL_JSON
    path.write_text(redact(json.dumps(block, indent=2, ensure_ascii=False) + "\n"), "utf-8")  # as model.json is
    return path


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
