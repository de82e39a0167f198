"""review.py: a data file is known by its git blob, so the base costs only what changed."""
from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest

from finetune_action import git as gitmod
from finetune_action import review
from finetune_action.report import diff
from finetune_action.dataset import results, validate
from testing.repo import chat_examples, commit, git, init_repo, minimal_config


def pull_request(tmp_path: Path, head_data: list[dict] | None) -> tuple[Path, str]:
    repo = init_repo(tmp_path / "repo")
    config = minimal_config()
    config["data"] = {"train": "data/train.jsonl", "validation": "data/valid.jsonl"}
    base = commit(repo, {"finetune.yaml": config, "data/train.jsonl": chat_examples(30), "data/valid.jsonl": chat_examples(5, "billing")})
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, {"finetune.yaml": {**config, "hyperparameters": {"n_epochs": 2}}, **({"data/train.jsonl": head_data} if head_data else {})}, "the PR")
    return repo, base


def test_a_data_file_the_base_shares_with_the_head_is_checked_once(tmp_path: Path, scanned: list[bytes]) -> None:
    repo, base = pull_request(tmp_path, head_data=None)
    with results.session(None):
        entry = review.review_config("finetune.yaml", repo, base)
    assert len(scanned) == 35  # 30 training and 5 validation lines, each once
    assert entry["diff"]["examples_added"] == entry["diff"]["examples_removed"] == 0
    assert entry["base"]["examples"] == entry["head"]["examples"] == 30


def test_a_changed_file_checks_only_its_changed_lines_on_the_base(tmp_path: Path, scanned: list[bytes]) -> None:
    head_data = chat_examples(30)
    head_data[7] = {"messages": [{"role": "user", "content": "changed"}, {"role": "assistant", "content": "yes"}]}
    repo, base = pull_request(tmp_path, head_data)
    with results.session(None):
        entry = review.review_config("finetune.yaml", repo, base)
    assert len(scanned) == 35 + 1  # the head's lines, then the base's one line the head does not have
    assert (entry["diff"]["examples_added"], entry["diff"]["examples_removed"], entry["diff"]["examples_changed"]) == (0, 0, 1)


def one_line_changed_with_stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, dict]:
    """A pull request changing one line of 30, its review without a cache, and every base file made a stand-in from then on."""
    head_data = chat_examples(30)
    head_data[3] = {"messages": [{"role": "user", "content": "changed"}, {"role": "assistant", "content": "yes"}]}
    repo, base = pull_request(tmp_path, head_data)
    with results.session(None):
        expected = review.review_config("finetune.yaml", repo, base)
    monkeypatch.setattr(gitmod, "STAND_IN_MIN_BYTES", 1)
    monkeypatch.setattr(gitmod, "STAND_IN_LINES", 2)
    return repo, base, expected


def test_big_base_files_are_stand_ins_written_whole_only_when_their_results_are_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scanned: list[bytes]) -> None:
    repo, base, expected = one_line_changed_with_stand_ins(tmp_path, monkeypatch)
    cache = tmp_path / "results"
    # Unknown: the stand-in is written whole before it is checked, and the review is the same.
    with results.session(cache):
        assert review.review_config("finetune.yaml", repo, base) == expected
    # The base branch's own run (its head is this base) left its results: the base file is not written out.
    git(repo, "checkout", "-q", base)
    with results.session(cache):
        review.review_config("finetune.yaml", repo, base)
    git(repo, "checkout", "-q", "feature")
    writes: list[int | None] = []
    write_blob = gitmod.write_blob
    monkeypatch.setattr(gitmod, "write_blob", lambda repo, blob, target, max_lines=None: (writes.append(max_lines), write_blob(repo, blob, target, max_lines)))
    stream_blob = gitmod.stream_blob
    monkeypatch.setattr(gitmod, "stream_blob", lambda repo, blob, target: (writes.append(None), stream_blob(repo, blob, target))[1])
    prefetch = gitmod.Prefetch
    monkeypatch.setattr(gitmod, "Prefetch", lambda repo, blob, target: (writes.append(None), prefetch(repo, blob, target))[1])
    scanned.clear()
    with results.session(cache):
        assert review.review_config("finetune.yaml", repo, base) == expected
    assert writes == [2, 2] and scanned == []


