"""The PR check end to end: `finetune action` in a real repository against the GitHub stand-in."""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pytest

from finetune_action.github.comments import valid_at
from testing.action import pull_request_event, run_action
from testing.repo import chat_examples, commit, git, minimal_config
from tests.commands.conftest import FORK_TOKEN, PR, REPO, TOKEN, run_pr_check as check


def checkout(work: Path, sha: str, path: Path) -> Path:
    """A separate workspace at `sha`, as the runner of a run started for that commit has."""
    git(work, "worktree", "add", "-q", "--detach", str(path), sha)
    return path


def commit_at(monkeypatch: pytest.MonkeyPatch, when: str, work: Path, files: dict, message: str) -> str:
    """A commit whose author and committer time is `when` (a rebase keeping dates, a skewed clock)."""
    monkeypatch.setenv("GIT_AUTHOR_DATE", when)
    monkeypatch.setenv("GIT_COMMITTER_DATE", when)
    return commit(work, files, message)


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
    assert first.outputs["report-path"] == "finetune-output/finetune-report.json"  # relative: later steps run on the host
    report = json.loads((work / first.outputs["report-path"]).read_text())
    assert report["configs"][0]["diff"]["examples_added"] == 5
    assert Path(first.outputs["report-path"]).parent.name == "finetune-output"
    assert git(work, "status", "--porcelain") == ""  # the report leaves nothing untracked

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

    # A late run for the older head (its runner checked out head1) must not overwrite the newer report.
    before = github.comments(REPO, PR)[0]
    stale = check(checkout(work, head1, tmp_path / "late"), tmp_path / "late-runner", github, base, head1, pr_head=head2)
    assert stale.run.returncode == 0, stale.run.stderr
    assert github.comments(REPO, PR) == [before]
    assert (f"comment for finetune.yaml: skipped-stale {before['html_url']} (pull request #{PR} is now at {head2[:7]} and this "
            f"report is for {head1[:7]}, a commit it has left, so nothing was written; the comment (for {head2[:7]}) is unchanged)") in stale.run.stderr


def shown_head(github) -> str | None:
    """The head commit the report comment records."""
    [comment] = github.comments(REPO, PR)
    return valid_at(comment["body"])


def test_equal_commit_times_do_not_let_a_late_run_overwrite(repo, tmp_path, github, monkeypatch) -> None:
    work, base = repo
    head1 = commit_at(monkeypatch, "2026-03-01T12:00:00Z", work, {"data/train.jsonl": chat_examples(21)}, "one")
    head2 = commit_at(monkeypatch, "2026-03-01T12:00:00Z", work, {"data/train.jsonl": chat_examples(22)}, "two, the same second")
    assert check(checkout(work, head1, tmp_path / "w1"), tmp_path / "r1", github, base, head1).run.returncode == 0
    assert check(work, tmp_path / "r2", github, base, head2).run.returncode == 0
    assert shown_head(github) == head2
    late = check(tmp_path / "w1", tmp_path / "r3", github, base, head1, pr_head=head2)
    assert late.run.returncode == 0 and "skipped-stale" in late.run.stderr
    assert shown_head(github) == head2 and "| 20 | 22 |" in github.comments(REPO, PR)[0]["body"]


def test_a_force_push_back_to_an_older_commit_moves_the_comment_back(repo, tmp_path, github, monkeypatch) -> None:
    work, base = repo
    head1 = commit_at(monkeypatch, "2026-03-01T12:00:00Z", work, {"data/train.jsonl": chat_examples(21)}, "good")
    head2 = commit_at(monkeypatch, "2026-03-02T12:00:00Z", work, {"data/train.jsonl": chat_examples(29)}, "bad push, a day later")
    checkout(work, head2, tmp_path / "w2")
    assert check(work, tmp_path / "r1", github, base, head2).run.returncode == 0
    # Drop the bad push: the PR's head is now a commit older than the one the comment describes.
    git(work, "reset", "-q", "--hard", head1)
    back = check(work, tmp_path / "r2", github, base, head1)
    assert back.run.returncode == 0, back.run.stderr
    assert "comment for finetune.yaml: updated" in back.run.stderr
    assert shown_head(github) == head1 and "| 20 | 21 |" in github.comments(REPO, PR)[0]["body"]
    # The abandoned head's run finishing late changes nothing.
    late = check(tmp_path / "w2", tmp_path / "r3", github, base, head2, pr_head=head1)
    assert late.run.returncode == 0 and "skipped-stale" in late.run.stderr
    assert shown_head(github) == head1


