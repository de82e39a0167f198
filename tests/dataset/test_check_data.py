"""The orchestrator in-process: what the PR diff needs (hashes) and what the CLI cannot reach."""
from __future__ import annotations

import hashlib
import json
import random
from array import array
from pathlib import Path

import numpy
import pytest

from finetune_action import check, config, models
from bench import generate
from finetune_action.dataset import validate
from finetune_action.tokens import count, tokenizers

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def run(train: list[Path], split: config.Split | None = None, model: str = "gpt-4o-mini") -> check.ConfigReport:
    return check.check_data(
        config="",
        name="t",
        model=models.resolve(model),
        method="supervised",
        train=tuple(config.DataFile(p, p.name) for p in train),
        split=split,
        workers=1,
    )


def test_hashes_are_the_first_8_bytes_of_sha256_of_each_example_line_in_order() -> None:
    path = DATA / "good" / "chat.jsonl"
    report = run([path])
    lines = path.read_bytes().splitlines()
    assert list(report.files[0].hashes()) == [hashlib.sha256(line).digest()[:8] for line in lines]
    assert len(report.files[0].example_hashes) == 8 * len(lines)


def test_unreadable_file_is_a_data_error(tmp_path: Path) -> None:
    report = run([tmp_path])  # a directory where a file should be
    assert [p.code for p in report.errors] == ["unreadable-file", "too-few-examples"]
    assert report.files[0].examples == 0


def test_split_is_deterministic_and_by_content(tmp_path: Path) -> None:
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}) for i in range(200)]
    first = tmp_path / "a.jsonl"
    first.write_text("\n".join(lines) + "\n")
    second = tmp_path / "b.jsonl"
    second.write_text("\n".join(reversed(lines)) + "\n")
    split = config.Split(0.2, 11)
    a, b = run([first], split), run([second], split)
    assert a.validation_examples == b.validation_examples
    assert 20 < a.validation_examples < 60
    assert a.examples + a.validation_examples == 200
    assert a.billed_tokens_per_epoch == b.billed_tokens_per_epoch
    moved = [h for h in a.files[0].hashes() if check.in_validation(h, split)]
    assert len(moved) == a.validation_examples


def test_unknown_models_are_not_refused_images() -> None:
    report = run([DATA / "good" / "vision.jsonl"], model="my-vision-model")
    assert report.errors == ()
    assert [w.code for w in report.warnings] == ["unknown-model", "few-examples"]
    assert report.estimated_cost_usd is None and report.price is None


def test_repeats_keep_a_capped_number_of_problems_but_count_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file repeated five times over must not hold (or print) one problem per repeat.
    monkeypatch.setattr(validate, "MAX_KEPT_PER_CODE", 10)
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}) for i in range(30)]
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(lines * 5) + "\n")
    valid = tmp_path / "valid.jsonl"
    valid.write_text("\n".join(lines[:12]) + "\n")
    report = check.check_data(
        config="", name="t", model=models.resolve("gpt-4o-mini"), method="supervised",
        train=(config.DataFile(train, "train.jsonl"),), validation=(config.DataFile(valid, "valid.jsonl"),), workers=1,
    )
    assert report.problem_counts["duplicate-example"] == 120
    assert report.problem_counts["train-validation-overlap"] == 12
    kept = [p for p in report.warnings + report.errors if p.code == "duplicate-example"]
    assert len(kept) == 10 and kept[0].line == 31 and "exact duplicate of train.jsonl:1;" in kept[0].message
    assert len([p for p in report.warnings + report.errors if p.code == "train-validation-overlap"]) == 10


