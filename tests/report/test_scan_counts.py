"""The scan's counts per kind, as every output shows them: counted, never a value, robust to a tampered report."""
from __future__ import annotations

from pathlib import Path

from finetune_action.report import text
from testing import planted
from testing.repo import chat_examples, init_repo, minimal_config, run_finetune, write_files


def test_counts_line() -> None:
    counts = {"secret-in-data": {"github-pat": 1, "aws-access-token": 1}, "personal-data": {"email": 3}}
    assert text.scan_counts(counts) == "2 secrets (github-pat 1, aws-access-token 1); 3 pieces of personal data (email 3)"
    assert text.scan_counts({}) == text.scan_counts(None) == ""
    # A report file from an untrusted run is rendered as data: only numbers count.
    assert text.scan_counts({"secret-in-data": {"x": "9", "y": 1}, "personal-data": ["email"]}) == "1 secret (y 1)"


def test_text_and_markdown_outputs_count_per_kind(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    rows = chat_examples(12)
    rows[3]["messages"][1]["content"] = planted.secrets()["github-pat"]
    rows[5]["messages"][1]["content"] = planted.personal()["email"]
    write_files(repo, {"data/train.jsonl": rows, "finetune.yaml": minimal_config()})
    shown = run_finetune("check", cwd=repo)
    assert shown.returncode == 1
    assert "  scan found 1 secret (github-pat 1); 1 piece of personal data (email 1): values are not shown" in shown.stdout
    assert "data/train.jsonl:4: messages[1].content: a secret (github-pat, gitleaks rule)" in shown.stdout
    markdown = run_finetune("check", "--format", "markdown", cwd=repo).stdout
    assert "| secrets and personal data | 1 secret (github-pat 1); 1 piece of personal data (email 1) (values not shown) |" in markdown
    for output in (shown.stdout + shown.stderr, markdown):
        assert planted.secrets()["github-pat"].split()[-1] not in output and "@fastmail.fm" not in output