def test_a_touched_checkout_is_not_taken_for_its_blob(tmp_path: Path, scanned: list[bytes]) -> None:
    repo, base = pull_request(tmp_path, head_data=None)
    (repo / "data" / "train.jsonl").write_text((repo / "data" / "train.jsonl").read_text().replace("notes", "NOTES", 1))
    assert "data/train.jsonl" not in gitmod.unchanged_blobs(repo, (repo / "finetune.yaml").read_text(), "finetune.yaml")
    with results.session(None):
        entry = review.review_config("finetune.yaml", repo, base)
    assert (entry["diff"]["examples_added"], entry["diff"]["examples_removed"], entry["diff"]["examples_changed"]) == (0, 0, 1)


@pytest.mark.parametrize("seed", range(30))
def test_only_the_places_that_differ_reach_the_diff_and_it_says_the_same(seed: int) -> None:
    rng = random.Random(seed)
    pool = [bytes([i]) * validate.HASH_BYTES for i in range(12)]

    def side() -> dict[str, list[bytes]]:
        return {path: [rng.choice(pool) for _ in range(rng.randrange(0, 80))] for path in rng.sample(["a", "b", "c"], rng.randrange(1, 4))}

    base = side()
    alike = rng.choice([0.7, 0.97])  # a few scattered edits, as a pull request makes, leave whole blocks alike
    head = {path: [h if rng.random() < alike else rng.choice(pool) for h in hashes] + rng.sample(pool, rng.randrange(0, 3)) for path, hashes in base.items() if rng.random() < 0.8}
    head.update({path: hashes for path, hashes in side().items() if path not in head and rng.random() < 0.5})
    joined = (lambda s: {path: b"".join(hashes) for path, hashes in s.items()})
    base_left, head_left = review.differing(joined(base), joined(head))
    assert diff.example_changes(base_left, head_left) == diff.example_changes(base, head)
    for path in base.keys() | head.keys():  # exactly the places that differ, and what one side has past the other's end
        pairs = [(old, new) for old, new in zip(base.get(path, []), head.get(path, [])) if old != new]
        common = min(len(base.get(path, [])), len(head.get(path, [])))
        assert base_left.get(path) == ([old for old, _new in pairs] + base[path][common:] if path in base else None)
        assert head_left.get(path) == ([new for _old, new in pairs] + head[path][common:] if path in head else None)


def test_a_base_file_the_run_does_not_know_is_written_out_while_the_head_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Cold: git writes the base's changed file out in its own process from the start, and the
    # base's workers scan its ranges as they are written. The unchanged file (the head knows its
    # blob by the time the base is checked) is not written out at all. Same review as plain.
    repo, base, expected = one_line_changed_with_stand_ins(tmp_path, monkeypatch)
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(validate, "RANGE_MIN_BYTES", 512)
    started: list[Path] = []
    prefetch = gitmod.Prefetch
    monkeypatch.setattr(gitmod, "Prefetch", lambda repo, blob, target: (started.append(target), prefetch(repo, blob, target))[1])
    with results.session(None):
        assert review.review_config("finetune.yaml", repo, base) == expected
    assert [path.name for path in started] == ["train.jsonl"]


def test_big_base_files_behind_a_symlinked_temporary_directory_are_read_against_the_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # macOS's temporary directory is behind a symlink (/var -> /private/var); git's big files are exported to resolved paths.
    repo, base, expected = one_line_changed_with_stand_ins(tmp_path, monkeypatch)
    (tmp_path / "real-tmp").mkdir()
    (tmp_path / "tmp-link").symlink_to(tmp_path / "real-tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp-link"))
    liked: list[str | None] = []
    register = results.register
    monkeypatch.setattr(results, "register", lambda path, blob, *args, like=None: (liked.append(like), register(path, blob, *args, like=like))[1])
    with results.session(None):
        assert review.review_config("finetune.yaml", repo, base) == expected
    assert sum(like is not None for like in liked) >= 2  # base files like the head's, and the head's like the base's


