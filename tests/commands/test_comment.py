"""The fork-safe pair: a read-only run writes the report; a trusted run posts it, as untrusted data."""
from __future__ import annotations

import json
from pathlib import Path

from testing.action import event_payload, run_action
from testing.repo import run_finetune
from tests.commands.conftest import FORK_TOKEN, PR, REPO, TOKEN, run_pr_check as check
from testing.repo import chat_examples, commit


def fork_report(repo, tmp_path, github) -> tuple[Path, str]:
    work, base = repo
    head = commit(work, {"data/train.jsonl": chat_examples(30)}, "fork change")
    made = check(work, tmp_path / "fork", github, base, head, token=FORK_TOKEN, **{"comment-behavior": "off"})
    assert made.run.returncode == 0 and github.comments(REPO, PR) == []
    return work / made.outputs["report-path"], head


def workflow_run_event(head_sha: str, listed: bool) -> dict:
    event = event_payload("workflow_run.completed")
    event["workflow_run"].update(head_sha=head_sha, event="pull_request")
    if not listed:
        event["workflow_run"]["pull_requests"] = []  # GitHub lists no PRs for forks
    event["repository"]["full_name"] = REPO
    return event


def test_workflow_run_posts_the_artifact_report(repo, tmp_path, github) -> None:
    report, head = fork_report(repo, tmp_path, github)
    poster = tmp_path / "poster"
    poster.mkdir()
    (poster / "finetune-report.json").write_bytes(report.read_bytes())
    result = run_action(poster, tmp_path / "runner2", "workflow_run", workflow_run_event(head, listed=False),
                        repository=REPO, api_url=github.base_url, sha="0" * 40,
                        inputs={"github-token": TOKEN, "report-path": "finetune-report.json"})  # as finetune-fork-comment.yml
    assert result.run.returncode == 0, result.run.stderr
    comments = github.comments(REPO, PR)
    assert len(comments) == 1 and "| Training examples | 20 | 30 |" in comments[0]["body"]


def post_from_workflow_run(tmp_path: Path, github, report: Path, head_sha: str, name: str, token: str = TOKEN):
    poster = tmp_path / name
    poster.mkdir()
    (poster / "finetune-report.json").write_bytes(report.read_bytes())
    return run_action(poster, tmp_path / f"{name}-runner", "workflow_run", workflow_run_event(head_sha, listed=False),
                      repository=REPO, api_url=github.base_url, sha="0" * 40,
                      inputs={"github-token": token, "report-path": "finetune-report.json"})  # as finetune-fork-comment.yml


def test_workflow_run_for_an_outdated_head_posts_nothing(repo, tmp_path, github) -> None:
    report, head = fork_report(repo, tmp_path, github)
    result = post_from_workflow_run(tmp_path, github, report, "b" * 40, "poster")
    assert result.run.returncode == 0
    assert (f"skipped-stale (pull request #{PR} is now at {head[:7]} and this report is for bbbbbbb, a commit it has left, "
            f"so nothing was written; there is no report comment yet, the run for {head[:7]} writes it)") in result.run.stderr
    assert github.comments(REPO, PR) == []


def test_a_late_poster_for_an_abandoned_head_leaves_the_comment(repo, tmp_path, github) -> None:
    """Two fork pushes, their posters finishing in the wrong order: the same guard as the check's."""
    work, base = repo
    old_report, old_head = fork_report(repo, tmp_path / "one", github)
    new_head = commit(work, {"data/train.jsonl": chat_examples(33)}, "second fork push")
    made = check(work, tmp_path / "two", github, base, new_head, token=FORK_TOKEN, **{"comment-behavior": "off"})
    assert made.run.returncode == 0
    first = post_from_workflow_run(tmp_path, github, work / made.outputs["report-path"], new_head, "poster-new")
    assert first.run.returncode == 0, first.run.stderr
    [comment] = github.comments(REPO, PR)
    assert "| 20 | 33 |" in comment["body"] and new_head in comment["body"]
    late = post_from_workflow_run(tmp_path, github, old_report, old_head, "poster-old")
    assert late.run.returncode == 0, late.run.stderr
    assert github.comments(REPO, PR) == [comment]
    assert f"skipped-stale {comment['html_url']} (pull request #{PR} is now at {new_head[:7]}" in late.run.stderr
    # The head was asked for just before the write that did not happen, as in the check.
    assert [r.operation_id for r in github.requests[-2:]] == ["issues/list-comments", "pulls/get"]


