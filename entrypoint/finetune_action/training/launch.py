"""Spend money once: find the job a fingerprint already has, or upload the data and create one.

Creating something billable (a file, a job) is one request the SDK never retries. When its
answer is lost (ProviderError.ambiguous: a 5xx, a timeout, a dropped connection), the provider
may have acted: look for what this launch created (the job by fingerprint, the file by name and
size) and use it; only when it does not show up in the provider's lists is creation tried again.

The uploaded files are built from the data the check validated: several training files are
joined in order, data.split sends each example where the check counted it, blank lines and
byte-order marks are left out, and every line ends in "\\n".
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from finetune_action import check
from finetune_action.config import Config, render_template
from finetune_action.dataset import read, validate
from finetune_action.errors import ProviderError
from finetune_action.providers import get_provider
from finetune_action.providers.base import FINISHED, Job, Provider, Quote, UploadedFile
from finetune_action.training import wait
from finetune_action.training.fingerprint import METADATA_KEY, fingerprint, short

MAX_SUFFIX = 64
#: Creation attempts after lost answers, and the pauses before each look for what the lost
#: answer may have created: the provider may list a new job or file only after a moment.
CREATE_ATTEMPTS = 3
LOOKUP_DELAYS = (0.0, 1.0, 2.0, 4.0)
Log = Callable[[str], None]
Sleep = Callable[[float], None]


class PreparedFile(NamedTuple):
    role: str  # train | validation
    filename: str  # <fingerprint12>-<role>.jsonl, so a provider's file list shows what it is for
    path: Path | None  # None when only hashed (the job exists already)
    sha256: str
    bytes: int
    examples: int


class Prepared(NamedTuple):
    train: PreparedFile
    validation: PreparedFile | None


class _Sink:
    """One upload file being written (or only hashed)."""

    def __init__(self, role: str, filename: str, directory: Path | None) -> None:
        self.role = role
        self.filename = filename
        self.path = directory / filename if directory else None
        self.handle: BinaryIO | None = self.path.open("wb") if self.path else None
        self.digest = hashlib.sha256()
        self.bytes = 0
        self.examples = 0

    def write(self, line: bytes) -> None:
        self.digest.update(line)
        self.bytes += len(line)
        self.examples += 1
        if self.handle:
            self.handle.write(line)

    def close(self) -> PreparedFile:
        if self.handle:
            self.handle.close()
        return PreparedFile(self.role, self.filename, self.path, self.digest.hexdigest(), self.bytes, self.examples)


def example_lines(path: Path) -> Any:
    """Each example line of a JSONL file without its line end, BOM and blank lines skipped."""
    for number, raw in enumerate(read.lines(path, 0, path.stat().st_size), start=1):
        if number == 1:
            raw = raw.removeprefix(read.BOM)
        line = raw.rstrip(b"\r\n")
        if line and not line.isspace():
            yield line


def prepare_files(config: Config, fingerprint: str, directory: Path | None) -> Prepared:
    """Write the training (and validation) upload files into `directory`; with None, only hash them."""
    train = _Sink("train", f"{short(fingerprint)}-train.jsonl", directory)
    has_validation = bool(config.validation or config.split)
    validation = _Sink("validation", f"{short(fingerprint)}-validation.jsonl", directory) if has_validation else None
    held = config.eval.split if config.eval else None
    try:
        for data in config.train:
            for line in example_lines(data.path):
                if held and check.held_out(validate.example_hash(line), held):
                    continue  # eval.split: held out for evaluation, never uploaded
                moved = validation is not None and config.split is not None and check.in_validation(validate.example_hash(line), config.split)
                (validation if moved else train).write(line + b"\n")
        for data in config.validation:
            for line in example_lines(data.path):
                validation.write(line + b"\n")  # type: ignore[union-attr]
    finally:
        prepared = Prepared(train.close(), validation.close() if validation else None)
    return prepared


def find_job(provider: Provider, fingerprint: str) -> Job | None:
    """The job that matters for a fingerprint: a succeeded one, else one in progress, else the newest."""
    return choose(provider.find_jobs({METADATA_KEY: fingerprint}))


def choose(jobs: list[Job]) -> Job | None:
    """find_job's pick among a fingerprint's jobs (newest first)."""
    for wanted in (lambda j: j.status == "succeeded", lambda j: j.status not in FINISHED):
        for job in jobs:
            if wanted(job):
                return job
    return jobs[0] if jobs else None


def suffix(template: str, name: str, sha: str, date: str) -> str:
    """The model suffix from its template, trimmed to the API's 64 characters."""
    return render_template(template, name=name, sha=sha, date=date)[:MAX_SUFFIX].strip("-_.") or name[:MAX_SUFFIX]


def job_request(
    config: Config, fingerprint: str, *, training_file: str, validation_file: str | None, commit: str, repository: str, date: str
) -> dict[str, Any]:
    """The keyword arguments of Provider.create_job for this config."""
    ours = {
        METADATA_KEY: fingerprint,
        "finetune_repository": repository,
        "finetune_commit": commit,
        "finetune_config": config.display_path,
    }
    wandb = config.integrations.get("wandb")
    return {
        "model": config.model,
        "training_file": training_file,
        "validation_file": validation_file,
        "method": config.method,
        # "auto" is the provider's default: leave it to the provider rather than send it.
        "hyperparameters": {k: v for k, v in config.hyperparameters.items() if v != "auto"},
        "grader": config.grader,
        "suffix": suffix(config.suffix, config.name, commit, date),
        "seed": config.seed,
        "integrations": [{"type": "wandb", "wandb": wandb}] if wandb else None,
        "metadata": {**config.metadata, **{k: v[:512] for k, v in ours.items() if v}},
    }


