"""GitHub answers in shapes its description does not allow (a proxy, a wrong GITHUB_API_URL, a
changed API), met through the action and the CLI as subprocesses: a GitHubError that names the
endpoint, what came and what to do, or the junk entry of a list left out; never a traceback."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune_action.github import api, releases
from testing.github_standin import GitHubStandIn, github_standin
from testing.repo import Run, chat_examples, commit, init_repo, minimal_config, run_finetune
from tests.commands.conftest import PR, REPO, TOKEN, run_pr_check as check
from tests.commands.test_train import FAST, openai_standin, train_action  # noqa: F401 - fixture

ADVICE = "Check GITHUB_API_URL (and any proxy in between)"


def no_bug(run: Run) -> None:
    text = run.stdout + run.stderr
    assert "Traceback" not in text and "bug in finetune-action" not in text, text


def _head(pull: dict, value: Any) -> dict:
    return {**pull, "head": {**pull["head"], "sha": value}}


@pytest.mark.parametrize(
    "change, answered",
    [
        (lambda pull: [pull], "an answer this action cannot use: a list where an object belongs"),
        (lambda pull: {**pull, "head": None}, "`head` is null"),
        (lambda pull: {key: value for key, value in pull.items() if key != "head"}, "`head` is missing"),
        (lambda pull: _head(pull, 1234), "`head.sha` is a number"),
        (lambda pull: _head(pull, "not a commit"), "`head.sha` is a string that is not a commit id"),
    ],
)
def test_a_pull_request_answer_without_a_usable_head_writes_nothing_and_says_what_came(repo, tmp_path, github, change, answered) -> None:
    work, base = repo
    head = commit(work, {"data/train.jsonl": chat_examples(25)}, "more data")
    github.mangle("pulls/get", change)
    result = check(work, tmp_path, github, base, head)
    no_bug(result.run)
    assert result.run.returncode == 0  # a comment that cannot be written never fails the check
    warning = next(line for line in result.run.stdout.splitlines() if line.startswith("::warning") and "could not comment" in line)
    assert f"GET /repos/{REPO}/pulls/{PR}" in warning and answered in warning and ADVICE in warning
    assert "Nothing was written" in warning
    assert github.comments(REPO, PR) == []


def test_junk_entries_in_the_comment_list_are_left_out_and_the_report_is_updated_in_place(repo, tmp_path, github) -> None:
    work, base = repo
    first = check(work, tmp_path, github, base, commit(work, {"data/train.jsonl": chat_examples(25)}, "one"))
    assert first.run.returncode == 0, first.run.stderr
    [ours] = github.comments(REPO, PR)
    github.mangle("issues/list-comments", lambda page: [
        "junk", None, 7, [], {}, {"id": "12", "body": ours["body"]}, {**ours, "id": None}, {**ours, "id": True},
        {**ours, "body": None}, {**ours, "body": 17}, {**ours, "body": ["a"]}, *page,
    ])
    second = check(work, tmp_path, github, base, commit(work, {"data/train.jsonl": chat_examples(26)}, "two"))
    no_bug(second.run)
    assert second.run.returncode == 0
    [updated] = github.comments(REPO, PR)
    assert updated["id"] == ours["id"] and "| 20 | 26 |" in updated["body"]
    assert f"comment for finetune.yaml: updated {ours['html_url']}" in second.run.stderr


@pytest.mark.parametrize(
    "operation, change, answered",
    [
        ("issues/create-comment", lambda comment: "created", "cannot use: a string where an object belongs"),
        ("issues/list-comments", lambda page: {"comments": page}, "cannot use: an object where a list belongs"),
    ],
)
def test_comment_answers_that_are_not_comments_are_a_clear_warning(repo, tmp_path, github, operation, change, answered) -> None:
    work, base = repo
    github.mangle(operation, change)
    result = check(work, tmp_path, github, base, commit(work, {"data/train.jsonl": chat_examples(25)}, "more"))
    no_bug(result.run)
    assert result.run.returncode == 0
    warning = next(line for line in result.run.stdout.splitlines() if "could not comment" in line)
    assert answered in warning and ADVICE in warning and f"/repos/{REPO}/issues/" in warning


@pytest.mark.parametrize(
    "answer, answered",
    [
        ([], "an answer this action cannot use: a list where an object belongs"),
        ({"errors": "no"}, "`errors` is a string"),
        ({"errors": ["no", None]}, "GraphQL API at"),
        ({"data": None}, "`data` is null"),
        ({"data": {}}, "`data.minimizeComment` is missing"),
    ],
)
def test_graphql_answers_in_other_shapes_are_a_clear_warning(repo, tmp_path, github, answer, answered) -> None:
    work, base = repo
    first = check(work, tmp_path, github, base, commit(work, {"data/train.jsonl": chat_examples(25)}, "one"))
    assert first.run.returncode == 0, first.run.stderr
    github.mangle("graphql/minimize-comment", lambda body: answer)
    hide = check(work, tmp_path, github, base, commit(work, {"data/train.jsonl": chat_examples(26)}, "two"), **{"comment-behavior": "hide-and-new"})
    no_bug(hide.run)
    assert hide.run.returncode == 0
    warning = next(line for line in hide.run.stdout.splitlines() if "could not comment" in line)
    assert answered in warning and "/graphql" in warning
    assert len(github.comments(REPO, PR)) == 2  # the new report is posted before the old one is hidden


def test_finetune_comment_meets_a_pull_request_answer_it_cannot_use(repo, tmp_path, github) -> None:
    work, base = repo
    made = check(work, tmp_path, github, base, commit(work, {"data/train.jsonl": chat_examples(25)}, "x"), **{"comment-behavior": "off"})
    github.mangle("pulls/get", lambda pull: _head(pull, None))
    result = run_finetune("comment", "--report", str(work / made.outputs["report-path"]), "--repo", REPO, cwd=tmp_path,
                          env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.base_url})
    no_bug(result)
    assert result.returncode == 1
    assert f"GET /repos/{REPO}/pulls/{PR}" in result.stderr and "`head.sha` is null" in result.stderr and ADVICE in result.stderr
    assert github.comments(REPO, PR) == []


# -- releases --------------------------------------------------------------------------


@pytest.fixture
def trained_repo(tmp_path: Path) -> tuple[Path, str]:
    repo = init_repo(tmp_path / "work")
    return repo, commit(repo, {"finetune.yaml": minimal_config(wait=FAST), "data/train.jsonl": chat_examples(20)}, "data")


def test_a_release_answer_without_an_upload_url_fails_the_release_clearly(trained_repo, tmp_path, github, openai_standin) -> None:
    repo, sha = trained_repo
    github.mangle("repos/create-release", lambda release: {**release, "upload_url": None})
    trained = train_action(repo, tmp_path, github, openai_standin, sha)
    no_bug(trained.run)
    assert trained.run.returncode == 1
    assert f"POST /repos/{REPO}/releases" in trained.run.stdout and "`upload_url` is null" in trained.run.stdout
    assert "but the release failed" in trained.run.stdout and trained.outputs["model-id"]
    assert (repo / trained.outputs["model-json"]).is_file()


def test_a_release_answer_that_is_a_list_fails_the_release_clearly(trained_repo, tmp_path, github, openai_standin) -> None:
    repo, sha = trained_repo
    github.mangle("repos/create-release", lambda release: [release])
    trained = train_action(repo, tmp_path, github, openai_standin, sha)
    no_bug(trained.run)
    assert trained.run.returncode == 1 and f"POST /repos/{REPO}/releases" in trained.run.stdout
    assert "an answer this action cannot use: a list where an object belongs" in trained.run.stdout


def test_junk_entries_in_the_asset_list_are_left_out(trained_repo, tmp_path, github, openai_standin) -> None:
    repo, sha = trained_repo
    github.mangle("repos/list-release-assets", lambda page: ["junk", None, {"name": "model.json"}, {"id": 5, "name": None}, *page])
    trained = train_action(repo, tmp_path, github, openai_standin, sha)
    no_bug(trained.run)
    assert trained.run.returncode == 0, trained.run.stdout
    [release] = github.releases(REPO)
    assert sorted(a["name"] for a in release["assets"]) == ["metrics.csv", "model.json"]


def test_an_upload_url_on_another_host_is_refused_and_gets_no_token(trained_repo, tmp_path, github, openai_standin) -> None:
    repo, sha = trained_repo
    with github_standin() as elsewhere:
        github.mangle("repos/create-release", lambda release: {**release, "upload_url": elsewhere.base_url + "/upload{?name,label}"})
        trained = train_action(repo, tmp_path, github, openai_standin, sha)
    no_bug(trained.run)
    assert elsewhere.requests == []
    assert trained.run.returncode == 1 and f"to {elsewhere.base_url}, which is not {github.base_url}: nothing was sent there" in trained.run.stdout


EVAL = {"data": "data/eval.jsonl", "graders": ["normalised_match", {"type": "judge_pairwise"}], "judge": "gpt-4.1-2025-04-14"}


def _release(github: GitHubStandIn, tag: str, record: Any) -> None:
    client = api.GitHubClient(TOKEN, github.base_url)
    try:
        releases.publish_release(client, REPO, tag, tag, "notes", [releases.Asset("model.json", json.dumps(record).encode())])
    finally:
        client.close()


def test_junk_releases_and_model_json_are_passed_over_for_the_current_release(repo, tmp_path, github) -> None:
    work, base = repo
    good = {"name": "support-bot", "fine_tuned_model": "ft:gpt-4.1-mini:good", "eval": {"summary": "better on 9 of 10", "gate": {"passed": True}}}
    _release(github, "good", good)
    _release(github, "a-list", [good])
    _release(github, "odd-fields", {"name": ["support-bot"], "eval": {"gate": {"passed": True}}})
    _release(github, "odd-eval", {"name": "support-bot", "eval": "passed"})
    github.mangle("repos/list-releases", lambda page: ["junk", None, {"id": "1"}, {**page[-1], "assets": "none"}, *page])
    head = commit(work, {"finetune.yaml": minimal_config(eval=EVAL), "data/eval.jsonl": chat_examples(30, "held-out tea")}, "eval")
    result = check(work, tmp_path, github, base, head)
    no_bug(result.run)
    assert result.run.returncode == 0, result.run.stdout
    body = github.comments(REPO, PR)[0]["body"]
    assert "Current release `good` (`ft:gpt-4.1-mini:good`): better on 9 of 10." in body
