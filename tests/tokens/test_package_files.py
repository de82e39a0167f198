"""The image keeps of the open-models packages only the files counting reads (tokens/package_files.py)."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from finetune_action.tokens import package_files

COUNT = (
    "import importlib.util, json; from finetune_action.tokens import tokenizers; "
    "text = 'Bonjour, 世界! def f(x): return x ** 2  # ok\\n' * 3; "
    "print(json.dumps({n: [tokenizers.get(n).exact, len(tokenizers.get(n).encoding.encode_ordinary(text))] for n in ('llama3', 'mistral-tekken')} | "
    "{'found': [importlib.util.find_spec(p).submodule_search_locations[0] for p in ('llama_models', 'mistral_common')]}))"
)


def installed(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed (the test extra brings it)")
    return Path(next(iter(spec.submodule_search_locations)))


def count(site: Path | None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site) if site else "", os.environ.get("PYTHONPATH", "")]))}
    out = subprocess.run([sys.executable, "-c", COUNT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_pruned_packages_count_exactly_as_whole_ones(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    for package in package_files.FILES:
        shutil.copytree(installed(package), site / package)
    whole = count(None)
    files, size = package_files.prune(site)
    assert files > 0 and size > 10_000_000  # the other tokenizer versions and the code: megabytes that never run
    left = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert left == sorted(f"{package}/{relative}" for package, keep in package_files.FILES.items() for relative in (*keep, "__init__.py"))
    pruned = count(site)
    assert pruned["found"] == [str(site / "llama_models"), str(site / "mistral_common")]  # the pruned copies, not the installed ones
    assert {n: v for n, v in pruned.items() if n != "found"} == {n: v for n, v in whole.items() if n != "found"}
    assert pruned["llama3"][0] is True and pruned["mistral-tekken"][0] is True  # still exact, not the stand-in encodings


def test_what_is_kept_is_what_the_tokenizers_read() -> None:
    from finetune_action.tokens import llama3, mistral

    assert package_files.FILES == {"llama_models": (llama3.PACKAGE_FILE[1],), "mistral_common": (mistral.PACKAGE_FILE[1],)}


def test_a_site_without_the_packages_is_left_alone_and_a_bad_call_says_how(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.json").write_text("{}")
    assert package_files.prune(tmp_path) == (0, 0)
    assert (tmp_path / "other" / "data.json").is_file()
    out = subprocess.run([sys.executable, "-m", "finetune_action.tokens.package_files", str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "usage: python -m finetune_action.tokens.package_files SITE_PACKAGES" in out.stderr and "Traceback" not in out.stderr
