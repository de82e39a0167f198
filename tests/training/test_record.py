"""model.json's shape, actual cost, the metrics CSV and the Mermaid loss chart."""
from __future__ import annotations

import json
from pathlib import Path

from finetune_action import config, models
from finetune_action.providers.base import Checkpoint, Job
from finetune_action.training import launch, record
from testing.repo import chat_examples, init_repo, minimal_config, write_files

FP = "cd" * 32
JOB = Job(
    id="ftjob-1", status="succeeded", model="gpt-4.1-mini-2025-04-14", fine_tuned_model="ft:gpt-4.1-mini-2025-04-14:acme::x1",
    trained_tokens=20_000, error=None, estimated_finish=None, created_at=1_767_225_600, finished_at=1_767_229_200,
    result_files=("file-r",), training_file="file-t", validation_file=None, metadata={"finetune_commit": "f" * 40},
    hyperparameters={"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 2.0}, method="supervised",
)


def test_model_json_shape(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    write_files(repo, {"finetune.yaml": minimal_config(), "data/train.jsonl": chat_examples(12)})
    loaded = config.load(repo / "finetune.yaml")
    prepared = launch.prepare_files(loaded, FP, None)
    checkpoints = [Checkpoint("ckpt-1", "ft:...:ckpt-step-6", 6, {"train_loss": 0.3})]
    model = record.model_record(
        config=loaded, job=JOB, fingerprint=FP, prepared=prepared, checkpoints=checkpoints, estimated_cost_usd=0.09,
        estimated_billed_tokens=18_000, provider_label="OpenAI", commit="f" * 40, repository="acme/bots", metrics_csv=True,
    )
    assert model == {
        "record_version": 1,
        "name": "support-bot",
        "fine_tuned_model": "ft:gpt-4.1-mini-2025-04-14:acme::x1",
        "job_id": "ftjob-1",
        "status": "succeeded",
        "provider": {"type": "openai", "label": "OpenAI", "base_url": None, "endpoint": None},
        "base_model": "gpt-4.1-mini-2025-04-14",
        "serving_ends": "2027-01-14",
        "method": "supervised",
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 2.0},
        "trained_tokens": 20_000,
        "cost": {
            "actual_usd": 0.1,
            "estimated_usd": 0.09,
            "estimated_billed_tokens": 18_000,
            "price": {"usd": 5.0, "per": "1M training tokens", "source": model["cost"]["price"]["source"], "date": model["cost"]["price"]["date"]},
        },
        "files": {
            "training": {"id": "file-t", "filename": "cdcdcdcdcdcd-train.jsonl", "sha256": prepared.train.sha256, "bytes": prepared.train.bytes, "examples": 12},
            "validation": None,
        },
        "fingerprint": FP,
        "repository": "acme/bots",
        "commit": "f" * 40,
        "config": "finetune.yaml",
        "checkpoints": [{"model": "ft:...:ckpt-step-6", "step": 6, "metrics": {"train_loss": 0.3}}],
        "metrics_csv": "metrics.csv",
        "created_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T01:00:00Z",
        "finetune_action_version": model["finetune_action_version"],
    }
    path = record.write_record(tmp_path / "out", model, b"step,train_loss\n1,2.0\n")
    assert json.loads(path.read_text()) == model and (tmp_path / "out" / "metrics.csv").read_bytes().startswith(b"step")
    assert record.release_tag(loaded, JOB, "f" * 40) == "support-bot-2026-01-01-fffffff"


def test_actual_cost_only_for_prices_per_token() -> None:
    per_token = models.Price(25.0, "1M training tokens", "s", "d")
    per_hour = models.Price(100.0, "training hour", "s", "d")
    assert record.actual_cost(1_000_000, per_token) == 25.0
    assert record.actual_cost(1_000_000, per_hour) is None
    assert record.actual_cost(None, per_token) is None and record.actual_cost(5, None) is None


def test_metrics_csv_rows_skip_empty_cells() -> None:
    content = b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n1,2.0,0.5,,\n2,1.5,0.6,1.7,0.55\n"
    assert record.parse_metrics(content) == [
        {"step": 1.0, "train_loss": 2.0, "train_accuracy": 0.5},
        {"step": 2.0, "train_loss": 1.5, "train_accuracy": 0.6, "valid_loss": 1.7, "valid_mean_token_accuracy": 0.55},
    ]


def test_downsample_keeps_the_ends_and_at_most_the_limit() -> None:
    rows = [{"step": float(i)} for i in range(1, 1001)]
    kept = record.downsample(rows)
    assert len(kept) == 100 and kept[0]["step"] == 1 and kept[-1]["step"] == 1000
    assert record.downsample(rows[:5]) == rows[:5]


def test_loss_chart_draws_each_series_only_where_measured_with_a_legend() -> None:
    rows = [{"step": float(i), "train_loss": 3.0 - i / 4} for i in range(1, 9)]
    for row in rows[3::2]:
        row["valid_loss"] = row["train_loss"] + 0.5  # first measured at step 4
    chart = record.loss_chart(rows)
    assert chart is not None
    first, second = chart.split("\n\n")
    assert '    x-axis "step" 1 --> 8' in first and "    line [2.75, 2.5, 2.25, 2, 1.75, 1.5, 1.25, 1]" in first
    assert first.endswith("Legend: blue line = training loss.")
    # Validation starts at its first measurement: nothing is carried back to step 1.
    assert '    x-axis "step" 4 --> 8' in second
    assert "    line [2, 1.5, 1]" in second and "    line [2.5, 2, 1.5]" in second
    assert second.endswith("Legend: blue line = training loss, orange line = validation loss.")
    assert '"plotColorPalette": "#1f77b4, #ff7f0e"' in first
    many = [{"step": float(i), "train_loss": 1 / i} for i in range(1, 501)]
    chart = record.loss_chart(many)
    assert chart is not None and chart.count(",") == 99 + 1 and "validation" not in chart  # 100 points, plus the palette's comma
    assert record.loss_chart([{"step": 1.0, "train_loss": 1.0}]) is None
    assert record.loss_chart([{"step": 1.0}, {"step": 2.0}]) is None


def test_notes_escape_what_the_provider_sends(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    write_files(repo, {"finetune.yaml": minimal_config(), "data/train.jsonl": chat_examples(12)})
    loaded = config.load(repo / "finetune.yaml")
    job = JOB._replace(fine_tuned_model="ft:x|y`z")
    model = record.model_record(
        config=loaded, job=job, fingerprint=FP, prepared=launch.prepare_files(loaded, FP, None), checkpoints=[],
        estimated_cost_usd=None, estimated_billed_tokens=None, provider_label="OpenAI", commit="", repository="", metrics_csv=False,
    )
    notes = record.notes(model, [])
    assert "| Model | `` ft:x\\|y`z `` |" in notes and "mermaid" not in notes


def test_model_json_names_a_gateway_without_its_credentials(tmp_path: Path) -> None:
    """model.json is a release asset: a base_url's user:password, or a key in its query, stays out of it."""
    repo = init_repo(tmp_path / "repo")
    gateway = {"type": "openai", "base_url": "https://ci:GatewayPass2468@gw.example/openai/v1?subscription-key=GatewayKey98765"}
    write_files(repo, {"finetune.yaml": minimal_config(provider=gateway), "data/train.jsonl": chat_examples(12)})
    loaded = config.load(repo / "finetune.yaml")
    model = record.model_record(
        config=loaded, job=JOB, fingerprint=FP, prepared=launch.prepare_files(loaded, FP, None), checkpoints=[], estimated_cost_usd=0.09,
        estimated_billed_tokens=18_000, provider_label="the OpenAI-compatible service", commit="f" * 40, repository="acme/bots", metrics_csv=False,
    )
    assert model["provider"]["base_url"] == "https://gw.example/openai/v1"