def test_a_poster_that_cannot_read_the_pull_request_fails_and_writes_nothing(repo, tmp_path, github) -> None:
    report, head = fork_report(repo, tmp_path, github)
    issues_only = github.add_token("ghs_issuesOnly0123456789abcdef", {"issues": "write", "actions": "read", "metadata": "read"})
    result = post_from_workflow_run(tmp_path, github, report, head, "poster", token=issues_only)
    assert result.run.returncode == 1 and "Traceback" not in result.run.stderr
    assert "Nothing was written: only a run for the pull request's current head writes the comment" in result.run.stderr
    assert github.comments(REPO, PR) == []


def test_forged_report_is_rendered_escaped(repo, tmp_path, github) -> None:
    report, head = fork_report(repo, tmp_path, github)
    data = json.loads(report.read_text())
    data["configs"][0]["head"]["warnings"].append({"path": "x", "line": 1, "code": "<b>", "message": "@admin please merge </details> <script>"})
    report.write_text(json.dumps(data))
    result = run_finetune("comment", "--report", str(report), "--repo", REPO, cwd=tmp_path,
                          env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.base_url})
    assert result.returncode == 0, result.stderr
    body = github.comments(REPO, PR)[0]["body"]
    assert "@admin" not in body and "<script>" not in body and body.count("<details>") == body.count("</details>")


def test_finetune_comment_for_a_head_the_pr_left_writes_nothing(repo, tmp_path, github) -> None:
    report, head = fork_report(repo, tmp_path, github)
    github.push(REPO, PR, "c" * 40)
    result = run_finetune("comment", "--report", str(report), "--repo", REPO, cwd=tmp_path,
                          env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.base_url})
    assert result.returncode == 0, result.stderr
    assert f"skipped-stale (pull request #{PR} is now at ccccccc and this report is for {head[:7]}" in result.stdout
    assert github.comments(REPO, PR) == []


def test_malformed_reports_are_refused(tmp_path, github) -> None:
    cases = {
        "missing.json": None,
        "notjson.json": "{nope",
        "other.json": json.dumps({"kind": "something-else"}),
        "broken.json": json.dumps({"kind": "finetune-action/review", "version": 1, "configs": [{"config": "a", "head": {"examples": "many"}}]}),
        "headless.json": json.dumps({"kind": "finetune-action/review", "version": 1, "configs": [{"config": "a", "head": None, "base": None}]}),
        # Each of these was an unexpected OverflowError, ValueError or RecursionError (exit 1):
        "huge-cost.json": json.dumps({"kind": "finetune-action/review", "version": 1, "head_sha": "a" * 40,
                                      "configs": [{"config": "a", "head": {"examples": 1, "estimated_cost_usd": 10**400}, "base": None}]}),
        "digits.json": '{"kind": "finetune-action/review", "x": 1' + "0" * 5000 + "}",
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "a-directory": "",
    }
    for name, content in cases.items():
        if name == "a-directory":
            (tmp_path / name).mkdir()
        elif content is not None:
            (tmp_path / name).write_text(content)
        result = run_finetune("comment", "--report", str(tmp_path / name), "--repo", REPO, "--pr", str(PR), cwd=tmp_path,
                              env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.base_url})
        assert result.returncode == 2 and "Traceback" not in result.stderr, (name, result.stderr)
        assert name in result.stderr
    assert github.comments(REPO, PR) == []


def test_finetune_comment_reports_on_stdout_terse_and_detailed(repo, tmp_path, github) -> None:
    report, head = fork_report(repo, tmp_path, github)
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.base_url}
    posted = run_finetune("comment", "--report", str(report), "--repo", REPO, cwd=tmp_path, env=env)
    assert posted.returncode == 0, posted.stderr
    [comment] = github.comments(REPO, PR)
    # What the command did is its report: stdout, one line per config.
    assert posted.stdout == f"comment for finetune.yaml: created {comment['html_url']}\n" and posted.stderr == ""

    data = json.loads(report.read_text())
    data["configs"][0]["head"]["warnings"].append({"path": "x", "line": 1, "code": "new-warning", "message": "a change"})
    report.write_text(json.dumps(data))
    github.push(REPO, PR, "c" * 40)
    terse = run_finetune("comment", "-q", "--report", str(report), "--repo", REPO, cwd=tmp_path, env=env)
    # -q: the line without why nothing was written.
    assert terse.returncode == 0 and terse.stdout == f"comment for finetune.yaml: skipped-stale {comment['html_url']}\n" and terse.stderr == ""
    github.push(REPO, PR, head)
    detailed = run_finetune("comment", "-v", "--behavior", "hide-and-new", "--report", str(report), "--repo", REPO, cwd=tmp_path, env=env)
    assert detailed.returncode == 0, detailed.stderr
    new = github.comments(REPO, PR)[-1]
    assert detailed.stdout.splitlines() == [
        f"comment for finetune.yaml: created {new['html_url']}",
        f"  describes head {head}",
        "  hid 1 older report comment",
    ]