def checks_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The display path of every config side really checked (not recalled from the results cache)."""
    checked: list[str] = []
    check_config = review.checking.check_config
    monkeypatch.setattr(review.checking, "check_config", lambda loaded, **kw: (checked.append(loaded.display_path), check_config(loaded, **kw))[1])
    return checked


def test_a_side_the_base_branchs_run_checked_is_not_checked_again_and_says_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scanned: list[bytes]) -> None:
    head_data = chat_examples(30)
    head_data[3] = {"messages": [{"role": "user", "content": "changed"}, {"role": "assistant", "content": "yes"}]}
    repo, base = pull_request(tmp_path, head_data)
    with results.session(None):
        expected = review.review_config("finetune.yaml", repo, base)
    cache = tmp_path / "results"
    git(repo, "checkout", "-q", base)  # the base branch's own run: its head is the pull request's base
    with results.session(cache):
        review.review_config("finetune.yaml", repo, base)
    git(repo, "checkout", "-q", "feature")
    checked = checks_counted(monkeypatch)
    logged: list[str] = []
    with results.session(cache):
        assert review.review_config("finetune.yaml", repo, base, logged.append) == expected
    assert checked == ["finetune.yaml"]  # the head; the base's report is the base branch run's
    assert any("its report is that run's" in line for line in logged)
    # The next run with nothing changed (a re-run of the check) checks neither side.
    checked.clear()
    scanned.clear()
    with results.session(cache):
        assert review.review_config("finetune.yaml", repo, base) == expected
    assert checked == [] and scanned == []


def test_a_side_is_remembered_only_under_everything_its_report_rests_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, base = pull_request(tmp_path, head_data=None)
    cache = tmp_path / "results"
    checked = checks_counted(monkeypatch)
    with results.session(cache):
        review.review_config("finetune.yaml", repo, base)
    assert checked == ["finetune.yaml", "finetune.yaml"]  # the first run checks both sides
    checked.clear()
    monkeypatch.setenv("FINETUNE_TODAY", "2026-07-02")  # another day: the model's lifecycle may say otherwise
    with results.session(cache):
        review.review_config("finetune.yaml", repo, base)
    assert checked == ["finetune.yaml", "finetune.yaml"]
    checked.clear()
    # The same config over other data: checked again.
    commit(repo, {"data/train.jsonl": chat_examples(31)}, "one example more")
    with results.session(cache):
        entry = review.review_config("finetune.yaml", repo, base)
    assert checked == ["finetune.yaml"] and entry["head"]["examples"] == 31
    checked.clear()
    # A data file git does not track (a glob matches it) has no blob: that side is checked every time.
    config = minimal_config(data={"train": "data/*.jsonl"})
    commit(repo, {"finetune.yaml": config}, "every file under data/")
    (repo / "data" / "extra.jsonl").write_text("".join(json.dumps(example) + "\n" for example in chat_examples(4, "extra")))
    for _run in range(2):
        with results.session(cache):
            entry = review.review_config("finetune.yaml", repo, base)
    assert checked == ["finetune.yaml"] * 2 and entry["head"]["examples"] == 31 + 5 + 4  # the head each time; the base is remembered
    # A config with an eval: section reads files its key does not name: never remembered.
    checked.clear()
    commit(repo, {"finetune.yaml": minimal_config(eval={"split": {"fraction": 0.25, "seed": 3}, "graders": ["exact_match"]})}, "eval")
    (repo / "data" / "extra.jsonl").unlink()
    for _run in range(2):
        with results.session(cache):
            review.review_config("finetune.yaml", repo, base)
    assert checked == ["finetune.yaml"] * 2


def test_a_remembered_side_that_does_not_read_back_is_checked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, base = pull_request(tmp_path, head_data=None)
    records: list[bytes] = []
    remember = results.remember
    monkeypatch.setattr(results, "remember", lambda key, parts: (records.append(b"".join(parts)), remember(key, parts))[1])
    with results.session(None):
        expected = review.review_config("finetune.yaml", repo, base)
    good = records[0]
    assert review._decode_side(good) is not None
    fmt, size, files = review._SIDE_HEAD.unpack_from(good, 0)
    damaged = [
        good[:cut] for cut in (0, 5, review._SIDE_HEAD.size, review._SIDE_HEAD.size + size // 2, len(good) - 3, len(good) - 1)
    ] + [
        good + b"x",  # a byte too long
        review._SIDE_HEAD.pack(fmt + 1, size, files) + good[review._SIDE_HEAD.size :],  # another format
        review._SIDE_HEAD.pack(fmt, size, files + 1) + good[review._SIDE_HEAD.size :],  # a file more than it holds
        review._SIDE_HEAD.pack(fmt, 2, 0) + b"[]",  # JSON, but no report
        review._SIDE_HEAD.pack(fmt, 1, 0) + b"{",  # not JSON
    ]
    for record in damaged:
        assert review._decode_side(record) is None, record[:40]
    checked = checks_counted(monkeypatch)
    for record in damaged:
        monkeypatch.setattr(results, "recall", lambda key, record=record: record)
        with results.session(None):
            assert review.review_config("finetune.yaml", repo, base) == expected
    assert len(checked) == 2 * len(damaged)


def test_a_config_input_given_as_an_absolute_path_in_the_workspace_is_taken_relative_to_it(tmp_path: Path) -> None:
    # `config: ${{ github.workspace }}/finetune.yaml` was an unexpected NotImplementedError.
    from finetune_action.errors import ConfigError

    (tmp_path / "configs").mkdir()
    for name in ("finetune.yaml", "configs/a.yaml", "configs/b.yaml"):
        (tmp_path / name).write_text("version: 1\n")
    assert review.config_paths([str(tmp_path / "finetune.yaml"), f"{tmp_path}/configs/*.yaml"], tmp_path, None) == ["finetune.yaml", "configs/a.yaml", "configs/b.yaml"]
    with pytest.raises(ConfigError, match="names a path outside the workspace"):
        review.config_paths(["/etc/finetune.yaml"], tmp_path, None)


def test_step_outputs_show_dollars_as_the_comment_does() -> None:
    # $0.0336 was "0.03" and a delta of -$0.0006 "-0.00".
    entry = lambda cost, delta: {"config": "f.yaml", "head": {"examples": 1, "billed_tokens": 1, "estimated_cost_usd": cost}, "diff": {"delta": {"estimated_cost_usd": delta}}}  # noqa: E731
    assert review.totals({"configs": [entry(0.0336, -0.0006)]}) | {} == {"examples": "1", "billed-tokens": "1", "estimated-cost-usd": "0.0336", "cost-delta-usd": "-0.0006"}
    assert review.totals({"configs": [entry(12.345, -0.00001)]})["estimated-cost-usd"] == "12.35" and review.totals({"configs": [entry(12.345, -0.00001)]})["cost-delta-usd"] == "0.0000"
    assert review.totals({"configs": [entry(0.0, 0.0)]})["cost-delta-usd"] == "0.00"


def test_a_base_config_that_cannot_be_checked_is_not_taken_for_a_new_config(tmp_path: Path) -> None:
    # It was "New config in this pull request", the whole head cost counted as an increase
    # (a max_increase_usd rule failed against a base of $0), and cost-delta-usd the full cost.
    from finetune_action.report import comment

    repo = init_repo(tmp_path / "repo")
    base = commit(repo, {"finetune.yaml": {**minimal_config(), "modle": "typo"}, "data/train.jsonl": chat_examples(30)})
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, {"finetune.yaml": minimal_config(budget={"max_increase_usd": 0.0001}), "data/train.jsonl": chat_examples(40)}, "the PR")
    with results.session(None):
        entry = review.review_config("finetune.yaml", repo, base)
    assert entry["base_error"] and entry["diff"] is None and entry["budget"]["violations"] == []
    built = {"configs": [entry], "base": {"sha": base}, "head_sha": "h"}
    assert review.totals(built)["cost-delta-usd"] == ""
    body = comment.render(built, entry)
    assert "New config in this pull request" not in body and "The base's config could not be checked, so nothing is compared with it" in body