def test_a_current_head_older_in_time_than_the_report_writes(repo, tmp_path, github, monkeypatch) -> None:
    work, base = repo
    head1 = commit_at(monkeypatch, "2026-03-02T12:00:00Z", work, {"data/train.jsonl": chat_examples(21)}, "first")
    assert check(work, tmp_path / "r1", github, base, head1).run.returncode == 0
    # The next push carries an earlier date (rebased with dates kept, or made on a skewed clock).
    head2 = commit_at(monkeypatch, "2026-02-01T12:00:00Z", work, {"data/train.jsonl": chat_examples(23)}, "second, dated earlier")
    second = check(work, tmp_path / "r2", github, base, head2)
    assert second.run.returncode == 0 and "comment for finetune.yaml: updated" in second.run.stderr
    assert shown_head(github) == head2 and "| 20 | 23 |" in github.comments(REPO, PR)[0]["body"]


def test_a_token_that_cannot_read_the_pull_request_writes_nothing_and_says_why(repo, tmp_path, github) -> None:
    work, base = repo
    head = commit(work, {"data/train.jsonl": chat_examples(21)}, "change")
    issues_only = github.add_token("ghs_issuesOnly0123456789abcdef", {"issues": "write", "contents": "read", "metadata": "read"})
    result = check(work, tmp_path, github, base, head, token=issues_only)
    assert result.run.returncode == 0, result.run.stderr
    assert github.comments(REPO, PR) == []
    assert "the token lacks the `pull-requests: read` permission" in result.run.stdout
    assert "Nothing was written: only a run for the pull request's current head writes the comment" in result.run.stdout


def test_without_a_token_nothing_is_written_and_the_log_says_so(repo, tmp_path, github) -> None:
    work, base = repo
    head = commit(work, {"data/train.jsonl": chat_examples(21)}, "change")
    result = check(work, tmp_path, github, base, head, token="")
    assert result.run.returncode == 0, result.run.stderr
    assert "::warning::finetune-action: no GitHub token, so no PR comment" in result.run.stdout
    assert github.comments(REPO, PR) == [] and github.requests == []


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
    assert (work / result.outputs["report-path"]).is_file()


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
    body = github.comments(REPO, PR)[0]["body"]
    assert "invalid config, 1 problem in finetune.yaml" in body
    assert "- `config-invalid` (1)\n  - [finetune\\.yaml:7](" in body and "removed" not in body and "not set" not in body and "hyperparameters\\.n\\_epochs: 99 is out of range" in body
    assert "::error file=finetune.yaml,line=7,col=13,title=finetune.yaml hyperparameters.n_epochs::" in result.run.stdout


