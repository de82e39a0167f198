"""`finetune check`: validate configs and their data, count tokens offline, estimate the cost.

Nothing is sent anywhere. Exit 0 when every config passes (warnings allowed), 1 when data
has errors or the estimate breaks budget.max_usd (or, with a limit set, has no USD figure),
2 when a config (or the command line) is invalid.
"""
from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

from finetune_action import check as checking
from finetune_action import config as config_module
from finetune_action import models
from finetune_action.errors import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, ConfigError
from finetune_action.report import diff, escape
from finetune_action.report import json as json_report
from finetune_action.report import markdown as markdown_report
from finetune_action.report import text as text_report


def check(patterns: list[str], output_format: str = "text", today: date | None = None, verbosity: int = 0) -> int:
    """Check each config matching `patterns`; 2 if any config is invalid, else 1 on data errors."""
    entries = []
    exit_code = EXIT_OK
    for path in config_module.expand_config_paths(patterns, Path.cwd()):
        try:
            loaded = config_module.load(path)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            shown = _display(path)
            entries.append(json_report.invalid_config(shown, exc))
            if output_format == "text":
                print(f"Checking {shown}: FAILED (invalid config, see stderr)")
            elif output_format == "markdown":
                print(f"### {markdown_report.cell(shown)}: FAILED (invalid config)\n\n```\n{exc}\n```\n")
            exit_code = EXIT_USAGE
            continue
        report = checking.with_untracked(checking.check_config(loaded, log=_log if verbosity >= 0 else None, today=today), loaded)
        exit_code = _emit(report, output_format, entries, exit_code, loaded.budget._asdict(), verbosity)
    if output_format == "json":
        print(json_report.render(entries))
    return exit_code


def check_files(
    data: list[str], validation: list[str], model: str, method: str, output_format: str = "text", provider: str = "openai", today: date | None = None,
    verbosity: int = 0,
) -> int:
    """Check data files without a config: `finetune check --data FILE --model MODEL [--provider P]`."""
    if provider not in models.providers():
        raise ConfigError(f"--provider {provider}: no catalogue for it. Use one of: {', '.join(models.providers())}.")
    info = models.resolve(model, provider=provider, method=method)
    if info.known and method not in info.methods:
        raise ConfigError(f"{model} cannot be fine-tuned with {method} (it supports: {', '.join(info.methods)}). Change --method or --model.")
    train = tuple(_data_file(p) for p in data)
    report = checking.check_data(
        config="",
        name=Path(data[0]).stem,
        model=info,
        method=method,
        train=train,
        validation=tuple(_data_file(p) for p in validation),
        log=_log if verbosity >= 0 else None,
        today=today,
    )
    entries: list[dict] = []
    exit_code = _emit(report, output_format, entries, EXIT_OK, verbosity=verbosity)
    if output_format == "json":
        print(json_report.render(entries))
    return exit_code


def _emit(report: checking.ConfigReport, output_format: str, entries: list[dict], exit_code: int, budget: dict | None = None, verbosity: int = 0) -> int:
    entry = json_report.config_report(report)
    violations = diff.own_budget_violations(budget, entry) if budget else []
    if budget:
        entry["budget"] = {"limits": {rule: budget[rule] for rule in config_module.BUDGET_KEYS}, "unpriced": budget["unpriced"], "violations": violations}
    over = any(v["new"] for v in violations)
    if over:
        entry["ok"] = False  # the exit code is 1: nothing may read this entry as a pass
    entries.append(entry)
    lines = [f"budget: {'FAILED' if v['new'] else 'warning'}: {v['message']}" for v in violations]
    if output_format == "text":
        print("\n".join([_over_budget(text_report.render(report, verbosity), over and not report.errors), *lines]))
    elif output_format == "markdown":
        print("\n\n".join([_over_budget(markdown_report.render(report), over and not report.errors), *(escape.text(line) for line in lines)]) + "\n")
    if (report.errors or any(v["new"] for v in violations)) and exit_code == EXIT_OK:
        return EXIT_PROBLEMS
    return exit_code


def _over_budget(rendered: str, over: bool) -> str:
    """The report with its headline's PASSED made FAILED (over budget) when the budget fails it:
    "PASSED, with warnings" above "budget: FAILED" and exit 1 contradicted itself."""
    if not over:
        return rendered
    first, newline, rest = rendered.partition("\n")
    return re.sub(r"\bPASSED(, with warnings)?", "FAILED (over budget)", first, count=1) + newline + rest


def _data_file(path: str) -> config_module.DataFile:
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise ConfigError(f"{path}: no such data file. Check the path.")
    return config_module.DataFile(resolved, path)


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
