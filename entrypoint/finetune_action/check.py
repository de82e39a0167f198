"""The PR check's core: a config in, a ConfigReport out (validation, tokens, epochs, cost).

Pure apart from reading the data files; rendering lives in report/, the CLI in commands/check.py.
"""
from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from itertools import accumulate
from pathlib import Path
from typing import Any, NamedTuple

from finetune_action import compare as comparing
from finetune_action import cost, git, lifecycle, models
from finetune_action.config import CompareSpec, Config, DataFile, Split
from finetune_action.dataset import formats, validate
from finetune_action.dataset.codes import ERROR, Problem
from finetune_action.dataset.scan import ScanRules
from finetune_action.tokens import count as token_count
from finetune_action.tokens import tokenizers

MIN_EXAMPLES = 10
RECOMMENDED_EXAMPLES = 50
DISTRIBUTIONS = ("messages_per_example", "tokens_per_example", "assistant_tokens_per_example")

def counting_tokenizer(tokenizer: str) -> str:
    """The tokenizer the counter uses for `tokenizer`: itself when tokens/ knows it, else the fallback guess."""
    return tokenizer if tokenizer in tokenizers.names() else models.FALLBACK_TOKENIZER


class Distribution(NamedTuple):
    min: int
    max: int
    mean: float
    median: float
    p5: float
    p95: float


class FileReport(NamedTuple):
    path: str  # relative to the repository root
    role: str  # "train" or "validation"
    format: str  # chat, preference, reinforcement or completion
    features: tuple[str, ...]  # tools, functions, images
    lines: int
    examples: int
    validation_examples: int  # of `examples`, those data.split moves to validation
    billed_tokens_per_epoch: int
    truncated_examples: int
    distributions: dict[str, Distribution | None]  # keys: DISTRIBUTIONS
    example_hashes: bytes  # validate.example_hash() of each example, in file order (not in JSON)

    def hashes(self) -> Iterator[bytes]:
        """The per-example content hashes, in file order (for diffs against the base branch)."""
        data = self.example_hashes
        return (data[i : i + validate.HASH_BYTES] for i in range(0, len(data), validate.HASH_BYTES))


class TokenizerCount(NamedTuple):
    """The training and validation examples counted with one tokenizer (the configured one or a compare: alternative).

    Limits and billing rules belong to each alternative's model: apply them with the methods.
    """

    tokenizer: str
    exact: bool
    rests_on: str  # what the counts rest on (tokenizers.Tokenizer.rests_on)
    training_tokens: array  # per training example (after data.split), in file order
    validation_tokens: array  # per validation example

    @property
    def examples(self) -> int:
        return len(self.training_tokens)

    def billed_tokens_per_epoch(self, limit: int | None, packing: bool = True) -> int:
        """Training tokens billed per epoch: each example up to `limit`; without packing, every example at `limit`.

        Together AI bills rows at max_seq_length when packing is off (its fine-tuning docs): pass
        packing=False and limit=max_seq_length.
        """
        return _billed(self.training_tokens, limit, packing)

    def validation_tokens_per_evaluation(self, limit: int | None, packing: bool = True) -> int:
        """Validation tokens billed per evaluation (Together AI bills evaluations x this; OpenAI bills none)."""
        return _billed(self.validation_tokens, limit, packing)

    def truncated_examples(self, limit: int | None) -> int:
        """Training examples longer than `limit`, which the provider cuts."""
        return cost.over_limit(self.training_tokens, limit)


def _billed(tokens: array, limit: int | None, packing: bool) -> int:
    if limit is None:
        return sum(tokens)
    if not packing:
        return len(tokens) * limit
    return cost.billed_tokens_per_epoch(tokens, limit)


