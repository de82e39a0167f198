"""Reading JSONL: byte ranges at line boundaries, and what each kind of line becomes."""
from __future__ import annotations

from pathlib import Path

from finetune_action.dataset import read


def test_byte_ranges_end_after_newlines_and_cover_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    lines = [f'{{"n": {i}, "pad": "{"x" * (i % 17)}"}}\n'.encode() for i in range(500)]
    path.write_bytes(b"".join(lines))
    ranges = read.byte_ranges(path, 7, min_size=100)
    assert ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    data = path.read_bytes()
    assert all(data[end - 1 : end] == b"\n" for _start, end in ranges)
    assert [line for start, end in ranges for line in read.lines(path, start, end)] == lines


def test_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}')
    assert list(read.lines(path, 0, path.stat().st_size)) == [b'{"a": 1}\n', b'{"b": 2}']


def test_parse_accepts_crlf_and_reports_problems_with_columns() -> None:
    assert read.parse(b'{"a": 1}\r\n') == (b'{"a": 1}', {"a": 1})
    assert read.parse(b"  \r\n") is None
    assert read.parse(b'{"a": 1} {"b": 2}\n') == read.LineProblem(10, "trailing-data", "unexpected text after the JSON object; put one example per line")
    problem = read.parse(b'{"a": tru}\n')
    assert (problem.column, problem.code) == (7, "invalid-json")
    problem = read.parse('{"é": "\xff"}'.encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    assert (problem.column, problem.code) == (8, "invalid-utf8")


def test_parse_accepts_what_json_accepts_where_orjson_is_stricter() -> None:
    value = read.parse(b'{"n": NaN}')[1]["n"]
    assert value != value  # NaN, as json.loads gives it
    assert read.parse(b'{"s": "\\ud800"}')[1] == {"s": "\ud800"}
    assert read.parse(b'{"a": 1, "a": 2}')[1] == {"a": 2}
    assert isinstance(read.parse(b'{"n": 123456789012345678901234567890}')[1]["n"], (int, float))
