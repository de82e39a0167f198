"""The results cache (dataset/results.py): a warm cache changes no figure, a bad one is ignored."""
from __future__ import annotations

import itertools
import json
import os
import platform
import shutil
from pathlib import Path

import pytest

from finetune_action import main
from finetune_action.dataset import results, validate
from finetune_action.tokens import tokenizers
from testing.repo import run_finetune

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
# Each fixture with the method and model its format trains with (the files' own problems stay).
METHODS = {"preference": ("dpo", "gpt-4o-mini"), "reinforcement": ("reinforcement", "o4-mini"), "completion": ("supervised", "babbage-002")}
FIXTURES = sorted(p.relative_to(DATA).as_posix() for p in DATA.glob("*/*.jsonl"))


def check_json(data: list[str], capsys: pytest.CaptureFixture[str], model: str = "gpt-4o-mini", method: str = "supervised") -> tuple[dict, str]:
    args = ["check", "--format", "json", "--model", model, "--method", method]
    for path in data:
        args += ["--data", path]
    main.main(args)
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def method_for(fixture: str) -> tuple[str, str]:
    stem = Path(fixture).stem.split("_")[0]
    return METHODS.get(stem, ("supervised", "gpt-4o-2024-08-06" if stem == "vision" else "gpt-4o-mini"))


@pytest.mark.parametrize("fixture", FIXTURES)
def test_a_warm_cache_gives_the_report_of_no_cache(fixture: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scanned: list[bytes]) -> None:
    monkeypatch.chdir(DATA)
    method, model = method_for(fixture)
    monkeypatch.delenv(results.ENV, raising=False)
    cold, _ = check_json([fixture], capsys, model, method)
    monkeypatch.setenv(results.ENV, str(tmp_path / "cache" / "results"))
    filling, _ = check_json([fixture], capsys, model, method)
    assert results.load(tmp_path / "cache" / "results", None).used > 0
    scanned.clear()
    warm, err = check_json([fixture], capsys, model, method)
    assert filling == cold and warm == cold
    assert "notice" not in err
    # Only a first line starting with a byte-order mark is scanned again (its result depends on its place).
    assert all(raw.startswith(b"\xef\xbb\xbf") for raw in scanned), scanned


