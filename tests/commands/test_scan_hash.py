"""`finetune scan-hash`: the allow entry for a known-safe value, which then lets exactly that value through."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from testing.repo import chat_examples, finetune_command, init_repo, minimal_config, run_finetune, write_files


def test_hash_from_stdin_and_arguments_allows_the_value(tmp_path: Path) -> None:
    value = "help@acme-support.io"
    piped = subprocess.run([*finetune_command(), "scan-hash"], input=value + "\n", capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0
    assert piped.stdout == f"- sha256: {hashlib.sha256(value.encode()).hexdigest()}\n"
    assert run_finetune("scan-hash", value, cwd=tmp_path).stdout == piped.stdout

    repo = init_repo(tmp_path / "repo")
    rows = chat_examples(12)
    rows[0]["messages"][0]["content"] = f"You are the support bot. Customers write to {value}."
    write_files(repo, {"data/train.jsonl": rows, "finetune.yaml": minimal_config(scan={"email": "error"})})
    refused = run_finetune("check", "--format", "json", cwd=repo)
    assert refused.returncode == 1 and value not in refused.stdout + refused.stderr
    assert json.loads(refused.stdout)["configs"][0]["errors"][0]["code"] == "personal-data"
    entry = piped.stdout.split(": ")[1].strip()
    write_files(repo, {"finetune.yaml": minimal_config(scan={"email": "error", "allow": [{"sha256": entry}]})})
    assert run_finetune("check", cwd=repo).returncode == 0


def test_a_value_pasted_in_place_of_its_hash_is_refused_and_not_repeated(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    secret = "ghp_" + "Q7v2" * 9
    write_files(repo, {"data/train.jsonl": chat_examples(12), "finetune.yaml": minimal_config(scan={"allow": [{"sha256": secret}]})})
    result = run_finetune("check", cwd=repo)
    assert result.returncode == 2
    assert "scan.allow[0].sha256: is not a sha256" in result.stderr and secret not in result.stdout + result.stderr