def create_once(create: Callable[[], Any], find: Callable[[], Any], what: str, log: Log, sleep: Sleep = time.sleep) -> Any:
    """`create()`, never twice: after a lost answer, `find()` what it may have made before trying again.

    `find` returns the thing or None. Gives up (raising the last error) after CREATE_ATTEMPTS.
    """
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return create()
        except ProviderError as exc:
            if not exc.ambiguous:
                raise  # refused: nothing was created
            log(f"the answer to creating {what} was lost ({exc}); looking for it before trying again")
            for delay in LOOKUP_DELAYS:
                sleep(delay)
                found = find()
                if found is not None:
                    log(f"found {what} the lost answer was about: {found.id}; using it, not creating another")
                    return found
            if attempt == CREATE_ATTEMPTS:
                raise ProviderError(
                    f"{exc} It was tried {CREATE_ATTEMPTS} times, and {what} does not show up at the provider. "
                    "Re-run later: a run looks for it first, so it is not created twice.", exc.status, exc.code, ambiguous=True,
                ) from exc
            log(f"{what} does not show up at the provider: creating it again (attempt {attempt + 1} of {CREATE_ATTEMPTS})")
    raise AssertionError("unreachable")


def _earlier_upload(provider: Provider, item: PreparedFile) -> UploadedFile | None:
    # The name holds the fingerprint, so a file of that name and size has these bytes.
    found = [f for f in provider.find_files(item.filename) if f.bytes == item.bytes and f.status in ("uploaded", "processed")]
    return found[0] if found else None


def launch(
    provider: Provider, config: Config, prepared: Prepared, fingerprint: str, *, commit: str, repository: str, date: str, log: Log,
    estimated_usd: float | None = None, sleep: Sleep = time.sleep,
) -> Job:
    """Upload the prepared files, wait until the provider has processed them, create the job.

    Where the provider prices a job before it exists, its figure is shown beside ours and a
    job it prices over budget.max_usd is not created.
    """
    file_ids: dict[str, str | None] = {"train": None, "validation": None}
    for item in (prepared.train, prepared.validation):
        if item is None or item.path is None or not item.examples:
            continue  # a small split can leave validation empty: the provider refuses empty files
        # A run stopped between upload and job creation (or refused by the provider) left it.
        uploaded = _earlier_upload(provider, item)
        if uploaded is not None:
            log(f"{item.filename} was uploaded by an earlier run as {uploaded.id}: reusing it")
        else:
            log(f"uploading {item.filename} ({item.examples:,} examples, {_size(item.bytes)}) to {provider.label}")
            path = item.path
            uploaded = create_once(lambda: provider.upload_file(path), lambda: _earlier_upload(provider, item), f"the file {item.filename}", log, sleep)
        provider.wait_file_processed(uploaded.id)
        log(f"  {uploaded.id}: processed (sha256 {item.sha256[:16]}...)")
        file_ids[item.role] = uploaded.id
    request = job_request(
        config, fingerprint, training_file=file_ids["train"] or "", validation_file=file_ids["validation"],
        commit=commit, repository=repository, date=date,
    )
    estimate = getattr(provider, "estimate_job", None)
    if estimate is not None:
        check_quote(estimate(**request), config, provider.label, estimated_usd, log)
    # Jobs this fingerprint had before (failed ones, when retrying) are not the one being created.
    before = {job.id for job in provider.find_jobs({METADATA_KEY: fingerprint})}

    def created() -> Job | None:
        return next((job for job in provider.find_jobs({METADATA_KEY: fingerprint}) if job.id not in before), None)

    wait.raise_arrived()  # a run stopped by a signal whose Aborted was lost starts no paid job
    job = create_once(lambda: provider.create_job(**request), created, f"the fine-tuning job for {config.model}", log, sleep)
    log(f"created job {job.id} ({job.status}) for {config.model}, suffix {request['suffix']!r}")
    return job


def check_quote(quote: Quote, config: Config, label: str, estimated_usd: float | None, log: Log) -> None:
    """Show the provider's price beside ours; refuse (nothing created) what breaks the budget or the account's limit."""
    ours = f"${estimated_usd:,.2f}" if estimated_usd is not None else "unknown (no price for this model in the table)"
    tokens = f" for {quote.billed_tokens:,} billed tokens" if quote.billed_tokens is not None else ""
    log(f"{label} estimates ${quote.usd:,.2f}{tokens}; finetune-action estimated {ours}")
    limit = config.budget.max_usd
    if limit is not None and quote.usd > limit:
        raise ProviderError(
            f"{config.display_path}: {label} prices this job at ${quote.usd:,.2f}, over budget.max_usd (${limit:,.2f}); no job was created. "
            "Raise budget.max_usd, or train on less data, fewer epochs or a smaller model.", code="over_budget",
        )
    if not quote.allowed:
        credit = f" (credit limit ${quote.limit_usd:,.2f})" if quote.limit_usd is not None else ""
        raise ProviderError(f"{config.display_path}: {label} says this account may not start a ${quote.usd:,.2f} job{credit}; no job was created. Add credit at {label}, then re-run.", code="over_limit")


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1 << 20 else f"{n / 1024:.1f} KB"


def locate(config: Config, env: Mapping[str, str], job_id: str | None) -> tuple[Provider, str, Job | None, list[Job]]:
    """The config's provider, fingerprint, its job (`job_id` when given, else the fingerprint's), and
    every job still in progress for the fingerprint (two runs at once can have made two)."""
    fp = fingerprint(config)
    provider = get_provider(config.provider, env)
    if job_id:
        job = provider.get_job(job_id)
        return provider, fp, job, [job] if job.status not in FINISHED else []
    jobs = provider.find_jobs({METADATA_KEY: fp})
    return provider, fp, choose(jobs), [j for j in jobs if j.status not in FINISHED]
