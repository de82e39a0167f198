"""The lasting record of a trained model: model.json, the metrics CSV, release notes with a loss chart.

model.json is the contract other workflows read (the model id, what it was trained from and
what it cost); its shape is held by a test. The chart is Mermaid, which GitHub draws itself.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from finetune_action import __version__, models
from finetune_action.config import Config, render_template
from finetune_action.outputs import OUTPUT_DIR, prepare
from finetune_action.providers.base import Checkpoint, Job, shown_url
from finetune_action.redact import redact
from finetune_action.report.escape import code
from finetune_action.report.text import usd
from finetune_action.training.fingerprint import short
from finetune_action.training.launch import Prepared, PreparedFile

RECORD_VERSION = 1
MODEL_JSON = "model.json"
METRICS_CSV = "metrics.csv"
CHART_POINTS = 100


def output_dir(config: Config) -> Path:
    """Where a config's record is written: <repository root>/finetune-output/<name>/."""
    return config.root / OUTPUT_DIR / config.name


def iso(timestamp: int | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC time."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_date(job: Job) -> str:
    """The day the job was created (UTC): release tags use it, so a later resume names the same release."""
    return datetime.fromtimestamp(job.created_at, timezone.utc).strftime("%Y-%m-%d")


def release_tag(config: Config, job: Job, commit: str) -> str:
    """The release tag from its template, for the job's commit and creation date."""
    return render_template(config.release_tag, name=config.name, sha=commit, date=job_date(job))


def actual_cost(trained_tokens: int | None, price: models.Price | None) -> float | None:
    """trained_tokens x the price per token; None when the price is per hour or unknown."""
    if trained_tokens is None or price is None or not price.per_token:
        return None
    return round(trained_tokens * price.usd / 1_000_000, 6)


def _file(item: PreparedFile | None, file_id: str | None) -> dict[str, Any] | None:
    if item is None or file_id is None:
        return None
    return {"id": file_id, "filename": item.filename, "sha256": item.sha256, "bytes": item.bytes, "examples": item.examples}


def model_record(
    *,
    config: Config,
    job: Job,
    fingerprint: str,
    prepared: Prepared,
    checkpoints: Sequence[Checkpoint],
    estimated_cost_usd: float | None,
    estimated_billed_tokens: int | None,
    provider_label: str,
    commit: str,
    repository: str,
    metrics_csv: bool,
) -> dict[str, Any]:
    """The model.json mapping for a succeeded job."""
    info = config.model_info
    price = info.price
    settings = config.provider
    return {
        "record_version": RECORD_VERSION,
        "name": config.name,
        "fine_tuned_model": job.fine_tuned_model,
        "job_id": job.id,
        "status": job.status,
        "provider": {"type": settings.kind, "label": provider_label, "base_url": shown_url(settings.base_url) if settings.base_url else None, "endpoint": settings.endpoint},
        "base_model": job.model,
        "serving_ends": info.serving_ends,
        "method": job.method,
        "hyperparameters": job.hyperparameters,
        "trained_tokens": job.trained_tokens,
        "cost": {
            # The provider's own bill where it gives one (Together's total_price), else tokens x price.
            "actual_usd": job.billed_usd if job.billed_usd is not None else actual_cost(job.trained_tokens, price),
            "estimated_usd": estimated_cost_usd,
            "estimated_billed_tokens": estimated_billed_tokens,
            "price": {"usd": price.usd, "per": price.per, "source": price.source, "date": price.date} if price else None,
        },
        "files": {
            "training": _file(prepared.train, job.training_file),
            "validation": _file(prepared.validation, job.validation_file),
        },
        "fingerprint": fingerprint,
        "repository": repository,
        "commit": commit,
        "config": config.display_path,
        "checkpoints": [{"model": c.model, "step": c.step, "metrics": c.metrics} for c in checkpoints],
        "metrics_csv": METRICS_CSV if metrics_csv else None,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
        "finetune_action_version": __version__,
    }


def write_record(directory: Path, record: dict[str, Any], metrics: bytes | None) -> Path:
    """Write model.json (and the metrics CSV beside it, as release._metrics redacted it); return the model.json path."""
    path = directory / MODEL_JSON
    prepare(path)  # finetune-output/ ignores itself: no untracked files in the work tree
    path.write_text(record_json(record), "utf-8")
    if metrics is not None:
        (directory / METRICS_CSV).write_bytes(metrics)
    return path


def redacted_bytes(content: bytes) -> bytes:
    """A provider's file with every secret redacted, its other bytes kept as they are (even if not UTF-8)."""
    return redact(content.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def record_json(record: dict[str, Any]) -> str:
    """model.json as written: indented, keys in record order, one trailing new line, secrets redacted."""
    return redact(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def parse_metrics(content: bytes) -> list[dict[str, float]]:
    """The rows of a step-metrics CSV, numbers only (empty cells left out)."""
    rows = []
    for raw in csv.DictReader(io.StringIO(content.decode("utf-8", errors="replace"))):
        row: dict[str, float] = {}
        for key, value in raw.items():
            try:
                row[str(key).strip()] = float(value)
            except (TypeError, ValueError):
                continue
        if "step" in row:
            rows.append(row)
    return rows


def downsample(rows: Sequence[dict[str, float]], limit: int = CHART_POINTS) -> list[dict[str, float]]:
    """At most `limit` rows, evenly spread, first and last kept."""
    if len(rows) <= limit:
        return list(rows)
    last = len(rows) - 1
    return [rows[round(i * last / (limit - 1))] for i in range(limit)]


#: Fixed line colours, so the legend under a chart can name them (xychart-beta draws no legend).
_PALETTE = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#1f77b4, #ff7f0e"}}}}%%'


def _chart(title: str, points: Sequence[dict[str, float]], keys: Sequence[str]) -> list[str]:
    lines = [
        "```mermaid",
        _PALETTE,
        "xychart-beta",
        f'    title "{title}"',
        f'    x-axis "step" {points[0]["step"]:g} --> {points[-1]["step"]:g}',
        '    y-axis "loss"',
    ]
    lines += ["    line [" + ", ".join(f"{row[key]:.4g}" for row in points) + "]" for key in keys]
    return lines + ["```"]


def loss_chart(rows: Sequence[dict[str, float]]) -> str | None:
    """Mermaid xychart-beta charts of loss by step, each series only where measured; None without loss data.

    A line has a value at every point of its axis, so validation loss (measured every few steps)
    gets its own chart over the steps where it was measured, beside training loss at those steps.
    """
    trained = downsample([row for row in rows if "train_loss" in row])
    if len(trained) < 2:
        return None
    parts = _chart("Training loss by step", trained, ["train_loss"])
    parts.append("Legend: blue line = training loss.")
    validated = downsample([row for row in rows if "valid_loss" in row and "train_loss" in row])
    if len(validated) >= 2:
        parts += ["", *_chart(f"Loss at the {len(validated)} steps with a validation measurement", validated, ["train_loss", "valid_loss"])]
        parts.append("Legend: blue line = training loss, orange line = validation loss.")
    return "\n".join(parts)


def _serving(serving_ends: str | None) -> str:
    if not serving_ends:
        return "no end announced"
    return f"{serving_ends}: the base model and this fine-tune stop serving that day"


def notes(record: dict[str, Any], rows: Sequence[dict[str, float]]) -> str:
    """Release notes and job summary: a table of what was trained and what it cost, checkpoints, the chart (secrets redacted)."""
    cost = record["cost"]
    hyper = ", ".join(f"{k} {v}" for k, v in record["hyperparameters"].items())
    trained = f"{record['trained_tokens']:,}" if record["trained_tokens"] is not None else "not reported"
    if cost["estimated_billed_tokens"] is not None:
        trained += f" (estimated {cost['estimated_billed_tokens']:,} billed)"
    spent = usd(cost["actual_usd"]) if cost["actual_usd"] is not None else "not known (price per hour or unknown)"
    files = record["files"]
    data = "; ".join(
        f"{role} {f['examples']:,} examples, sha256 {code(f['sha256'][:16], in_table=True)}"
        for role, f in (("training", files["training"]), ("validation", files["validation"]))
        if f
    )
    rows_out = [
        ("Model", code(record["fine_tuned_model"], in_table=True)),
        ("Job", f"{code(record['job_id'], in_table=True)} at {record['provider']['label']}"),
        ("Base model", code(record["base_model"], in_table=True)),
        ("Method", f"{record['method']}" + (f" ({code(hyper, 200, in_table=True)})" if hyper else "")),
        ("Trained tokens", trained),
        ("Cost", f"{spent}; estimated {usd(cost['estimated_usd'])}"),
        ("Data", data or "-"),
        ("Fingerprint", code(short(record["fingerprint"]), in_table=True)),
        ("Commit", code(record["commit"][:12] or "-", in_table=True)),
        ("Config", code(record["config"], in_table=True)),
        ("Finished", record["finished_at"] or "-"),
        ("Serves until", _serving(record.get("serving_ends"))),
    ]
    lines = [f"## {record['name']}: {code(record['fine_tuned_model'])}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows_out]
    if record["checkpoints"]:
        lines += ["", "| checkpoint | step | metrics |", "|---|---:|---|"]
        for c in record["checkpoints"]:
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in c["metrics"].items() if k != "step" and isinstance(v, (int, float)))
            lines.append(f"| {code(c['model'], 200, in_table=True)} | {c['step']} | {metrics or '-'} |")
    chart = loss_chart(rows)
    if chart:
        lines += ["", chart]
    lines += ["", f"Recorded by finetune-action {record['finetune_action_version']}: `{MODEL_JSON}` holds all of this as JSON."]
    return redact("\n".join(lines) + "\n")
