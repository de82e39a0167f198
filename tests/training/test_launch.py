"""Upload files built from the checked data, the job request, and finding a fingerprint's job."""
from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from finetune_action import check, config
from finetune_action.config import ProviderSettings
from finetune_action.providers import get_provider
from finetune_action.providers.base import Provider, ProviderOptions
from finetune_action.training import launch, wait
from testing.openai_standin import StandIn, serve
from testing.repo import chat_examples, init_repo, minimal_config, write_files
from testing.signals import lose_a_signal

FP = "ab" * 32


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "repo")


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serve() as server:
        yield server


@pytest.fixture
def provider(standin: StandIn) -> Provider:
    return get_provider(ProviderSettings("openai", standin.base_url, None, None, "OPENAI_API_KEY"), {"OPENAI_API_KEY": standin.api_key})


def load(repo: Path, **overrides) -> config.Config:
    write_files(repo, {"finetune.yaml": minimal_config(**overrides)})
    return config.load(repo / "finetune.yaml")


def test_split_files_put_each_example_where_the_check_counted_it(repo: Path, tmp_path: Path) -> None:
    write_files(repo, {"data/train.jsonl": chat_examples(200)})
    loaded = load(repo, data={"train": "data/train.jsonl", "split": {"fraction": 0.25, "seed": 3}})
    report = check.check_config(loaded)
    prepared = launch.prepare_files(loaded, FP, tmp_path)
    assert prepared.validation is not None
    assert (prepared.train.examples, prepared.validation.examples) == (report.examples, report.validation_examples)
    assert 0 < prepared.validation.examples < 100
    train_lines = prepared.train.path.read_bytes().splitlines()
    valid_lines = prepared.validation.path.read_bytes().splitlines()
    original = (repo / "data" / "train.jsonl").read_bytes().splitlines()
    assert sorted(train_lines + valid_lines) == sorted(original) and not set(train_lines) & set(valid_lines)
    assert prepared.train.filename == "abababababab-train.jsonl" and prepared.validation.filename == "abababababab-validation.jsonl"
    # Deterministic: the same files again.
    again = launch.prepare_files(loaded, FP, None)
    assert (again.train.sha256, again.validation.sha256) == (prepared.train.sha256, prepared.validation.sha256)
    assert again.train.path is None


def test_several_training_files_are_joined_in_order_without_bom_crlf_or_blank_lines(repo: Path, tmp_path: Path) -> None:
    first, second = chat_examples(6, "a"), chat_examples(6, "b")
    lines_a = [json.dumps(e).encode() for e in first]
    lines_b = [json.dumps(e).encode() for e in second]
    write_files(repo, {
        "data/a.jsonl": b"\xef\xbb\xbf" + b"\r\n".join(lines_a) + b"\r\n\r\n",
        "data/b.jsonl": b"\n".join(lines_b),  # no final new line
    })
    loaded = load(repo, data={"train": ["data/a.jsonl", "data/b.jsonl"]})
    prepared = launch.prepare_files(loaded, FP, tmp_path)
    assert prepared.validation is None
    assert prepared.train.path.read_bytes() == b"".join(line + b"\n" for line in lines_a + lines_b)
    assert prepared.train.examples == 12


def test_suffix_is_rendered_and_trimmed_to_64_characters() -> None:
    assert launch.suffix("{name}-{sha7}-{date}", "bot", "0123456789abcdef", "2026-01-02") == "bot-0123456-2026-01-02"
    long = launch.suffix("{name}-{sha7}", "n" * 60, "0123456789", "d")
    assert long == "n" * 60 + "-012" and len(long) == 64
    assert launch.suffix("{name}" + "-" * 70, "bot", "", "") == "bot"


def test_job_request_carries_every_option(repo: Path) -> None:
    write_files(repo, {"data/train.jsonl": chat_examples(12)})
    loaded = load(
        repo,
        hyperparameters={"n_epochs": 3, "batch_size": "auto"},
        suffix="{name}-{sha7}",
        seed=5,
        metadata={"team": "support"},
        integrations={"wandb": {"project": "p", "tags": ["x"]}},
    )
    request = launch.job_request(loaded, FP, training_file="file-t", validation_file=None, commit="c0ffee1234", repository="acme/bots", date="2026-01-02")
    assert request == {
        "model": "gpt-4.1-mini-2025-04-14",
        "training_file": "file-t",
        "validation_file": None,
        "method": "supervised",
        "hyperparameters": {"n_epochs": 3},
        "grader": None,
        "suffix": "support-bot-c0ffee1",
        "seed": 5,
        "integrations": [{"type": "wandb", "wandb": {"project": "p", "tags": ["x"]}}],
        "metadata": {
            "team": "support",
            "finetune_fingerprint": FP,
            "finetune_repository": "acme/bots",
            "finetune_commit": "c0ffee1234",
            "finetune_config": "finetune.yaml",
        },
    }


def test_reinforcement_sends_its_grader(repo: Path) -> None:
    write_files(repo, {"data/train.jsonl": chat_examples(12), "data/valid.jsonl": chat_examples(10, "tea")})
    grader = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}", "reference": "{{item.answer}}", "operation": "eq"}
    loaded = load(repo, model="o4-mini-2025-04-16", method="reinforcement", grader=grader, data={"train": "data/train.jsonl", "validation": "data/valid.jsonl"})
    request = launch.job_request(loaded, FP, training_file="t", validation_file="v", commit="", repository="", date="d")
    assert request["grader"] == grader and request["method"] == "reinforcement"
    assert "finetune_repository" not in request["metadata"]  # empty values are left out


