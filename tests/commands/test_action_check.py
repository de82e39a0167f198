"""The PR check end to end: `finetune action` in a real repository against the GitHub stand-in."""
from __future__ import annotations

import json
from pathlib import Path

from testing.repo import chat_examples, commit, git, minimal_config
from tests.commands.conftest import FORK_TOKEN, PR, REPO, run_pr_check as check


def test_comment_created_then_updated_in_place_then_stale_run_ignored(repo, tmp_path, github) -> None:
    work, base = repo
    head1 = commit(work, {"data/train.jsonl": chat_examples(25)}, "more data")
    first = check(work, tmp_path, github, base, head1)
    assert first.run.returncode == 0, first.run.stderr
    comments = github.comments(REPO, PR)
    assert len(comments) == 1
    body = comments[0]["body"]
    assert "<!-- finetune-action: finetune.yaml -->" in body
    assert "| Training examples | 20 | 25 | +5 (+25%) |" in body
    assert "**5** added, **0** removed, **0** changed" in body
    assert first.outputs["examples"] == "25" and first.outputs["cost-delta-usd"]
    assert "finetune check" in first.summary and "Training examples" in first.summary
    report = json.loads(Path(first.outputs["report-path"]).read_text())
    assert report["configs"][0]["diff"]["examples_added"] == 5

    # The same head again: nothing to change, no API write.
    writes = len(github.sent("PATCH")) + len(github.sent("POST"))
    assert check(work, tmp_path, github, base, head1).run.returncode == 0
    assert len(github.sent("PATCH")) + len(github.sent("POST")) == writes

    rows = chat_examples(25)
    rows[0]["messages"][1]["content"] = "edited question"
    head2 = commit(work, {"data/train.jsonl": rows}, "edit one")
    second = check(work, tmp_path, github, base, head2)
    assert second.run.returncode == 0
    comments = github.comments(REPO, PR)
    assert len(comments) == 1 and "**1** changed" not in body and "**1** changed" in comments[0]["body"]
    assert head2 in comments[0]["body"]

    # A late run for the older head must not overwrite the newer report.
    stale = check(work, tmp_path, github, base, head1)
    assert stale.run.returncode == 0
    assert head2 in github.comments(REPO, PR)[0]["body"]
    assert "skipped-stale" in stale.run.stderr


def test_budget_violation_fails_after_commenting(repo, tmp_path, github) -> None:
    work, base = repo
    head = commit(work, {"finetune.yaml": minimal_config(budget={"max_usd": 100, "max_increase_usd": 0}), "data/train.jsonl": chat_examples(40)}, "grow")
    result = check(work, tmp_path, github, base, head)
    assert result.run.returncode == 1
    assert "💸" in github.comments(REPO, PR)[0]["body"]
    assert "cost increase" in result.run.stdout
    assert check(work, tmp_path / "b", github, base, head, **{"fail-on-budget": "false"}).run.returncode == 0


def test_budget_already_broken_on_base_does_not_fail(repo, tmp_path, github) -> None:
    work, base = repo
    head = commit(work, {"finetune.yaml": minimal_config(budget={"max_usd": 0.0001})}, "tight budget")
    result = check(work, tmp_path, github, base, head)
    assert result.run.returncode == 0
    assert "already on the base branch" in github.comments(REPO, PR)[0]["body"]


def test_fork_token_cannot_comment_but_check_passes_with_summary(repo, tmp_path, github) -> None:
    work, base = repo
    head = commit(work, {"data/train.jsonl": chat_examples(22)}, "fork change")
    result = check(work, tmp_path, github, base, head, token=FORK_TOKEN)
    assert result.run.returncode == 0, result.run.stderr
    assert github.comments(REPO, PR) == []
    assert "Training examples" in result.summary
    assert "could not comment" in result.run.stdout and "finetune comment --report" in result.run.stdout
    # The runner swallows the ::add-mask:: line and hides the token everywhere after it.
    shown = [line for line in (result.run.stdout + result.run.stderr).splitlines() if not line.startswith("::add-mask::")]
    assert FORK_TOKEN not in "\n".join(shown)
    assert Path(result.outputs["report-path"]).is_file()


def test_untrusted_data_cannot_break_out(repo, tmp_path, github) -> None:
    work, base = repo
    evil = "::error::owned @someone </details> <img src=x onerror=alert(1)>"
    rows = chat_examples(20) + ['{"messages": [{"role": "user", "content": "' + evil + '"}], "' + evil + '": 1}']
    head = commit(work, {"data/train.jsonl": "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n" + evil + "\n"}, "evil")
    result = check(work, tmp_path, github, base, head)
    assert result.run.returncode == 1
    body = github.comments(REPO, PR)[0]["body"]
    assert "@someone" not in body and "<img" not in body and "::error::" not in body
    assert body.count("<details>") == body.count("</details>")
    # Workflow commands from the data never reach the runner unwrapped.
    for line in result.run.stdout.splitlines():
        if "owned" in line and line.startswith("::"):
            assert line.startswith(("::error file=", "::warning file=")), line
    assert "::stop-commands::" in result.run.stdout


def test_new_and_removed_configs(repo, tmp_path, github) -> None:
    work, base = repo
    git(work, "rm", "-q", "finetune.yaml")
    head = commit(work, {"bots/new/finetune.yaml": minimal_config(name="new-bot", data={"train": "../../data/train.jsonl"})}, "move")
    result = check(work, tmp_path, github, base, head, config="finetune.yaml bots/*/finetune.yaml")
    assert result.run.returncode == 0, result.run.stderr
    bodies = {c["body"].splitlines()[0]: c["body"] for c in github.comments(REPO, PR)}
    assert any("was removed" in b for b in bodies.values())
    assert any("New config in this pull request" in b for b in bodies.values())


def test_invalid_config_is_reported_and_exits_2(repo, tmp_path, github) -> None:
    work, base = repo
    head = commit(work, {"finetune.yaml": minimal_config(hyperparameters={"n_epochs": 99})}, "bad")
    result = check(work, tmp_path, github, base, head)
    assert result.run.returncode == 2
    assert "  - hyperparameters\\.n\\_epochs: 99 is out of range" in github.comments(REPO, PR)[0]["body"]
    assert "::error file=finetune.yaml,title=finetune.yaml hyperparameters.n_epochs::" in result.run.stdout
