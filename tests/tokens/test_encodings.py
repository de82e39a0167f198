"""The bundled rank files: offline, verified, and the same encodings tiktoken defines."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken.load
import tiktoken_ext.openai_public as openai_public

from finetune_action.errors import EnvironmentProblem
from finetune_action.tokens import encodings
from testing.offline import REFUSE_NETWORK

ROOT = Path(__file__).resolve().parents[2]

OFFLINE = REFUSE_NETWORK + r"""
from finetune_action.tokens import encodings
print(encodings.get("cl100k_base").encode_ordinary("Hello, world!"))
print(encodings.get("o200k_base").encode_ordinary("Hello, world!"))
"""


def test_encodings_load_without_network_or_tiktoken_cache(tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache), "DATA_GYM_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT / "entrypoint"),
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-c", OFFLINE], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[9906, 11, 1917, 0]", "[13225, 11, 2375, 0]"]
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_same_encoding_as_tiktoken_defines(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = encodings.get.__wrapped__(name)  # a fresh one: tokenizers.get releases the cached one's Python ranks
    expected_hashes = []

    def bundled(url: str, expected_hash: str) -> dict[bytes, int]:
        expected_hashes.append(expected_hash)
        return encodings.parse_ranks(encodings.rank_file_bytes(name))

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", bundled)
    theirs = openai_public.ENCODING_CONSTRUCTORS[name]()
    assert expected_hashes == [encodings.SPECS[name].sha256]
    assert theirs["name"] == ours.name
    assert theirs["pat_str"] == ours._pat_str
    assert theirs["special_tokens"] == ours._special_tokens
    assert theirs["mergeable_ranks"] == ours._mergeable_ranks
    assert encodings.special_tokens(name) == tuple(theirs["special_tokens"])


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_ranks_equal_tiktokens_own_parser(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # get() skips parsing the rank numbers because they run 0, 1, 2, ... in the bundled files.
    path = tmp_path / f"{name}.tiktoken"
    path.write_bytes(encodings.rank_file_bytes(name))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # read the local file, cache nothing
    theirs = tiktoken.load.load_tiktoken_bpe(str(path), encodings.SPECS[name].sha256)
    assert list(theirs.values()) == list(range(len(theirs)))
    assert encodings.get.__wrapped__(name)._mergeable_ranks == theirs
    assert encodings.parse_ranks(path.read_bytes()) == theirs


def test_corrupt_rank_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = encodings.SPECS["cl100k_base"]
    monkeypatch.setitem(encodings.SPECS, "cl100k_base", spec._replace(sha256="0" * 64))
    with pytest.raises(EnvironmentProblem, match="cl100k_base.tiktoken is corrupt: sha256 223921b7.*expected 0000.*Reinstall"):
        encodings.rank_file_bytes("cl100k_base")


def test_unknown_encoding_is_a_clear_error() -> None:
    with pytest.raises(EnvironmentProblem, match="no bundled token rank file for encoding 'p50k_base'"):
        encodings.get("p50k_base")