def test_launch_uploads_then_creates_and_the_job_is_found_by_fingerprint(repo: Path, tmp_path: Path, standin: StandIn, provider: Provider) -> None:
    write_files(repo, {"data/train.jsonl": chat_examples(12), "data/valid.jsonl": chat_examples(10, "tea")})
    loaded = load(repo, data={"train": "data/train.jsonl", "validation": "data/valid.jsonl"})
    prepared = launch.prepare_files(loaded, FP, tmp_path)
    assert launch.find_job(provider, FP) is None
    logged: list[str] = []
    job = launch.launch(provider, loaded, prepared, FP, commit="abc", repository="acme/bots", date="2026-01-02", log=logged.append)
    created = standin.calls("fine_tuning.jobs.create")[0].body
    assert created["metadata"]["finetune_fingerprint"] == FP
    assert standin.file_bytes[created["training_file"]] == prepared.train.path.read_bytes()
    assert standin.files[created["validation_file"]]["filename"] == "abababababab-validation.jsonl"
    assert launch.find_job(provider, FP).id == job.id
    assert any("created job" in line for line in logged)

    # A run that died after uploading: the files are found by name and size, not sent again.
    again = launch.launch(provider, loaded, prepared, FP, commit="abc", repository="acme/bots", date="2026-01-02", log=logged.append)
    assert len(standin.calls("files.create")) == 2 and again.training_file == job.training_file
    assert any("uploaded by an earlier run" in line for line in logged)


def test_find_job_prefers_succeeded_then_in_progress_then_newest(standin: StandIn, provider: Provider) -> None:
    wanted = {"finetune_fingerprint": FP}
    standin.script_job(["failed"])
    standin.add_job(metadata=wanted)
    assert launch.find_job(provider, FP).status == "failed"
    standin.script_job(["paused"])
    running = standin.add_job(metadata=wanted)
    standin.script_job(["cancelled"])
    standin.add_job(metadata=wanted)
    assert launch.find_job(provider, FP).id == running["id"]  # paused counts as in progress
    standin.script_job(["succeeded"])
    done = standin.add_job(metadata=wanted)
    standin.script_job(["queued"])
    standin.add_job(metadata=wanted)
    assert launch.find_job(provider, FP).id == done["id"]


@pytest.mark.parametrize("route", ["uploads.create", "uploads.complete"])
@pytest.mark.parametrize("how", ["status", "reset"])
def test_a_large_upload_whose_answer_is_lost_leaves_one_file(repo: Path, tmp_path: Path, standin: StandIn, route: str, how: str) -> None:
    # Above the threshold, files go up through the Uploads API: create, parts, complete.
    options = ProviderOptions(max_retries=1, poll_interval=0, upload_threshold=1024, part_size=2048)
    provider = get_provider(ProviderSettings("openai", standin.base_url, None, None, "OPENAI_API_KEY"), {"OPENAI_API_KEY": standin.api_key}, options)
    write_files(repo, {"data/train.jsonl": chat_examples(40)})
    loaded = load(repo)
    prepared = launch.prepare_files(loaded, FP, tmp_path)
    assert prepared.train.bytes > 2 * 2048
    standin.lose_answer(route, how)
    logged: list[str] = []
    job = launch.launch(provider, loaded, prepared, FP, commit="c", repository="r", date="d", log=logged.append, sleep=lambda seconds: None)
    [file] = [f for f in standin.files.values() if f["purpose"] == "fine-tune"]
    assert job.training_file == file["id"] and standin.file_bytes[file["id"]] == prepared.train.path.read_bytes()
    assert len(standin.calls("uploads.complete")) == 1  # never sent twice: the lost one made the file
    assert any("was lost" in line for line in logged)


def test_create_once_gives_up_after_the_attempts_and_never_retries_a_refusal() -> None:
    from finetune_action.errors import ProviderError

    tried: list[int] = []

    def lost() -> None:
        tried.append(1)
        raise ProviderError("lost", status=502, ambiguous=True)

    with pytest.raises(ProviderError, match="tried 3 times"):
        launch.create_once(lost, lambda: None, "the thing", lambda line: None, sleep=lambda seconds: None)
    assert len(tried) == launch.CREATE_ATTEMPTS

    def refused() -> None:
        tried.append(1)
        raise ProviderError("no", status=400)

    tried.clear()
    with pytest.raises(ProviderError, match="^no$"):
        launch.create_once(refused, lambda: None, "the thing", lambda line: None, sleep=lambda seconds: None)
    assert len(tried) == 1


def test_a_run_whose_stop_signal_was_lost_creates_no_job(repo: Path, tmp_path: Path, standin: StandIn, provider: Provider) -> None:
    write_files(repo, {"data/train.jsonl": chat_examples(12)})
    loaded = load(repo)
    prepared = launch.prepare_files(loaded, FP, tmp_path)
    with pytest.raises(wait.Aborted):
        with wait.abort_on_signals():
            assert isinstance(lose_a_signal(signal.SIGTERM), wait.Aborted)
            launch.launch(provider, loaded, prepared, FP, commit="abc", repository="acme/bots", date="2026-01-02", log=lambda line: None)
    assert standin.calls("fine_tuning.jobs.create") == []  # the file may be up (a rerun reuses it); no paid job