class ConfigReport(NamedTuple):
    config: str  # the finetune.yaml, relative to the repository root ("" without a config)
    name: str
    model: str
    base_model: str | None
    method: str
    encoding: str
    example_token_limit: int | None
    examples: int  # training examples (after data.split)
    validation_examples: int
    billed_tokens_per_epoch: int
    n_epochs: int
    billed_tokens: int
    estimated_cost_usd: float | None
    price: models.Price | None
    counting: dict[str, str]  # what each number rests on
    distributions: dict[str, Distribution | None]  # over the training examples
    files: tuple[FileReport, ...]
    errors: tuple[Problem, ...]  # at most validate.MAX_KEPT_PER_CODE per code and file
    warnings: tuple[Problem, ...]
    problem_counts: dict[str, int]  # code -> every occurrence, kept or not
    provider: str = "openai"
    tokenizer: str = models.FALLBACK_TOKENIZER  # the model's own; `encoding` is what counted
    inference: models.InferencePrice | None = None
    lifecycle: dict[str, str | None] | None = None  # today, training_ends, last_training_day, serving_ends, source
    alternatives: tuple[comparing.Alternative, ...] = ()  # compare:, or suggestions
    suggested: bool = False  # the alternatives were suggested (no compare: in the config)
    scan_counts: dict[str, dict[str, int]] = {}  # secret-in-data / personal-data -> rule or kind -> findings
    by_tokenizer: dict[str, TokenizerCount] = {}  # the configured tokenizer and each of check_data's extra_tokenizers
    eval: dict[str, Any] | None = None  # evaluation.estimate.check_eval's estimate, with eval: in the config

    @property
    def ok(self) -> bool:
        return not self.errors


Log = Callable[[str], None]


def check_config(config: Config, workers: int | None = None, log: Log | None = None, today: date | None = None) -> ConfigReport:
    """Validate, count and price the data of a loaded finetune.yaml (and its eval:, offline), judged on `today` (default: lifecycle.today())."""
    report = check_data(
        config=config.display_path,
        name=config.name,
        model=config.model_info,
        method=config.method,
        train=config.train,
        validation=config.validation,
        split=config.split,
        hyperparameters=config.hyperparameters,
        scan=config.scan,
        workers=workers,
        log=log,
        compare=config.compare,
        today=today,
        eval_split=config.eval.split if config.eval else None,
    )
    return _with_eval(report, config, today) if config.eval else report


def with_untracked(report: ConfigReport, config: Config) -> ConfigReport:
    """A local check's warning for each data file git does not track: a commit without it (the
    pre-commit hook passed one) fails the pull request's check, and nothing trains on it."""
    files = [*config.train, *config.validation, *(config.eval.data if config.eval and config.eval.data else ())]
    missing = set(git.untracked(config.root, [data.path for data in files]))  # one git call for all
    found = tuple(
        Problem(data.display_path, None, None, "untracked-data", f"{data.display_path} is not committed to git (untracked or ignored): the pull request's check and the training run will not see it; `git add` it")
        for data in files
        if data.path in missing
    )
    if not found:
        return report
    counts = dict(report.problem_counts)
    counts["untracked-data"] = counts.get("untracked-data", 0) + len(found)
    return report._replace(warnings=report.warnings + found, problem_counts=counts)


def _with_eval(report: ConfigReport, config: Config, today: date | None = None) -> ConfigReport:
    from finetune_action.evaluation.estimate import check_eval  # evaluation builds on this module

    problems, estimate = check_eval(config, today)
    counts = dict(report.problem_counts)
    for p in problems:
        counts[p.code] = counts.get(p.code, 0) + 1
    return report._replace(
        errors=report.errors + tuple(p for p in problems if p.severity == ERROR),
        warnings=report.warnings + tuple(p for p in problems if p.severity != ERROR),
        problem_counts=counts,
        eval=estimate,
    )