def test_a_duplicate_is_worded_by_where_both_copies_go(tmp_path: Path) -> None:
    """Copies that data.split moves to validation, or that eval.split holds out, are not trained on
    (or billed) twice; a held-out example also in the validation file is eval-leakage's error,
    not a train-validation-overlap warning."""
    split, held = config.Split(0.3, 1), config.Split(0.3, 2)
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}) + "\n" for i in range(60)]

    def role(raw: str) -> str:
        digest = validate.example_hash(raw.rstrip("\n").encode())
        return "eval" if check.held_out(digest, held) else "validation" if check.in_validation(digest, split) else "train"

    first = {}
    for raw in lines:
        first.setdefault(role(raw), raw)
    assert set(first) == {"train", "validation", "eval"}
    train = tmp_path / "train.jsonl"
    train.write_text("".join(lines) + first["train"] + first["validation"] + first["eval"])
    valid = tmp_path / "valid.jsonl"
    valid.write_text(first["eval"])  # also held out of the training file: leakage
    report = check.check_data(
        config="", name="t", model=models.resolve("gpt-4o-mini"), method="supervised",
        train=(config.DataFile(train, "train.jsonl"),), validation=(config.DataFile(valid, "valid.jsonl"),),
        split=split, eval_split=held, workers=1,
    )
    duplicates = {p.line: p.message.split("; ", 1)[1] for p in report.warnings if p.code == "duplicate-example"}
    assert duplicates == {61: "it is trained on (and billed) twice", 62: "validation scores it twice", 63: "both are held out for the eval, which counts it twice"}
    assert "train-validation-overlap" not in report.problem_counts


@pytest.mark.parametrize("seed", range(5))
def test_distribution_equals_numpy(seed: int) -> None:
    rng = random.Random(seed)
    values = array("I", (rng.choice([rng.randint(0, 40), rng.randint(0, 70_000)]) for _ in range(rng.randint(1, 3000))))
    got = check.distribution(values)
    assert (got.min, got.max) == (min(values), max(values))
    assert got.mean == pytest.approx(numpy.mean(values), rel=1e-12)
    for name, q in (("median", 0.5), ("p5", 0.05), ("p95", 0.95)):
        assert getattr(got, name) == pytest.approx(numpy.quantile(values, q), rel=1e-12), name


