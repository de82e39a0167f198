"""The compare table in the PR comment, the job summary and the report file, rendered from a real review."""
from __future__ import annotations

import json
from pathlib import Path

from finetune_action import git as gitmod
from finetune_action import review
from finetune_action.report import comment
from testing.repo import chat_examples, commit, init_repo, minimal_config

COMPARE = [
    {"provider": "azure", "model": "gpt-4.1-mini", "training_type": "developer"},
    {"provider": "together", "model": "Qwen/Qwen3-8B", "lora": False},
    {"provider": "together", "model": "openai/gpt-oss-120b"},
]


def test_compare_table_in_comment_summary_and_report(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    sha = commit(repo, {"finetune.yaml": minimal_config(compare=COMPARE), "data/train.jsonl": chat_examples(20)}, "head")
    data = review.build(["finetune.yaml"], repo, base=gitmod.Base(None, "no base"), repository="acme/bots", head_sha=sha)
    body = comment.render(data, data["configs"][0])
    table = body[body.index("**Compare:**"):].split("\n\n")[1].splitlines()
    assert table[0] == "| provider | model | tokenizer | billed tokens/epoch | epochs | billed tokens | estimated cost | last day to train | rests on |"
    assert table[2].startswith("| OpenAI (this config) | `gpt-4.1-mini-2025-04-14` | o200k\\_base |")
    assert table[3].startswith("| Azure OpenAI | `gpt-4.1-mini` (developer) | o200k\\_base |") and "| 2027\\-04\\-13 |" in table[3]
    assert table[4].startswith("| Together AI | `Qwen/Qwen3-8B` (full) | qwen3 |") and "approximate: qwen3 counted with" in table[4]
    assert "| n/a | no end announced |" in table[5] and "above the published brackets" in table[5]
    assert len(table) == 6
    assert "**Compare:**" in comment.render(data, data["configs"][0], full=True)  # the job summary
    alternatives = data["configs"][0]["head"]["compare"]["alternatives"]
    assert [a["model"] for a in alternatives] == ["gpt-4.1-mini", "Qwen/Qwen3-8B", "openai/gpt-oss-120b"]
    head = data["configs"][0]["head"]
    assert alternatives[0]["estimated_cost_usd"] == round(head["billed_tokens"] * 2.25 / 1e6, 4)
    assert json.dumps(data)


def test_suggestions_when_training_closes_and_no_compare(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2026-12-01")
    repo = init_repo(tmp_path / "repo")
    sha = commit(repo, {"finetune.yaml": minimal_config(), "data/train.jsonl": chat_examples(20)}, "head")
    data = review.build(["finetune.yaml"], repo, base=gitmod.Base(None, "no base"), repository="acme/bots", head_sha=sha)
    body = comment.render(data, data["configs"][0])
    lines = body.splitlines()
    assert lines[2] == "> [!WARNING]" and lines[3].startswith("> `training-closing` gpt\\-4\\.1\\-mini\\-2025\\-04\\-14: new fine\\-tuning jobs stop on 2027\\-01\\-06")
    assert "> - the same model at Azure OpenAI \\(last day to train 2027\\-04\\-13\\): `provider: {type: azure, endpoint: https://<resource>.openai.azure.com}` and `model: gpt-4.1-mini-2025-04-14`" in lines
    assert "**Where else it trains**" in body and "`training-closing`" not in body[body.index("**Where else"):]