def check_data(
    *,
    config: str,
    name: str,
    model: models.ModelInfo,
    method: str,
    train: Sequence[DataFile],
    validation: Sequence[DataFile] = (),
    split: Split | None = None,
    hyperparameters: dict[str, Any] | None = None,
    scan: ScanRules | None = None,
    workers: int | None = None,
    log: Log | None = None,
    compare: Sequence[CompareSpec] = (),
    today: date | None = None,
    extra_tokenizers: Sequence[str] = (),
    eval_split: Split | None = None,
) -> ConfigReport:
    """Validate, count and price training (and validation) files for `model` and `method`.

    Lifecycle is judged on `today`; `compare` prices the same training examples elsewhere.
    Every distinct tokenizer of `compare` (or the suggestions) and `extra_tokenizers` counts the
    examples in the same pass; ConfigReport.by_tokenizer holds every tokenizer's counts.
    """
    hyperparameters = hyperparameters or {}
    on = today or lifecycle.today()
    counted_with = counting_tokenizer(model.tokenizer)
    problems: list[Problem] = []
    counts: dict[str, int] = {}

    def add(problem: Problem | None, times: int = 1, code: str = "") -> None:
        # Scans keep a limited number of problems per code but count them all: counts come apart.
        if problem is not None:
            problems.append(problem)
            code = problem.code
        if times:
            counts[code] = counts.get(code, 0) + times

    where = config or (train[0].display_path if train else "")
    if not model.known:
        cost_note = "priced from finetune.yaml pricing" if model.price else "no cost estimate (add it under `pricing`)"
        add(Problem(where, None, None, "unknown-model", f"{model.name} is not in the {models.label(model.provider)} catalogue: tokens counted with {counted_with} (a guess), no per-example limit, {cost_note}"))
    judgements = lifecycle.judge(model, on)
    for judgement in judgements:
        add(Problem(where, None, None, judgement.code, judgement.message))
    if method == "reinforcement" and not validation and split is None:
        add(Problem(where, None, None, "validation-required", "reinforcement fine-tuning requires a validation file: add data.validation (or --validation)"))

    suggested = not compare and any(j.code in ("model-not-trainable", "training-closing") for j in judgements)
    specs = comparing.suggestions(model, method, on) if suggested else tuple(compare)
    others = [counting_tokenizer(comparing.info_of(spec, method).tokenizer) for spec in specs]
    extra = tuple(dict.fromkeys(name for name in (*others, *extra_tokenizers) if name != counted_with))

    scans: list[tuple[DataFile, str, str, validate.Scan | None]] = []
    for role, files in (("train", train), ("validation", validation)):
        for data in files:
            if log:
                log(f"checking {data.display_path} ({_size(data.path)})")
            scans.append(_scan(data, role, model, method, add, workers, counted_with, scan or ScanRules(), extra))

    file_reports, training_tokens, merged = _roles(scans, split, model.example_token_limit, add, eval_split)
    by_tokenizer = _by_tokenizer(scans, split, (counted_with, *extra), eval_split)
    examples = len(training_tokens)
    validation_examples = sum(f.examples if f.role == "validation" else f.validation_examples for f in file_reports)
    if train and examples < MIN_EXAMPLES:
        add(Problem(train[0].display_path, None, None, "too-few-examples", f"{examples} training examples; fine-tuning needs at least {MIN_EXAMPLES}"))
    elif train and examples < RECOMMENDED_EXAMPLES:
        add(Problem(train[0].display_path, None, None, "few-examples", f"{examples} training examples; results usually improve with 50 to 100 or more"))

    # One set of examples per tokenizer, priced once here and once per alternative: summed once.
    counted = {counted_with: training_tokens, **{other: by_tokenizer[other].training_tokens for other in others if other != counted_with}}
    totals = {name: cost.sums(tokens) for name, tokens in counted.items()}
    billed_per_epoch = cost.billed_tokens_per_epoch(training_tokens, model.example_token_limit, totals[counted_with])
    billing = models.catalogue(model.provider).get("billing", "validation tokens are not billed") if model.known else "validation tokens are not billed"
    estimate = cost.estimate(billed_per_epoch, examples, hyperparameters, model.price, model.name, model.default_epochs, models.label(model.provider), billing)
    formats_seen = sorted({f.format for f in file_reports}, key=formats.FORMATS.index)
    counting = _counting(model, formats_seen, estimate, split, counted_with)

    alternatives = [
        comparing.price(spec, method, other, counted[other], hyperparameters, on, totals[other]) for spec, other in zip(specs, others)
    ]

    ordered = sorted(problems, key=lambda p: (_file_order(p.path, scans), p.line or 0))
    scan_counts: dict[str, Counter] = {}
    for _data, _role, _format, file_scan in scans:
        for (code, label), n in (file_scan.findings.items() if file_scan else ()):
            scan_counts.setdefault(code, Counter())[label] += n
    return ConfigReport(
        config=config,
        name=name,
        model=model.name,
        base_model=model.base,
        method=method,
        encoding=counted_with,
        example_token_limit=model.example_token_limit,
        examples=examples,
        validation_examples=validation_examples,
        billed_tokens_per_epoch=billed_per_epoch,
        n_epochs=estimate.n_epochs,
        billed_tokens=estimate.billed_tokens,
        estimated_cost_usd=estimate.estimated_cost_usd,
        price=model.price,
        counting=counting,
        distributions=merged,
        files=tuple(file_reports),
        errors=tuple(p for p in ordered if p.severity == ERROR),
        warnings=tuple(p for p in ordered if p.severity != ERROR),
        problem_counts=counts,
        provider=model.provider,
        tokenizer=model.tokenizer,
        inference=model.inference,
        lifecycle={
            "today": on.isoformat(),
            "training_ends": model.training_ends,
            "last_training_day": lifecycle.last_training_day(model.training_ends),
            "serving_ends": model.serving_ends,
            "source": model.lifecycle_source or None,
            "training_source": model.training_source or None,
        },
        alternatives=tuple(alternatives),
        suggested=suggested and bool(alternatives),
        scan_counts={code: dict(labels.most_common()) for code, labels in sorted(scan_counts.items())},
        by_tokenizer=by_tokenizer,
    )