def test_the_same_lines_in_another_file_and_order_are_reported_at_their_own_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Records are per line: moved lines keep their own problems, at their new line numbers.
    lines = [*(DATA / "bad" / "structure.jsonl").read_bytes().splitlines(keepends=True), *(DATA / "good" / "chat.jsonl").read_bytes().splitlines(keepends=True)]
    (tmp_path / "a.jsonl").write_bytes(b"".join(lines))
    (tmp_path / "b.jsonl").write_bytes(b"".join(reversed(lines)) + b"\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(results.ENV, str(tmp_path / "results"))
    check_json(["a.jsonl"], capsys)
    warm, _ = check_json(["b.jsonl"], capsys)
    monkeypatch.delenv(results.ENV)
    cold, _ = check_json(["b.jsonl"], capsys)
    assert warm == cold


# With compare's extra tokenizers each example also holds a count per tokenizer: cached as columns too.
@pytest.mark.parametrize("extra", [(), ("qwen3", "llama3")])
def test_parallel_ranges_learn_and_reuse_the_same_results(extra: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = b"".join((DATA / "good" / name).read_bytes() for name in ("chat.jsonl", "chat_tools.jsonl", "chat_functions.jsonl")) + (DATA / "bad" / "structure.jsonl").read_bytes()
    path = tmp_path / "big.jsonl"
    path.write_bytes(source * 40)
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(validate, "RANGE_MIN_BYTES", 4096)
    rules = validate.Rules("chat", "supervised", "o200k_base", False, 65536, extra_tokenizers=extra)
    plain = validate.scan_file(path, rules, workers=2)
    assert len(plain.extra_tokens) == len(extra) and all(len(tokens) == len(plain.tokens) for tokens in plain.extra_tokens)
    with results.session(tmp_path / "results") as cache:
        assert validate.scan_file(path, rules, workers=2) == plain
        assert cache.table.used > 0
    with results.session(tmp_path / "results") as cache:
        assert cache.loaded > 0
        assert validate.scan_file(path, rules, workers=2) == plain


def test_a_known_blob_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    shutil.copy(DATA / "bad" / "structure.jsonl", path)
    rules = validate.Rules("chat", "supervised", "o200k_base", False, 65536)
    with results.session(tmp_path / "results"):
        results.register(path, "blob-1")
        first = validate.scan_file(path, rules)
    path.write_bytes(b"not even json\n")  # were it read, the result would differ
    with results.session(tmp_path / "results"):
        results.register(path, "blob-1")
        assert validate.scan_file(path, rules) == first
        results.register(path, "blob-2", materialize=lambda: iter([shutil.copy(DATA / "good" / "chat.jsonl", path) and path.stat().st_size]))
        assert validate.scan_file(path, rules) == validate.scan_range(DATA / "good" / "chat.jsonl", 0, os.path.getsize(DATA / "good" / "chat.jsonl"), rules)


def _damaged(kind: str, saved: bytes) -> bytes:
    if kind == "corrupt":
        middle = len(saved) - 10
        return saved[:middle] + bytes([saved[middle] ^ 1]) + saved[middle + 1 :]
    if kind == "truncated":
        return saved[: len(saved) - 7]
    if kind == "foreign":
        return b'{"some": "other tool\'s cache"}\n' * 100
    if kind == "stale":  # another version of finetune-action: its fingerprint differs
        start = len(results.MAGIC) + 4
        return saved[:start] + bytes(32) + saved[start + 32 :]
    if kind == "empty":
        return b""
    if kind == "cut-in-its-magic":
        return saved[:10]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["another tool's file", "training data", "directory", "fifo"])
def test_a_path_holding_something_else_is_never_replaced_by_a_cache(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # FINETUNE_CACHE=/dev/null replaced the device with a regular file (as root), and a config or
    # data file named by mistake was overwritten with the cache: neither is read or written now.
    monkeypatch.chdir(DATA)
    path = tmp_path / "held"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # opening it to read would wait for a writer for ever
    else:
        path.write_bytes(b'{"some": "other tool\'s cache"}\n' * 100 if kind == "another tool's file" else (DATA / "good" / "chat.jsonl").read_bytes())
    before = path.read_bytes() if path.is_file() else None
    monkeypatch.setenv(results.ENV, str(path))
    report, err = check_json(["bad/structure.jsonl", "good/chat_tools.jsonl"], capsys)
    monkeypatch.delenv(results.ENV)
    assert report == check_json(["bad/structure.jsonl", "good/chat_tools.jsonl"], capsys)[0]
    why = "not a regular file" if kind in ("directory", "fifo") else "not a finetune-action results cache"
    assert f"notice: FINETUNE_CACHE names {path}, which is {why}: it is left as it is, and this run neither reads nor saves a results cache" in err
    assert (path.read_bytes() == before) if before is not None else (path.is_dir() if kind == "directory" else path.is_fifo())
    assert [p.name for p in tmp_path.iterdir()] == ["held"]  # no temporary file left beside it


@pytest.mark.parametrize("size", ["nan", "inf", "-1", "abc", "1e400"])
def test_a_cache_bound_that_is_no_size_says_so_and_keeps_the_default(size: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # nan and inf were a raw traceback (int() of them), abc was ignored without a word.
    monkeypatch.chdir(DATA)
    monkeypatch.setenv(results.ENV, str(tmp_path / "results"))
    monkeypatch.setenv(results.MAX_MB_ENV, size)
    report, err = check_json(["good/chat.jsonl"], capsys)
    assert report["configs"] and f"notice: FINETUNE_CACHE_MAX_MB={size!r} is not a size in MB (a number such as 100); the cache is kept within 100 MB" in err
    assert results.load(tmp_path / "results", None) is not None


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "stale", "empty", "cut-in-its-magic"])
def test_a_cache_that_cannot_be_trusted_is_ignored_with_a_notice(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(DATA)
    cache = tmp_path / "results"
    monkeypatch.setenv(results.ENV, str(cache))
    expected, _ = check_json(["bad/structure.jsonl", "good/chat_tools.jsonl"], capsys)
    cache.write_bytes(_damaged(kind, cache.read_bytes()))
    report, err = check_json(["bad/structure.jsonl", "good/chat_tools.jsonl"], capsys)
    assert report == expected
    assert f"notice: the results cache {cache} is ignored" in err and "every example is checked afresh" in err
    # The run wrote a good cache again, which the next run trusts.
    again, err = check_json(["bad/structure.jsonl", "good/chat_tools.jsonl"], capsys)
    assert again == expected and "notice" not in err


def test_the_cache_file_stays_within_its_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scanned: list[bytes]) -> None:
    rules = validate.Rules("chat", "supervised", "o200k_base", False, 65536)
    old = tmp_path / "old.jsonl"
    old.write_bytes(b"".join(b'{"messages": [{"role": "user", "content": "q%d"}, {"role": "assistant", "content": "a"}]}\n' % i for i in range(3000)))
    with results.session(tmp_path / "results", max_mb=100):
        validate.scan_file(old, rules)
    big = (tmp_path / "results").stat().st_size
    with results.session(tmp_path / "results", max_mb=big / 2 / 1048576):
        validate.scan_file(DATA / "good" / "chat.jsonl", rules)  # uses only a few records: the rest goes
    assert (tmp_path / "results").stat().st_size <= big / 2
    with results.session(tmp_path / "results") as cache:
        assert 0 < cache.loaded < 100
        scanned.clear()
        validate.scan_file(DATA / "good" / "chat.jsonl", rules)
    assert scanned == []  # what the bounded run used is what it kept


def test_ranges_a_line_longer_than_the_last_are_read_into_the_same_buffer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file's ranges end where a line ends, so each is a few bytes longer or shorter than the
    # step: a buffer made to fit exactly was made again (8 MB of page faults) for 1 in 8 of them.
    data = tmp_path / "data.jsonl"
    data.write_bytes(bytes(range(256)) * 64)
    monkeypatch.setattr(results, "_buffer", bytearray())
    first, got = results._read_range(data, 0, 4000)
    assert (bytes(first[:got]), got) == (data.read_bytes()[:4000], 4000)
    for start, end in ((10, 4090), (100, 4200), (0, 4400)):
        buffer, got = results._read_range(data, start, end)
        assert buffer is first and bytes(buffer[:got]) == data.read_bytes()[start:end]
    buffer, got = results._read_range(data, 0, 16384)  # a range far longer than any before
    assert buffer is not first and bytes(buffer[:got]) == data.read_bytes()
    assert results._read_range(data, 16000, 17000)[1] == 384  # the file ends first


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not Path("/proc/self/status").exists(), reason="glibc's allocator, read from /proc")
def test_a_session_gives_freed_big_buffers_back(tmp_path: Path) -> None:
    # glibc would keep blocks up to the biggest one freed (here 24 MB) in its heap, where freed
    # space stays resident: a review's per-example arrays did, and the base's workers inherited it.
    probe = """
import sys
from finetune_action.dataset import results
def resident():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) >> 10
with results.session(None):
    big = bytearray(24 << 20); del big
    start = resident()
    freed, kept = [], []
    for _ in range(20):
        freed.append(b"x" * (3 << 19))
        kept.append(b"y" * (3 << 19))  # lives on between the freed ones
    del freed
    print(resident() - start)
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 40, f"{out.stdout.strip()} MB resident where 30 MB are alive"


@pytest.mark.parametrize("package", tokenizers.PACKAGES)
def test_a_cache_written_with_another_version_of_a_tokenizer_package_is_not_reused(package: str, tmp_path: Path) -> None:
    """Upgrading (or installing, or removing) tiktoken, llama-models or mistral-common can change
    counts without changing our code: a cache written before is ignored, as a stale one is."""
    assert any(found.startswith(package) for found in tokenizers.package_versions())
    cache = tmp_path / "results"
    args = ("check", "--format", "json", "--model", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "--provider", "together",
            "--data", "good/chat.jsonl", "--data", "good/chat_tools.jsonl")

    def check(upgraded: bool) -> tuple[dict, str]:
        env = {results.ENV: str(cache)}
        if upgraded:  # the same code, the package's metadata says another version: what `pip install -U` leaves
            site = tmp_path / "upgraded"
            info = site / f"{package.replace('-', '_')}-99.0.dist-info"
            info.mkdir(parents=True, exist_ok=True)
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 99.0\n")
            env["PYTHONPATH"] = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
        ran = run_finetune(*args, cwd=DATA, env=env)
        assert ran.returncode == 0, ran.stderr
        return json.loads(ran.stdout), ran.stderr

    expected, _ = check(upgraded=False)
    again, err = check(upgraded=False)
    assert again == expected and "notice" not in err
    after, err = check(upgraded=True)
    assert after == expected
    assert f"notice: the results cache {cache} is ignored (written by another version of finetune-action or of its tokenizer packages)" in err
    trusted, err = check(upgraded=True)  # the run wrote a cache for the new version, which the next run trusts
    assert trusted == expected and "notice" not in err


def _records(new: bytes) -> dict[bytes, bytes]:
    """key -> record, of what a range learnt (Part.new)."""
    found, offset = {}, 0
    while offset < len(new):
        key = new[offset : offset + results.KEY_BYTES]
        (length,) = results._ENTRY.unpack_from(new, offset + results.KEY_BYTES)
        start = offset + results.KEY_BYTES + 4
        found[key] = new[start : start + length]
        offset = start + length
    return found


@pytest.mark.parametrize("extra", [(), ("o200k_harmony", "qwen3")])
def test_each_line_of_a_batch_is_recorded_as_it_scans_alone(extra: tuple[str, ...]) -> None:
    # Unknown lines are scanned in batches; each line's record is cut out of the batch's Scan.
    # It must be the record of that line scanned alone: columns, features, problems, counts,
    # findings, and lines that are no example (blank, not JSON) or hold a secret.
    from testing import planted

    lines = [raw for path in sorted(DATA.glob("*/*.jsonl")) for raw in path.read_bytes().splitlines(keepends=True)]
    secret = next(iter(planted.secrets().values()))
    lines += [
        b"\n",
        b"{not json\n",
        b"[1, 2]\n",
        json.dumps({"messages": [{"role": "user", "content": secret}, {"role": "assistant", "content": "ok"}]}).encode() + b"\n",
        json.dumps({"messages": [{"role": "user", "content": "hi <|endoftext|>"}, {"role": "assistant", "content": "ok"}]}).encode() + b"\n",
    ]
    rules = validate.Rules("chat", "supervised", "o200k_base", False, 60, extra_tokenizers=extra)
    shape = results.layout(rules)
    seed = results.rules_key(rules)
    keys = [results.hashlib.sha256(seed + raw).digest()[: results.KEY_BYTES] for raw in lines]
    builder, new = results.Builder(shape), bytearray()
    queue = results.array("q", [-1] * len(lines))  # every line pending, none known
    data = b"".join(lines)
    places = results.array("q", itertools.accumulate((len(raw) for raw in lines[:-1]), initial=0))
    sketch = results.Sketch()
    results._flush(list(zip(lines, keys)), queue, places, data, len(data), rules, shape, builder, sketch, new, bytearray(), {})
    assert not queue and not places
    assert sketch.line == len(lines) and sum(sketch.lines) < len(lines) - 5  # the lines with problems are in no chunk
    learnt = _records(bytes(new))
    alone = [results.encode(validate.scan_lines((raw,), rules, file_start=False), shape) for raw in lines]
    assert {key: record for key, record in zip(keys, alone) if record is not None} == learnt
    assert len(learnt) > len(lines) - 5  # records for nearly every line, problems and features included
    assert builder.finish() == validate.scan_lines(lines, rules, file_start=False)


@pytest.mark.parametrize("extra", [(), ("qwen3",)])
def test_known_and_unknown_lines_interleaved_give_the_scan_of_the_whole_range(extra: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pull request's edits are scattered: known lines wait in line order behind the unknown
    # ones of a batch (BATCH_LINES small here, so batches fill and flush mid-file), whatever
    # their records hold (features, problems, findings, no example at all).
    from testing import planted

    lines = [raw for path in sorted(DATA.glob("*/*.jsonl")) for raw in path.read_bytes().splitlines(keepends=True) if raw.endswith(b"\n")]
    secret = next(iter(planted.secrets().values()))
    lines += [b"\n", b"{not json\n", json.dumps({"messages": [{"role": "user", "content": secret}, {"role": "assistant", "content": "ok"}]}).encode() + b"\n"]
    lines = lines * 3
    rules = validate.Rules("chat", "supervised", "o200k_base", False, 65536, extra_tokenizers=extra)
    path = tmp_path / "data.jsonl"
    monkeypatch.setattr(results, "BATCH_LINES", 7)
    for known_every in (2, 3, 11):
        path.write_bytes(b"".join(line for n, line in enumerate(lines) if n % known_every == 0))  # what an earlier run saw
        with results.session(None):
            results.learn(results.scan_range(path, 0, path.stat().st_size, rules))
            path.write_bytes(b"".join(lines))
            part = results.scan_range(path, 0, path.stat().st_size, rules)
            assert part.scan == validate.scan_range(path, 0, path.stat().st_size, rules)
            assert len(part.used) // 8 >= len(lines) // known_every - 4  # the known lines were read from their records
            again = results.scan_range(path, 0, path.stat().st_size, rules)  # before learning: the same
            results.learn(part)
            assert results.scan_range(path, 0, path.stat().st_size, rules).scan == again.scan == part.scan
    plain, tools = (DATA / "good" / "chat.jsonl").read_bytes().splitlines(keepends=True)[0], (DATA / "good" / "chat_tools.jsonl").read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(tools)
    with results.session(None):
        results.learn(results.scan_range(path, 0, path.stat().st_size, rules))
        path.write_bytes(plain + tools)  # the only line with tools is known, and waits behind an unknown one
        assert results.scan_range(path, 0, path.stat().st_size, rules).scan == validate.scan_range(path, 0, path.stat().st_size, rules)


def test_ranges_of_a_file_being_written_are_given_once_on_disk_and_cover_it(tmp_path: Path) -> None:
    path = tmp_path / "growing.jsonl"
    data = b"".join(b'{"n": %d, "text": "%s"}\n' % (n, b"x" * (n * 37 % 500)) for n in range(2000))
    path.write_bytes(b"")
    on_disk = [0]

    def written():  # type: ignore[no-untyped-def]
        with open(path, "wb") as out:
            for start in range(0, len(data), 7001):
                out.write(data[start : start + 7001])
                out.flush()
                on_disk[0] = min(len(data), start + 7001)
                yield on_disk[0]

    ranges = []
    for start, end in results.growing_ranges(path, written(), 20000):
        assert end <= on_disk[0] or on_disk[0] == len(data)  # never a range not yet written
        ranges.append((start, end))
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data) and len(ranges) > 10
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert all(data[end - 1 : end] == b"\n" for _start, end in ranges)


def test_a_stand_in_scanned_while_it_is_written_gives_the_scan_of_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = b"".join((DATA / "good" / name).read_bytes() for name in ("chat.jsonl", "chat_tools.jsonl")) + (DATA / "bad" / "structure.jsonl").read_bytes()
    whole = source * 60
    path = tmp_path / "train.jsonl"
    path.write_bytes(whole.split(b"\n", 2)[0] + b"\n")  # the stand-in: its first line
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(validate, "RANGE_MIN_BYTES", 4096)
    rules = validate.Rules("chat", "supervised", "o200k_base", False, 65536)

    def materialize():  # type: ignore[no-untyped-def]
        with open(path, "wb") as out:
            for start in range(0, len(whole), 5000):
                out.write(whole[start : start + 5000])
                out.flush()
                yield min(len(whole), start + 5000)

    with results.session(None):
        results.register(path, "blob-1", materialize, len(whole))
        scanned_while_written = validate.scan_file(path, rules, workers=2)
    assert path.read_bytes() == whole
    assert scanned_while_written == validate.scan_file(path, rules, workers=2)


def test_learning_a_range_stores_each_key_once_and_marks_what_it_used() -> None:
    table = results.Table()
    first = table.put(b"k" * 16, b"old record")
    entry = lambda key, record: key + results._ENTRY.pack(len(record)) + record  # noqa: E731
    keys = [n.to_bytes(8, "little") * 2 for n in range(3000)]  # enough to grow the table on the way
    new = b"".join(entry(key, b"record %d" % n) for n, key in enumerate(keys)) + entry(keys[5], b"again") + entry(b"k" * 16, b"newer")
    table.learn(new, results.array("q", [first]).tobytes())
    assert table.used == 3001
    for n, key in enumerate(keys):
        start, end = table.find(key)
        assert bytes(table.store[start:end]) == b"record %d" % n  # the first one learnt wins
    assert table.find(b"k" * 16) and bytes(table.store[slice(*table.find(b"k" * 16))]) == b"old record"
    assert sorted(key for key, _record in table.marked()) == sorted([*keys, b"k" * 16])
    table._grow()  # the duplicates stay in the store, dead: placing again skips them
    assert len(table.slots) - table.slots.count(-1) == table.used == 3001
    assert bytes(table.store[slice(*table.find(keys[5]))]) == b"record 5"


def test_learning_makes_room_once_for_the_records_expected() -> None:
    table = results.Table()
    entry = lambda n: n.to_bytes(8, "little") * 2 + results._ENTRY.pack(1) + b"x"  # noqa: E731
    table.learn(b"".join(entry(n) for n in range(10)), b"", parts=500)
    assert len(table.slots) >= 10000
    slots = len(table.slots)
    table.learn(b"".join(entry(n) for n in range(10, 4000)), b"")
    assert len(table.slots) == slots and table.used == 4000


@pytest.mark.parametrize(("format", "typecodes"), [("<8sIIII", "-IIII"), ("<8sIIIIII", "-IIIIII"), ("<B2H3s", "BHH-"), ("<8sLI", "-LI")])
def test_columns_cut_out_of_packed_rows_are_the_unpacked_values(format: str, typecodes: str) -> None:
    # Builder._built reads its columns with strided slices; struct unpacking row by row is the
    # reference. "-": a bytes field; "L" is 8 bytes in an array here but 4 packed (the slow path).
    import random

    columns = results.struct.Struct(format)
    rows = bytearray(random.Random(7).randbytes(columns.size * 1000))
    expected = list(zip(*columns.iter_unpack(rows)))
    cut = results._column_bytes(rows, columns)
    assert len(cut) == len(expected) == len(typecodes)
    for got, values, typecode in zip(cut, expected, typecodes):
        if typecode == "-":
            assert bytes(got) == b"".join(values)
        else:
            assert list(results._array(typecode, got)) == list(values)
    assert [bytes(column) for column in results._column_bytes(bytearray(), columns)] == [b""] * len(typecodes)


def _edited(lines: list[bytes]) -> list[bytes]:
    """What a pull request does to a file: lines edited here and there, a run deleted, new ones
    inserted, a block moved to the end, the last line left without its newline."""
    head = [raw.replace(b'"content": "', b'"content": "edited ', 1) if number % 17 == 5 else raw for number, raw in enumerate(lines)]
    head[100:131] = []
    head[200:200] = [json.dumps({"messages": [{"role": "user", "content": f"new {n}"}, {"role": "assistant", "content": "ok"}]}).encode() + b"\n" for n in range(5)]
    head = head[50:] + head[:50]
    head[-1] = head[-1].rstrip(b"\n")
    return head


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_read_in_chunks_of_a_like_file_scans_as_it_does_alone(workers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pieces = [(DATA / "good" / name).read_bytes().splitlines(keepends=True) for name in ("chat.jsonl", "chat_tools.jsonl", "chat_functions.jsonl")]
    problems = (DATA / "bad" / "structure.jsonl").read_bytes().splitlines(keepends=True)
    lines = [raw.replace(b'"content": "', f'"content": "{n} '.encode(), 1) for n in range(12) for piece in (*pieces, problems[n % 3 :: 3]) for raw in piece]
    base_path, head_path = tmp_path / "base.jsonl", tmp_path / "head.jsonl"
    base_path.write_bytes(b"".join(lines))
    head_path.write_bytes(b"".join(_edited(lines)))
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(validate, "RANGE_MIN_BYTES", 4096)
    rules = validate.Rules("chat", "supervised", "o200k_base", False, 65536)
    plain_base, plain_head = validate.scan_file(base_path, rules, workers=workers), validate.scan_file(head_path, rules, workers=workers)
    taken: list[int] = []
    take = results._take
    monkeypatch.setattr(results, "_take", lambda outline, chunk, count, *rest: taken.extend(range(chunk, chunk + count)) or take(outline, chunk, count, *rest))
    with results.session(tmp_path / "results") as cache:
        # The review's cold run: the head first, then the base read in the head's chunks.
        results.register(head_path, "head-blob", like="base-blob")
        results.register(base_path, "base-blob", like="head-blob")
        assert validate.scan_file(head_path, rules, workers=workers) == plain_head
        assert cache.sources[("head-blob", results.rules_key(rules))] is not None
        assert validate.scan_file(base_path, rules, workers=workers) == plain_base
        results.forget_sources()  # what a review does after each config
        assert not cache.sources
    assert workers == 2 or len(taken) > len(lines) // results.CHUNK_LINES // 2
    head_path.write_bytes(b"".join(_edited(_edited(lines))))  # the next push to the pull request
    plain_next = validate.scan_file(head_path, rules, workers=workers)
    taken.clear()
    with results.session(tmp_path / "results"):
        # The warm run: the base's outline and Scan from the cache file.
        results.register(head_path, "next-blob", like="base-blob")
        assert validate.scan_file(head_path, rules, workers=workers) == plain_next
    assert workers == 2 or len(taken) > len(lines) // results.CHUNK_LINES // 3


@pytest.mark.parametrize("damage", ["chunk past the scan", "chunk too long", "not at its example", "cut short", "overlapping", "a byte too long"])
def test_an_outline_that_does_not_fit_its_scan_is_not_used(damage: str, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes((DATA / "good" / "chat.jsonl").read_bytes() * 3)
    rules = validate.Rules("chat", "supervised", "o200k_base", False, 65536)
    shape = results.layout(rules)
    with results.session(None) as cache:
        results.register(path, "blob")
        scan = validate.scan_file(path, rules)
        outline = cache.sources[("blob", results.rules_key(rules))].outline
    assert results.decode_outline(b"".join(bytes(part) for part in results.encode_outline(outline)), scan) == outline
    lines, first_line, first_example = results.array("I", outline.lines), results.array("I", outline.first_line), results.array("I", outline.first_example)
    if damage == "chunk past the scan":
        first_line[-1] += 1
        first_example[-1] += 1
    elif damage == "chunk too long":
        lines[0] = results.CHUNK_LINES + 1
    elif damage == "not at its example":
        first_line[1] += 1
    elif damage == "overlapping":
        first_line[1] -= 1
        first_example[1] -= 1
    bad = outline._replace(lines=lines, first_line=first_line, first_example=first_example)
    record = b"".join(bytes(part) for part in results.encode_outline(bad))
    if damage == "cut short":
        record = record[:-3]
    elif damage == "a byte too long":
        record += b"x"
    assert shape is not None and results.decode_outline(record, scan) is None


def test_chunks_found_out_of_order_keep_their_own_examples_and_features(tmp_path: Path) -> None:
    # Tools examples only in the file's first chunks, then moved to its end: every line of the
    # moved file is found in a chunk, so the features and columns can only come from the runs.
    plain = [raw.replace(b'"content": "', f'"content": "{n} '.encode(), 1) for n in range(6) for raw in (DATA / "good" / "chat.jsonl").read_bytes().splitlines(keepends=True)]
    tools = [raw.replace(b'"content": "', f'"content": "{n} '.encode(), 1) for n in range(results.CHUNK_LINES) for raw in (DATA / "good" / "chat_tools.jsonl").read_bytes().splitlines(keepends=True)][: results.CHUNK_LINES]
    assert len(tools) == results.CHUNK_LINES and len(plain) > 3 * results.CHUNK_LINES
    plain = plain[: len(plain) // results.CHUNK_LINES * results.CHUNK_LINES]
    base_path, head_path = tmp_path / "base.jsonl", tmp_path / "head.jsonl"
    base_path.write_bytes(b"".join(tools + plain))
    head_path.write_bytes(b"".join(plain + tools))
    rules = validate.Rules("chat", "supervised", "o200k_base", False, 65536)
    taken: list[int] = []
    take = results._take
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(results, "_take", lambda outline, chunk, count, *rest: taken.extend(range(chunk, chunk + count)) or take(outline, chunk, count, *rest))
        with results.session(None):
            results.register(base_path, "base-blob")
            validate.scan_file(base_path, rules, workers=1)
            results.register(head_path, "head-blob", like="base-blob")
            moved = validate.scan_file(head_path, rules, workers=1)
    assert sorted(taken) == list(range(len(plain + tools) // results.CHUNK_LINES))
    assert moved == validate.scan_file(head_path, rules, workers=1) and moved.features == {"tools"}
