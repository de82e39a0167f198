"""The GitHub stand-in behaves like GitHub where our client can tell, and keeps itself honest."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from testing.github_standin import READ_ONLY, GitHubStandIn, github_standin

EVENTS = Path(__file__).parents[1] / "fixtures" / "github" / "events"
REPO = "octo-org/octo-repo"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with github_standin() as standin:
        standin.add_token("write-token")
        standin.add_token("fork-token", READ_ONLY)
        standin.add_repo(REPO, default_branch="main")
        standin.add_pull(REPO, 7, head_sha="a" * 40, head_repo="fork-owner/octo-repo")
        yield standin


def call(github: GitHubStandIn, method: str, path: str, token: str = "write-token", **kwargs) -> requests.Response:
    url = path if path.startswith("http") else github.base_url + path
    headers = {"Authorization": f"Bearer {token}", "X-GitHub-Api-Version": "2022-11-28", **kwargs.pop("headers", {})}
    return requests.request(method, url, headers=headers, timeout=10, **kwargs)


def test_repository_and_pull_have_real_shapes(github: GitHubStandIn) -> None:
    repo = call(github, "GET", f"/repos/{REPO}").json()
    assert repo["default_branch"] == "main"
    assert repo["full_name"] == REPO

    pull = call(github, "GET", f"/repos/{REPO}/pulls/7", token="fork-token").json()
    assert pull["head"]["sha"] == "a" * 40
    assert pull["head"]["repo"]["fork"] is True
    assert pull["base"]["ref"] == "main"
    assert call(github, "GET", f"/repos/{REPO}/pulls/8").status_code == 404


def test_a_push_moves_the_pull_requests_head(github: GitHubStandIn) -> None:
    github.push(REPO, 7, "b" * 40)
    assert call(github, "GET", f"/repos/{REPO}/pulls/7").json()["head"]["sha"] == "b" * 40
    github.push(REPO, 7, "a" * 40)  # a force-push back
    pull = call(github, "GET", f"/repos/{REPO}/pulls/7").json()
    assert pull["head"]["sha"] == "a" * 40 and pull["number"] == 7
    assert github.violations == []


def test_unknown_repository_is_not_found(github: GitHubStandIn) -> None:
    response = call(github, "GET", "/repos/someone/else")
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"


def test_comments_paginate_with_link_headers(github: GitHubStandIn) -> None:
    for n in range(5):
        github.add_comment(REPO, 7, f"comment {n}")
    bodies = []
    url = f"{github.base_url}/repos/{REPO}/issues/7/comments?per_page=2"
    while url:
        response = call(github, "GET", url)
        bodies += [comment["body"] for comment in response.json()]
        url = response.links.get("next", {}).get("url")
    assert bodies == [f"comment {n}" for n in range(5)]

    last = call(github, "GET", f"/repos/{REPO}/issues/7/comments", params={"per_page": 2, "page": 3})
    assert set(last.links) == {"prev", "first"}


def test_comment_lifecycle_and_recording(github: GitHubStandIn) -> None:
    created = call(github, "POST", f"/repos/{REPO}/issues/7/comments", json={"body": "hello"})
    assert created.status_code == 201
    comment = created.json()
    assert comment["user"]["login"] == "github-actions[bot]"
    assert comment["html_url"].endswith(f"/pull/7#issuecomment-{comment['id']}")

    updated = call(github, "PATCH", f"/repos/{REPO}/issues/comments/{comment['id']}", json={"body": "again"})
    assert updated.json()["body"] == "again"
    assert call(github, "DELETE", f"/repos/{REPO}/issues/comments/{comment['id']}").status_code == 204
    assert github.comments(REPO, 7) == []

    assert [r.method for r in github.sent()] == ["POST", "PATCH", "DELETE"]
    assert github.sent("PATCH")[0].json == {"body": "again"}
    assert all("authorization" not in r.headers for r in github.sent())


def test_comment_over_the_limit_is_rejected_like_github(github: GitHubStandIn) -> None:
    response = call(github, "POST", f"/repos/{REPO}/issues/7/comments", json={"body": "x" * 65537})
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == "Body is too long (maximum is 65536 characters)"
    assert call(github, "POST", f"/repos/{REPO}/issues/7/comments", json={"body": "x" * 65536}).status_code == 201


def test_tokens(github: GitHubStandIn) -> None:
    assert call(github, "GET", f"/repos/{REPO}", token="nope").json()["message"] == "Bad credentials"
    assert requests.get(f"{github.base_url}/repos/{REPO}", timeout=10).status_code == 401

    response = call(github, "POST", f"/repos/{REPO}/issues/7/comments", token="fork-token", json={"body": "hi"})
    assert response.status_code == 403
    assert response.json()["message"] == "Resource not accessible by integration"
    assert response.headers["X-Accepted-GitHub-Permissions"] == "issues=write; pull_requests=write"
    assert call(github, "GET", f"/repos/{REPO}/issues/7/comments", token="fork-token").status_code == 200


def test_injected_failures_then_recovery(github: GitHubStandIn) -> None:
    github.fail("repos/get", 500, times=2)
    github.fail("repos/get", "secondary-rate-limit", retry_after=7)
    statuses = [call(github, "GET", f"/repos/{REPO}") for _ in range(4)]
    assert [r.status_code for r in statuses] == [500, 500, 403, 200]
    assert statuses[2].headers["Retry-After"] == "7"
    assert "secondary rate limit" in statuses[2].json()["message"]

    github.fail("*", 502)
    bad_gateway = call(github, "GET", f"/repos/{REPO}/pulls/7")
    assert bad_gateway.status_code == 502
    assert bad_gateway.headers["Content-Type"] == "text/html"

    github.fail("repos/get", "rate-limit")
    assert call(github, "GET", f"/repos/{REPO}").headers["x-ratelimit-remaining"] == "0"

    github.fail("issues/create-comment", "lost-response")
    assert call(github, "POST", f"/repos/{REPO}/issues/7/comments", json={"body": "hi"}).status_code == 502
    assert [c["body"] for c in github.comments(REPO, 7)] == ["hi"]

    github.fail("repos/get", "disconnect")
    with pytest.raises(requests.ConnectionError):
        call(github, "GET", f"/repos/{REPO}")
    assert call(github, "GET", f"/repos/{REPO}").status_code == 200


def test_releases_and_assets(github: GitHubStandIn) -> None:
    release = call(github, "POST", f"/repos/{REPO}/releases", json={"tag_name": "model-v1", "name": "v1"}).json()
    assert release["upload_url"].startswith(github.base_url)
    duplicate = call(github, "POST", f"/repos/{REPO}/releases", json={"tag_name": "model-v1"})
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"][0]["code"] == "already_exists"

    upload_url = release["upload_url"].split("{")[0]
    headers = {"Content-Type": "application/json"}
    asset = call(github, "POST", upload_url, params={"name": "model.json"}, data=b"{}", headers=headers).json()
    assert asset["size"] == 2
    again = call(github, "POST", upload_url, params={"name": "model.json"}, data=b"{}", headers=headers)
    assert again.status_code == 422
    assert requests.get(asset["browser_download_url"], timeout=10).content == b"{}"

    by_tag = call(github, "GET", f"/repos/{REPO}/releases/tags/model-v1").json()
    assert [a["name"] for a in by_tag["assets"]] == ["model.json"]
    assert call(github, "DELETE", f"/repos/{REPO}/releases/assets/{asset['id']}").status_code == 204
    assert call(github, "GET", f"/repos/{REPO}/releases/{release['id']}/assets").json() == []
    assert call(github, "PATCH", f"/repos/{REPO}/releases/{release['id']}", json={"body": "notes"}).json()["body"] == "notes"
    assert call(github, "POST", f"/repos/{REPO}/releases", token="fork-token", json={"tag_name": "x"}).status_code == 403


@pytest.mark.parametrize(
    "query, variables",
    [
        (
            "mutation($id: ID!) { minimizeComment(input: {subjectId: $id, classifier: OUTDATED}) "
            "{ minimizedComment { isMinimized } } }",
            "id",
        ),
        (
            "mutation Hide($input: MinimizeCommentInput!) { minimizeComment(input: $input) "
            "{ minimizedComment { isMinimized minimizedReason } } }",
            "input",
        ),
    ],
)
def test_graphql_minimize_comment(github: GitHubStandIn, query: str, variables: str) -> None:
    comment_id = github.add_comment(REPO, 7, "old report")
    node_id = github.comments(REPO, 7)[0]["node_id"]
    given = {"id": node_id} if variables == "id" else {"input": {"subjectId": node_id, "classifier": "OUTDATED"}}
    answer = call(github, "POST", "/graphql", json={"query": query, "variables": given}).json()
    assert answer["data"]["minimizeComment"]["minimizedComment"]["isMinimized"] is True
    comment = call(github, "GET", f"/repos/{REPO}/issues/comments/{comment_id}").json()
    assert comment["minimized"] == {"reason": "outdated"}

    refused = call(github, "POST", "/graphql", token="fork-token", json={"query": query, "variables": given}).json()
    assert refused["errors"][0]["type"] == "FORBIDDEN"


def test_requests_are_checked_against_the_spec(github: GitHubStandIn) -> None:
    response = call(github, "POST", f"/repos/{REPO}/issues/7/comments", json={"text": "wrong key"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("Invalid request.")
    response = call(github, "GET", f"/repos/{REPO}/releases", params={"limit": 5})
    assert response.status_code == 422
    bad_graphql = call(github, "POST", "/graphql", json={"query": "{ viewer { login } }"})
    assert bad_graphql.json()["errors"][0]["type"] == "PARSE_ERROR"
    assert len(github.violations) == 3
    github.violations.clear()


def test_responses_are_checked_against_the_spec() -> None:
    with pytest.raises(AssertionError, match="updated_at"):
        with github_standin() as github:
            github.add_token("t")
            github.add_repo(REPO)
            github.add_pull(REPO, 1)
            comment_id = github.add_comment(REPO, 1, "hi")
            github._comments[comment_id]["updated_at"] = None  # a shape GitHub never sends
            call(github, "GET", f"/repos/{REPO}/issues/comments/{comment_id}", token="t")


def test_event_payloads_are_the_real_ones() -> None:
    opened = json.loads((EVENTS / "pull_request.opened.json").read_text())
    synchronize = json.loads((EVENTS / "pull_request.synchronize.json").read_text())
    run = json.loads((EVENTS / "workflow_run.completed.json").read_text())
    assert (opened["action"], synchronize["action"], run["action"]) == ("opened", "synchronize", "completed")
    assert opened["pull_request"]["head"]["sha"]
    assert run["workflow_run"]["pull_requests"][0]["number"]
    assert json.loads((EVENTS / "push.json").read_text())["ref"].startswith("refs/heads/")
    assert "inputs" in json.loads((EVENTS / "workflow_dispatch.json").read_text())
