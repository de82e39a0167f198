"""The JSON form of `finetune check` (the contract in the README, "`finetune check` output")."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from finetune_action.check import ConfigReport, FileReport
from finetune_action.compare import Alternative
from finetune_action.dataset.codes import Problem
from finetune_action.errors import ConfigError, ConfigProblem


def problem(p: Problem) -> dict[str, Any]:
    return {"path": p.path, "line": p.line, "column": p.column, "code": p.code, "message": p.message}


def file_report(f: FileReport) -> dict[str, Any]:
    return {
        "path": f.path,
        "role": f.role,
        "format": f.format,
        "features": list(f.features),
        "lines": f.lines,
        "examples": f.examples,
        "validation_examples": f.validation_examples,
        "billed_tokens_per_epoch": f.billed_tokens_per_epoch,
        "truncated_examples": f.truncated_examples,
        "distributions": _distributions(f.distributions),
    }


def config_report(r: ConfigReport) -> dict[str, Any]:
    """One config's report as plain JSON data."""
    return {
        "config": r.config,
        "name": r.name,
        "ok": r.ok,
        "provider": r.provider,
        "model": r.model,
        "base_model": r.base_model,
        "method": r.method,
        "encoding": r.encoding,
        "tokenizer": r.tokenizer,
        "example_token_limit": r.example_token_limit,
        "examples": r.examples,
        "validation_examples": r.validation_examples,
        "billed_tokens_per_epoch": r.billed_tokens_per_epoch,
        "n_epochs": r.n_epochs,
        "billed_tokens": r.billed_tokens,
        "estimated_cost_usd": r.estimated_cost_usd,
        "price": r.price._asdict() if r.price else None,
        "inference": r.inference._asdict() if r.inference else None,
        "lifecycle": dict(r.lifecycle) if r.lifecycle else None,
        "compare": {"suggested": r.suggested, "alternatives": [alternative(a) for a in r.alternatives]},
        "counting": dict(r.counting),
        "distributions": _distributions(r.distributions),
        "files": [file_report(f) for f in r.files],
        "errors": [problem(p) for p in r.errors],
        "warnings": [problem(p) for p in r.warnings],
        "problem_counts": dict(sorted(r.problem_counts.items())),
        "scan_counts": r.scan_counts,  # secret-in-data / personal-data -> rule or kind -> findings
        **({"eval": r.eval} if r.eval is not None else {}),
    }


def alternative(a: Alternative) -> dict[str, Any]:
    """One row of the compare table."""
    return {
        "provider": a.provider,
        "label": a.label,
        "model": a.model,
        "base_model": a.base,
        "method": a.method,
        "lora": a.lora,
        "training_type": a.training_type,
        "tokenizer": a.tokenizer,
        "counted_with": a.counted_with,
        "approximate": a.approximate,
        "billed_tokens_per_epoch": a.billed_tokens_per_epoch,
        "n_epochs": a.n_epochs,
        "billed_tokens": a.billed_tokens,
        "estimated_cost_usd": a.estimated_cost_usd,
        "price": a.price._asdict() if a.price else None,
        "training_ends": a.training_ends,
        "last_training_day": a.last_training_day,
        "trainable": a.trainable,
        "note": a.note,
    }


def invalid_config(path: str, error: ConfigError) -> dict[str, Any]:
    """The entry for a config that could not be loaded (exit code 2): one error per problem, at its line."""
    problems = error.problems or (ConfigProblem("", str(error), None, None),)
    return {
        "config": path,
        "ok": False,
        "errors": [
            {"path": path, "line": p.line, "column": p.column, "code": "config-invalid", "message": f"{p.key}: {p.message}" if p.key else p.message}
            for p in problems
        ],
        "warnings": [],
        "problem_counts": {"config-invalid": len(problems)},
    }


def render(entries: Sequence[dict[str, Any]]) -> str:
    """The whole document: {"ok": ..., "configs": [...]}."""
    return json.dumps({"ok": all(e["ok"] for e in entries), "configs": list(entries)}, indent=2, ensure_ascii=False)


def _distributions(distributions: dict) -> dict[str, Any]:
    return {name: (d._asdict() if d else None) for name, d in distributions.items()}