ALTERNATIVES = ("o200k_harmony", "qwen3", "llama3", "mistral-tekken")
_CALL = {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
EDGES = [
    {"messages": [{"role": "system", "content": "  leading spaces meet the template's lead"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
    {"messages": [{"role": "system", "content": "\nnew line first"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": " yo"}]},
    {"messages": [{"role": "user", "content": "no system, ends on the user"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "and?"}]},
    {"messages": [{"role": "user", "content": "look it up"}, {"role": "assistant", "tool_calls": [_CALL]}, {"role": "tool", "tool_call_id": "call_9", "content": "found"}, {"role": "assistant", "content": "done"}]},
    {"messages": [{"role": "developer", "content": "a developer message takes the general path"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
]


def expected_counts(path: Path, name: str) -> list[int]:
    """Each example counted on its own, with a fresh counter: what the single pass must give."""
    tokenizer = tokenizers.get(name)
    counter = count.make_counter(tokenizer.encoding, normalize=tokenizer.normalize)
    return [count.example_tokens(json.loads(line), "chat", counter, tokenizer.template).total for line in path.read_text("utf-8").splitlines()]


@pytest.mark.parametrize("workers", [1, 2])
def test_every_tokenizer_counted_in_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    path = tmp_path / "train.jsonl"
    generate.generate(path, 0.4, seed=5)  # tools, tool calls and answers, eight scripts
    with path.open("a", encoding="utf-8") as file:  # the shapes where a template's count is not the chat rule's plus overheads
        for example in EDGES:
            file.write(json.dumps(example, ensure_ascii=False) + "\n")
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(validate, "RANGE_MIN_BYTES", 20_000)
    single = run([path])
    report = check.check_data(config="", name="t", model=models.resolve("gpt-4o-mini"), method="supervised",
                              train=(config.DataFile(path, "train.jsonl"),), workers=workers, extra_tokenizers=(*ALTERNATIVES, "o200k_base", "qwen3"))
    assert list(report.by_tokenizer) == ["o200k_base", *ALTERNATIVES]
    assert report._replace(by_tokenizer={}) == single._replace(by_tokenizer={})  # the configured model's numbers do not move
    main = report.by_tokenizer["o200k_base"]
    assert list(main.training_tokens) == expected_counts(path, "o200k_base")
    assert main.billed_tokens_per_epoch(report.example_token_limit) == report.billed_tokens_per_epoch
    for name in ALTERNATIVES:
        counted = report.by_tokenizer[name]
        assert list(counted.training_tokens) == expected_counts(path, name), name
        assert counted.rests_on == tokenizers.get(name).rests_on and not counted.validation_tokens


def test_by_tokenizer_follows_the_split_and_the_billing_rules(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    generate.generate(path, 0.1, seed=6)
    split = config.Split(0.25, 3)
    report = check.check_data(config="", name="t", model=models.resolve("gpt-4o-mini"), method="supervised",
                              train=(config.DataFile(path, "train.jsonl"),), split=split, workers=1, extra_tokenizers=("llama3",))
    llama = report.by_tokenizer["llama3"]
    every = expected_counts(path, "llama3")
    moved = [check.in_validation(h, split) for h in report.files[0].hashes()]
    assert list(llama.training_tokens) == [n for n, m in zip(every, moved) if not m]
    assert list(llama.validation_tokens) == [n for n, m in zip(every, moved) if m]
    assert llama.examples == report.examples and len(llama.validation_tokens) == report.validation_examples
    limit = sorted(llama.training_tokens)[len(llama.training_tokens) // 2]
    assert llama.billed_tokens_per_epoch(limit) == sum(min(n, limit) for n in llama.training_tokens)
    assert llama.billed_tokens_per_epoch(8192, packing=False) == 8192 * llama.examples  # Together AI, packing off
    assert llama.validation_tokens_per_evaluation(None) == sum(llama.validation_tokens)
    assert llama.truncated_examples(limit) == sum(1 for n in llama.training_tokens if n > limit)


def test_a_configured_open_model_counts_with_its_template_and_flags_its_special_tokens(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    generate.generate(path, 0.06, seed=7)
    with path.open("a") as file:
        file.write(json.dumps({"messages": [{"role": "user", "content": "say <|eot_id|>"}, {"role": "assistant", "content": "no"}]}) + "\n")
    model = models.resolve("gpt-4o-mini")._replace(tokenizer="llama3")
    report = check.check_data(config="", name="t", model=model, method="supervised", train=(config.DataFile(path, "train.jsonl"),), workers=1)
    assert list(report.by_tokenizer["llama3"].training_tokens) == expected_counts(path, "llama3")
    assert report.billed_tokens_per_epoch == sum(expected_counts(path, "llama3"))
    assert [p.line for p in report.errors if p.code == "special-token"] == [report.files[0].lines]
    assert "llama3's chat template" in report.counting["tokens"]


def test_repeated_hashes_are_found_exactly_across_files_and_buckets() -> None:
    # Duplicates are found from a bucket per hash's low bits: hashes sharing a bucket are not repeats.
    rng = random.Random(7)
    first = array("Q", (rng.getrandbits(64) for _ in range(5000)))
    same_bucket = array("Q", (first[i] ^ (1 << 63) for i in range(0, 100)))  # low bits equal, hash differs
    second = array("Q", [*first[100:103], *(rng.getrandbits(64) for _ in range(300)), first[200], first[200]])
    runs = [memoryview(first), memoryview(same_bucket), memoryview(second)]
    everything = [h for run in runs for h in run]
    assert check._repeated(runs) == {h for h in set(everything) if everything.count(h) > 1} == {*first[100:103], first[200]}
    assert check._repeated([memoryview(first)]) == set() and check._repeated([]) == set()
