"""The rendered sample comment in docs/ is what the example dataset really produces.

Regenerate it with UPDATE_SAMPLES=1 after changing the comment's look.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from finetune_action import git as gitmod
from finetune_action import review
from finetune_action.report import comment
from testing.repo import commit, git, init_repo

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs" / "sample-comment.md"


def test_sample_comment_matches_the_example(tmp_path: Path, monkeypatch) -> None:
    # A fixed day: the sample does not change with the calendar (the example trains at Together, with no end announced).
    monkeypatch.setenv("FINETUNE_TODAY", "2026-12-01")
    repo = init_repo(tmp_path / "repo")
    shutil.copytree(ROOT / "examples", repo / "examples")
    train = (repo / "examples/data/train.jsonl").read_text().splitlines(keepends=True)
    config = (ROOT / "finetune.yaml").read_text()
    base = commit(repo, {"finetune.yaml": config.replace("n_epochs: auto", "n_epochs: 3"), "examples/data/train.jsonl": "".join(train[:12])}, "base")
    git(repo, "checkout", "-q", "-b", "more-data")
    commit(repo, {"finetune.yaml": config, "examples/data/train.jsonl": "".join(train)}, "four more examples")
    data = review.build(["finetune.yaml"], repo, base=gitmod.Base(base, "merge base of main and the head"),
                        repository="acme/support-bot", head_sha="5e1f0c2d9a7b", pull_request={"number": 7, "head_sha": "5e1f0c2d9a7b", "base_sha": base})
    body = comment.render(data, data["configs"][0])
    if os.environ.get("UPDATE_SAMPLES"):
        SAMPLE.write_text(body, "utf-8")
    assert body == SAMPLE.read_text("utf-8"), "docs/sample-comment.md is stale: rerun with UPDATE_SAMPLES=1"
    assert json.dumps(data)  # the report file is plain JSON


def test_the_footnote_says_how_an_open_model_was_counted() -> None:
    """The example trains gpt-oss at Together: counted with its chat template, not OpenAI's notebook rule."""
    sample = SAMPLE.read_text("utf-8")
    assert "tokens counted offline with o200k\\_harmony and the model's chat template" in sample
    assert "data-prep notebook" not in sample