def _by_tokenizer(scans: list, split: Split | None, names: tuple[str, ...], eval_split: Split | None = None) -> dict[str, TokenizerCount]:
    """Per tokenizer, the tokens of every training and validation example (the first name: the configured one);
    examples held out for eval are in neither."""
    found = {}
    for index, name in enumerate(names):
        training, validation = array("I"), array("I")
        for _data, role, _format, scan in scans:
            if scan is None:
                continue
            tokens = scan.tokens if index == 0 else scan.extra_tokens[index - 1]
            roles = _example_roles(scan, role, split, eval_split)
            if not any(roles):
                training.extend(tokens)
            elif role == "validation":
                validation.extend(tokens)
            else:
                for n, moved in zip(tokens, roles):
                    if moved != 2:  # 2: held out for eval, never uploaded
                        (validation if moved else training).append(n)
        tokenizer = tokenizers.get(name)
        found[name] = TokenizerCount(name, tokenizer.exact, tokenizer.rests_on, training, validation)
    return found


def _scan(data: DataFile, role: str, model: models.ModelInfo, method: str, add: Callable, workers: int | None, tokenizer: str, scan: ScanRules, extra: tuple[str, ...] = ()):
    default = formats.default_format(method, model.legacy_completions)
    try:
        format = validate.first_format(data.path, method, default)
    except OSError as exc:
        add(Problem(data.display_path, None, None, "unreadable-file", f"cannot read the file ({exc.strerror or exc}); check the path and permissions"))
        return data, role, default, None
    mismatch = _format_mismatch(format, method, model)
    if mismatch:
        add(Problem(data.display_path, None, None, "format-mismatch", mismatch))
    # An unknown model may well take images: only the image checks themselves apply.
    rules = validate.Rules(format, method, tokenizer, model.vision or not model.known, model.example_token_limit, scan, extra)
    try:
        found = validate.scan_file(data.path, rules, workers)
    except OSError as exc:
        add(Problem(data.display_path, None, None, "unreadable-file", f"cannot read the file ({exc.strerror or exc}); check the path and permissions"))
        return data, role, format, None
    for problem in found.problems:
        add(Problem(data.display_path, *problem), times=0)
    for code, n in found.counts.items():
        add(None, times=n, code=code)
    return data, role, format, found


def _format_mismatch(format: str, method: str, model: models.ModelInfo) -> str | None:
    wanted = formats.METHOD_OF[format]
    if wanted != method:
        return f"the data is in {format} format (from its first example), which trains with method {wanted}; the config says method: {method}. Change `method` or convert the data."
    if format == "completion" and model.known and not model.legacy_completions:
        return f"prompt/completion data is only for babbage-002 and davinci-002; {model.name} needs chat examples ({{\"messages\": [...]}})."
    if format == "chat" and model.legacy_completions:
        return f"{model.name} is trained on prompt/completion examples, not chat messages; convert the data or pick a chat model."
    return None


def in_validation(example_hash: bytes, split: Split, key_prefix: bytes = b"") -> bool:
    """Whether data.split moves an example to validation: a keyed hash of its content, so it streams."""
    key = key_prefix + str(split.seed).encode()
    value = int.from_bytes(hashlib.blake2b(example_hash, key=key, digest_size=8).digest(), "big")
    return value < split.fraction * 2**64


def held_out(example_hash: bytes, split: Split) -> bool:
    """Whether eval.split holds an example out of training (never uploaded).

    Keyed apart from data.split, so the same seed in both never picks the same examples.
    """
    return in_validation(example_hash, split, b"eval:")