def test_planted_secrets_and_personal_data_fail_the_check_and_are_never_echoed(repo, tmp_path, github) -> None:
    from finetune_action.dataset import personal, secrets
    from testing import planted

    work, base = repo
    texts = {**planted.secrets(), **planted.personal()}
    values = {label: (secrets.find(text) or personal.find(text))[0].value for label, text in texts.items()}
    rows = chat_examples(20)
    for index, text in enumerate(texts.values()):
        rows.append({"messages": [{"role": "system", "content": "Support bot."}, {"role": "user", "content": f"ticket {index}: {text}"}, {"role": "assistant", "content": "Noted."}]})
    head = commit(work, {"data/train.jsonl": rows}, "paste a support export")
    started = time.time()
    result = check(work, tmp_path, github, base, head)
    assert result.run.returncode == 1

    body = github.comments(REPO, PR)[0]["body"]
    top = body.split("\n\n")[1]
    assert top.startswith("🔐 **Secrets and personal data in the data:** 16 secrets \\(") and "8 pieces of personal data \\(" in top
    assert "github\\-pat 1" in top and "email 1" in top
    assert "- `secret-in-data` (16)\n  - [data/train\\.jsonl:21](" in body and ") messages\\[1\\]\\.content: a secret \\(github\\-pat" in body
    report = json.loads((work / result.outputs["report-path"]).read_text())
    head_report = report["configs"][0]["head"]
    assert sum(head_report["scan_counts"]["secret-in-data"].values()) == 16
    assert head_report["problem_counts"]["personal-data"] == 8

    # Every channel: stdout (annotations, logs), stderr, every request sent to GitHub, the job
    # summary, the step outputs, and every file the run left (report, crash files).
    channels = {"stdout": result.run.stdout, "stderr": result.run.stderr, "summary": result.summary, "outputs": json.dumps(result.outputs)}
    for number, request in enumerate(github.requests):
        channels[f"request {number}"] = request.path + (request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else str(request.body or ""))
    crash_files = [p for p in Path(tempfile.gettempdir()).glob("finetune-error-*.log") if p.stat().st_mtime >= started]
    for path in [*(tmp_path / "runner").rglob("*"), *crash_files]:
        if path.is_file():
            channels[str(path)] = path.read_text("utf-8", "replace")
    assert "::error file=data/train.jsonl,line=21" in result.run.stdout
    leaks = [(label, channel) for label, value in values.items() for channel, text in channels.items() if value in text]
    assert leaks == []


#: Behind a gateway a model may be one the catalogue cannot know, so without a price.
GATEWAY = {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}


def test_a_model_without_a_known_price_is_not_within_budget(repo, tmp_path, github) -> None:
    work, base = repo
    head = commit(work, {"finetune.yaml": minimal_config(model="my-own-model", provider=GATEWAY, budget={"max_usd": 100})}, "own model")
    result = check(work, tmp_path, github, base, head)
    body = github.comments(REPO, PR)[0]["body"]
    assert "within limits" not in body and "cannot be evaluated" in body and "budget cannot be evaluated" in body
    assert result.run.returncode == 1 and "cannot be evaluated" in result.run.stdout
    accepted = commit(work, {"finetune.yaml": minimal_config(model="my-own-model", provider=GATEWAY, budget={"max_usd": 100, "unpriced": "warn"})}, "accept")
    assert check(work, tmp_path, github, base, accepted).run.returncode == 0
    body = github.comments(REPO, PR)[0]["body"]
    assert "within limits" not in body and "⚠️ cannot be evaluated" in body


def test_no_base_commit_says_so_instead_of_new_config(repo, tmp_path, github) -> None:
    work, _base = repo
    head = commit(work, {"data/train.jsonl": chat_examples(25)}, "more data")
    result = check(work, tmp_path, github, "0" * 40, head)  # a base commit no fetch can get
    assert result.run.returncode == 0, result.run.stderr
    body = github.comments(REPO, PR)[0]["body"]
    assert "No base to compare with (the base commit 0000000 is not in this clone" in body
    assert "New config" not in body and "**25** added" not in body
    assert "| | head |" in body and "| Training examples | 25 |" in body
    assert result.outputs["cost-delta-usd"] == ""
    report = json.loads((work / result.outputs["report-path"]).read_text())
    assert report["configs"][0]["diff"] is None and report["base"]["sha"] is None


def test_workspace_that_is_not_a_git_repository(repo, tmp_path, github) -> None:
    work, base = repo
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("finetune.yaml", "data/train.jsonl"):
        (plain / name).parent.mkdir(parents=True, exist_ok=True)
        (plain / name).write_bytes((work / name).read_bytes())
    result = check(plain, tmp_path, github, base, base)
    assert result.run.returncode == 0, result.run.stderr
    body = github.comments(REPO, PR)[0]["body"]
    assert "No base to compare with" in body and "is not a git repository" in body and "New config" not in body


def test_error_totals_agree_between_annotations_comment_and_summary(repo, tmp_path, github) -> None:
    work, base = repo
    bad = "".join(json.dumps(r) + "\n" for r in chat_examples(20)) + "{not json\n" * 1200
    head = commit(work, {"data/train.jsonl": bad}, "broken lines")
    result = check(work, tmp_path, github, base, head)
    assert result.run.returncode == 1
    body = github.comments(REPO, PR)[0]["body"]
    assert "1,200 errors in the data" in body and "**Errors (1,200):**" in body and "- `invalid-json` (1,200)" in body
    assert "**Errors (1,200):**" in result.summary
    annotated = sum(1 for line in result.run.stdout.splitlines() if line.startswith("::error "))
    assert annotated == 10 and "1190 more errors not annotated" in result.run.stdout