def _roles(scans: list, split: Split | None, limit: int | None, add: Callable, eval_split: Split | None = None):
    """File reports, the token counts of every training example, and their distributions.

    Also reports duplicates within a role and examples present in both roles (leakage).
    """
    reports: list[FileReport] = []
    training_tokens = array("I")
    training_messages = array("I")
    training_assistant = array("I")
    first_seen: dict[int, tuple[str, str, int]] = {}  # hash -> (role, path, line), for repeated hashes only
    repeated = _repeated([memoryview(scan.hashes).cast("Q") for _data, _role, _format, scan in scans if scan])
    for data, role, format, scan in scans:
        if scan is None:
            reports.append(FileReport(data.display_path, role, format, (), 0, 0, 0, 0, 0, dict.fromkeys(DISTRIBUTIONS), b""))
            continue
        roles = _example_roles(scan, role, split, eval_split)
        moved = roles.count(1) if role == "train" else 0
        tokens = scan.tokens
        if not any(roles):  # every example trains: whole arrays, no per-example loop
            totals = cost.sums(tokens)
            truncated = 0 if limit is None or totals[1] <= limit else cost.over_limit(tokens, limit)
            billed = cost.billed_tokens_per_epoch(tokens, limit, totals)
            training_tokens.extend(tokens)
            training_messages.extend(scan.messages)
            training_assistant.extend(scan.assistant_tokens)
        else:
            truncated = cost.over_limit(tokens, limit)
            billed = 0
            for index, n in enumerate(tokens):
                if not roles[index]:
                    billed += n if limit is None or n < limit else limit
                    training_tokens.append(n)
                    training_messages.append(scan.messages[index])
                    training_assistant.append(scan.assistant_tokens[index])
        if repeated:
            kept: Counter = Counter()  # problems kept per code in this file, as the scan keeps them
            for index, digest in enumerate(memoryview(scan.hashes).cast("Q")):
                if digest in repeated:
                    example_role = _ROLE_NAMES[roles[index]]
                    _repeat(first_seen, digest, example_role, data.display_path, scan.example_lines[index], add, kept)
        reports.append(
            FileReport(
                path=data.display_path,
                role=role,
                format=format,
                features=tuple(sorted(scan.features)),
                lines=scan.lines,
                examples=len(tokens),
                validation_examples=moved,
                billed_tokens_per_epoch=billed,
                truncated_examples=truncated,
                distributions={
                    "messages_per_example": distribution(scan.messages),
                    "tokens_per_example": distribution(tokens),
                    "assistant_tokens_per_example": distribution(scan.assistant_tokens),
                },
                example_hashes=bytes(scan.hashes),
            )
        )
    whole = [report for report, (_data, role, _format, scan) in zip(reports, scans) if scan and role == "train"]
    if len(whole) == 1 and whole[0].examples == len(training_tokens):  # one training file, all of it trains: its own figures
        merged = dict(whole[0].distributions)
    else:
        merged = {
            "messages_per_example": distribution(training_messages),
            "tokens_per_example": distribution(training_tokens),
            "assistant_tokens_per_example": distribution(training_assistant),
        }
    return reports, training_tokens, merged


def _example_roles(scan: validate.Scan, role: str, split: Split | None, eval_split: Split | None = None) -> bytearray:
    """1 for each example that ends up in validation, 2 held out for eval (never uploaded), 0 for training."""
    examples = len(scan.tokens)
    if role == "validation":
        return bytearray(b"\x01" * examples)
    if split is None and eval_split is None:
        return bytearray(examples)
    data = scan.hashes
    hashes = [data[i : i + validate.HASH_BYTES] for i in range(0, len(data), validate.HASH_BYTES)]
    return bytearray(
        2 if eval_split and held_out(h, eval_split) else int(split is not None and in_validation(h, split))
        for h in hashes
    )


def _repeated(runs: Sequence[Sequence[int]]) -> set[int]:
    """The content hashes that occur more than once in `runs` (usually none).

    A set of every hash would hold a Python integer and a slot per example (80 bytes: 30 MB at
    400k examples, on top of everything else the check holds). A byte per bucket of the hashes'
    low bits (16 to 32 an example) finds the few buckets hit twice; only their hashes are counted.
    """
    total = sum(len(run) for run in runs)
    if total < 2:
        return set()
    mask = (1 << max(10, (total * 16 - 1).bit_length())) - 1
    seen = bytearray(mask + 1)
    collided: set[int] = set()
    for run in runs:
        for digest in run:
            bucket = digest & mask
            if seen[bucket]:
                collided.add(bucket)
            else:
                seen[bucket] = 1
    del seen
    if not collided:
        return set()
    candidates = Counter(digest for run in runs for digest in run if digest & mask in collided)
    return {digest for digest, n in candidates.items() if n > 1}