def test_a_summary_over_githubs_limit_keeps_every_configs_verdict(repo, tmp_path, github) -> None:
    """The step summary holds at most 1 MiB: cut at its end, it lost every config after the
    first big one. Each config now keeps its verdict and table, its problem list cut in the middle."""
    work, base = repo
    bad = "".join(json.dumps(r) + "\n" for r in chat_examples(20)) + "".join(f'{{"messages": "line {n}"}}\n' for n in range(1200))
    head = commit(work, {"data/train.jsonl": bad, "bots/second/finetune.yaml": minimal_config(name="second-bot", data={"train": "../../data/train.jsonl"})}, "two configs, both broken")
    earlier = "earlier step\n" + "x" * (1024 * 1024 - 100_000) + "\n"  # a step before ours in the same composite action
    result = check(work, tmp_path, github, base, head, config="finetune.yaml bots/*/finetune.yaml", summary_before=earlier)
    assert result.run.returncode == 1, result.run.stderr
    summary = result.summary
    assert len(summary.encode()) <= 1024 * 1024 and summary.startswith(earlier)
    ours = summary[len(earlier):]
    assert ours.count("### ❌ finetune check:") == 2 and "Summary truncated" not in ours
    assert ours.count("cut from the middle to fit GitHub's 1 MiB step summary") == 2
    assert ours.count("| Training examples |") == 2


def test_runner_files_in_odd_states_are_an_environment_error(repo, tmp_path, github) -> None:
    work, base = repo
    head = commit(work, {"data/train.jsonl": chat_examples(25)}, "more data")
    (tmp_path / "a-directory").mkdir()
    for variable, path in (
        ("GITHUB_OUTPUT", tmp_path / "a-directory"),
        ("GITHUB_STEP_SUMMARY", tmp_path / "a-directory"),
        ("GITHUB_OUTPUT", tmp_path / "missing" / "output.txt"),
        ("GITHUB_STEP_SUMMARY", tmp_path / "output-file-as-parent" / "x"),
    ):
        if path.parent.name == "output-file-as-parent":
            path.parent.write_text("")
        github.add_pull(REPO, PR, head_sha=head)
        event = pull_request_event(REPO, PR, base_sha=base, head_sha=head)
        result = run_action(work, tmp_path / "runner", "pull_request", event, repository=REPO, api_url=github.base_url,
                            sha=head, inputs={"github-token": TOKEN}, env={variable: str(path)})
        assert result.run.returncode == 2, (variable, path, result.run.stderr)
        assert f"error: {variable} is {path}, which cannot be written" in result.run.stderr
        assert "bug" not in result.run.stderr and "Traceback" not in result.run.stderr
        assert github.comments(REPO, PR) == []  # nothing posted by a run that cannot report


def test_a_key_in_what_the_check_reports_reaches_nothing_written_to_github(repo, tmp_path, github) -> None:
    """A gateway URL carrying the key (some take it in the query): the comment, summary, report and outputs show ***."""
    work, base = repo
    key = "gw-live-0123456789abcdefSECRET"
    gateway = {"type": "openai", "base_url": f"https://gateway.example.com/v1?key={key}"}
    head = commit(work, {"finetune.yaml": minimal_config(budget={"max_usd": 100}, provider=gateway)}, "through the gateway")
    result = check(work, tmp_path, github, base, head, **{"openai-api-key": key})
    assert "Traceback" not in result.run.stderr
    [comment] = github.comments(REPO, PR)
    assert "v1?key=***" in comment["body"]
    assert [r.operation_id for r in github.requests if key in r.path + json.dumps(r.query) + r.body.decode("utf-8", "replace")] == []
    written = [result.run.stdout.replace(f"::add-mask::{key}", ""), result.run.stderr, result.summary, (work / result.outputs["report-path"]).read_text(),
               (tmp_path / "runner" / "output.txt").read_text()]
    assert not any(key in text for text in written)