_ROLE_NAMES = ("train", "validation", "eval")  # as _example_roles numbers them
#: What a second copy costs, by the role both copies are in.
_TWICE = {
    "train": "it is trained on (and billed) twice",
    "validation": "validation scores it twice",
    "eval": "both are held out for the eval, which counts it twice",
}


def _repeat(first_seen: dict, digest: int, role: str, path: str, line: int, add: Callable, kept: Counter) -> None:
    seen = first_seen.get(digest)
    if seen is None:
        first_seen[digest] = (role, path, line)
        return
    if seen[0] != role and "eval" in (seen[0], role):
        return  # a held-out example trained or validated on too: eval-leakage reports it, as an error
    code = "duplicate-example" if seen[0] == role else "train-validation-overlap"
    if kept[code] >= validate.MAX_KEPT_PER_CODE:
        add(None, code=code)
        return
    kept[code] += 1
    if seen[0] == role:
        add(Problem(path, line, None, code, f"exact duplicate of {seen[1]}:{seen[2]}; {_TWICE[role]}"))
    else:
        add(Problem(path, line, None, code, f"the same example is in the {seen[0]} data at {seen[1]}:{seen[2]}: validation on training data overstates quality"))


def distribution(values: Sequence[int]) -> Distribution | None:
    """min, max, mean, median, p5 and p95 (numpy's default linear quantiles), None when empty.

    Read off a histogram rather than a sorted copy: token counts repeat, so a million examples
    take a few thousand entries instead of a million Python integers.
    """
    if not values:
        return None
    histogram = sorted(Counter(values).items())
    ends = list(accumulate(n for _value, n in histogram))  # rank just past each value

    def at(rank: int) -> int:
        return histogram[bisect_right(ends, rank)][0]

    size = len(values)
    return Distribution(
        min=histogram[0][0],
        max=histogram[-1][0],
        mean=sum(values) / size,
        median=_interpolate(at, size, 0.5),
        p5=_interpolate(at, size, 0.05),
        p95=_interpolate(at, size, 0.95),
    )


def quantile(ordered: Sequence[int], q: float) -> float:
    """The q-quantile of sorted values, interpolating linearly like numpy.quantile's default."""
    return _interpolate(ordered.__getitem__, len(ordered), q)


def _interpolate(at: Callable[[int], int], size: int, q: float) -> float:
    position = (size - 1) * q
    low = int(position)
    high = min(low + 1, size - 1)
    return at(low) + (at(high) - at(low)) * (position - low)


def _counting(model: models.ModelInfo, formats_seen: list[str], estimate: cost.Estimate, split: Split | None, counted_with: str) -> dict[str, str]:
    limit = model.example_token_limit
    tokenizer = tokenizers.get(counted_with)
    if not model.known:
        guess = f"; {model.name} is unknown, so {counted_with} is a guess"
    elif counted_with != model.tokenizer:
        guess = f"; approximate: {model.base} uses {model.tokenizer}, which finetune-action does not know"
    else:
        guess = ""

    def rule(format: str) -> str:
        if tokenizer.template is None or format == "completion":
            return token_count.RULES[format]
        return token_count.TEMPLATED_RULE.format(format=format, tokenizer=tokenizer.name)

    counting = {
        "tokens": "; ".join(rule(f) for f in formats_seen) or rule("chat"),
        "encoding": tokenizer.rests_on + guess,
        "example_token_limit": f"{limit} tokens per example ({model.base}): longer examples are cut and billed up to it"
        if limit
        else "no per-example limit known: examples are billed in full",
        "billed_tokens_per_epoch": "sum over training examples of min(limit, example tokens); validation tokens are not billed",
        "n_epochs": estimate.epochs_rule,
        "estimated_cost_usd": estimate.price_note,
    }
    if split:
        counting["split"] = f"data.split: an example goes to validation when blake2b(seed {split.seed}, its content hash) < {split.fraction} of the hash range"
    return counting


def _file_order(path: str, scans: list) -> int:
    for index, (data, *_rest) in enumerate(scans):
        if data.display_path == path:
            return index
    return -1


def _size(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return "unreadable"
    return f"{size / 1048576:.1f} MB" if size >= 1 << 20 else f"{size / 1024:.1f} KB"
