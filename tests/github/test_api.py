"""The GitHub client against the stand-in over real HTTP: paging, retries, and errors people can act on."""
from __future__ import annotations

import socket
import time

import pytest

from finetune_action.errors import GitHubError
from finetune_action.github import api
from finetune_action.github.api import GitHubClient, client_from_env
from testing.github_standin import GitHubStandIn
from testing.http import silent

REPO = "octo-org/octo-repo"
PR = 7


def test_reads_repository_and_pull(github: GitHubStandIn, client: GitHubClient) -> None:
    assert api.get_repo(client, REPO)["default_branch"] == "main"
    assert api.get_pull(client, REPO, PR).head_sha == "a" * 40
    sent = github.sent("GET")[0]
    assert sent.headers["x-github-api-version"] == "2022-11-28"
    assert sent.headers["user-agent"].startswith("finetune-action/")


def test_pagination_follows_link_headers(github: GitHubStandIn, client: GitHubClient) -> None:
    for n in range(230):
        github.add_comment(REPO, PR, f"comment {n}")
    comments = api.list_comments(client, REPO, PR)
    assert [c.body for c in comments] == [f"comment {n}" for n in range(230)]
    pages = [(r.query.get("page"), r.query.get("per_page")) for r in github.sent("GET")]
    assert pages == [(None, "100"), ("2", "100"), ("3", "100")]


def test_server_errors_are_retried_with_backoff(github: GitHubStandIn, client: GitHubClient, sleeps: list[float]) -> None:
    github.fail("repos/get", 500, times=2)
    github.fail("repos/get", 502)
    assert api.get_repo(client, REPO)["full_name"] == REPO
    assert len(github.sent("GET")) == 4
    assert [round(s) for s in sleeps] == [1, 2, 4]


def test_server_errors_give_up_after_the_attempts(github: GitHubStandIn, client: GitHubClient, sleeps: list[float]) -> None:
    github.fail("issues/create-comment", 500, times=10)
    with pytest.raises(GitHubError) as caught:
        api.create_comment(client, REPO, PR, "report")
    assert caught.value.status == 500
    assert "comment on octo-org/octo-repo#7" in str(caught.value)
    assert len(github.sent("POST")) == client.attempts
    assert len(sleeps) == client.attempts - 1


def test_secondary_rate_limit_waits_as_told(github: GitHubStandIn, client: GitHubClient, sleeps: list[float]) -> None:
    github.fail("issues/create-comment", "secondary-rate-limit", retry_after=7)
    api.create_comment(client, REPO, PR, "report")
    assert sleeps == [7.0]
    assert len(github.comments(REPO, PR)) == 1


def test_rate_limit_longer_than_the_cap_fails_without_waiting(
    github: GitHubStandIn, client: GitHubClient, sleeps: list[float]
) -> None:
    github.fail("repos/get", "rate-limit", retry_after=3600)
    with pytest.raises(GitHubError, match="rate-limited") as caught:
        api.get_repo(client, REPO)
    assert caught.value.status == 403
    assert sleeps == []


def test_dropped_connections_are_retried(github: GitHubStandIn, client: GitHubClient, sleeps: list[float]) -> None:
    github.fail("pulls/get", "disconnect")
    assert api.get_pull(client, REPO, PR).head_sha == "a" * 40
    assert len(sleeps) == 1


def test_unreachable_github_is_a_clear_error(sleeps: list[float]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GitHubClient("ghs_secret", f"http://127.0.0.1:{port}", sleep=sleeps.append, attempts=3)
    with pytest.raises(GitHubError, match="could not reach GitHub at http://127.0.0.1") as caught:
        api.get_repo(client, REPO)
    assert "GITHUB_API_URL" in str(caught.value)
    assert len(sleeps) == 2


def test_invalid_token(github: GitHubStandIn, sleeps: list[float]) -> None:
    client = GitHubClient("ghs_notAValidToken", github.base_url, sleep=sleeps.append)
    with pytest.raises(GitHubError) as caught:
        api.get_repo(client, REPO)
    assert caught.value.status == 401
    assert "invalid or expired" in str(caught.value)
    assert "ghs_notAValidToken" not in str(caught.value)
    assert sleeps == []


def test_read_only_token_names_the_missing_permission(github: GitHubStandIn, fork_client: GitHubClient) -> None:
    with pytest.raises(GitHubError) as caught:
        api.create_comment(fork_client, REPO, PR, "report")
    message = str(caught.value)
    assert caught.value.status == 403
    assert "Resource not accessible by integration" in message
    assert "`pull-requests: write`" in message
    assert "fork" in message
    assert github.comments(REPO, PR) == []

    with pytest.raises(GitHubError, match="`contents: write`"):
        api.create_release(fork_client, REPO, {"tag_name": "model-v1"})


def test_missing_repository(client: GitHubClient) -> None:
    with pytest.raises(GitHubError, match="404") as caught:
        api.get_pull(client, "octo-org/missing", 1)
    assert caught.value.status == 404
    assert "cannot see" in str(caught.value)


def test_validation_errors_carry_githubs_message(client: GitHubClient) -> None:
    with pytest.raises(GitHubError) as caught:
        api.create_comment(client, REPO, PR, "x" * 70000)
    assert caught.value.status == 422
    assert "Body is too long (maximum is 65536 characters)" in str(caught.value)


def test_graphql_errors(github: GitHubStandIn, client: GitHubClient, fork_client: GitHubClient) -> None:
    with pytest.raises(GitHubError) as caught:
        api.minimize_comment(client, "IC_kwDOnothing")
    assert caught.value.status == 404
    github.add_comment(REPO, PR, "old")
    node_id = github.comments(REPO, PR)[0]["node_id"]
    with pytest.raises(GitHubError, match="`pull-requests: write`") as caught:
        api.minimize_comment(fork_client, node_id)
    assert caught.value.status == 403
    api.minimize_comment(client, node_id)
    assert github.comments(REPO, PR)[0]["minimized"] == {"reason": "outdated"}


def test_the_token_never_shows(github: GitHubStandIn, sleeps: list[float]) -> None:
    token = "ghs_standinWriteToken0123456789"  # the stand-in's write token (conftest.py)
    client = GitHubClient(token, github.base_url, sleep=sleeps.append)
    assert token not in repr(client)
    github.fail("*", 401)
    github.fail("*", 500, times=100)
    for status in (401, 500):
        with pytest.raises(GitHubError) as caught:
            api.create_comment(client, REPO, PR, f"echo {token}")
        assert caught.value.status == status
        assert token not in str(caught.value)
        assert token not in repr(caught.value)


def test_github_enterprise_urls() -> None:
    client = client_from_env({"GITHUB_API_URL": "https://ghe.example.com/api/v3"}, "t")
    assert client.graphql_url == "https://ghe.example.com/api/graphql"
    actions = client_from_env({"GITHUB_API_URL": "https://ghe.example.com/api/v3", "GITHUB_GRAPHQL_URL": "https://g/q"}, "t")
    assert actions.graphql_url == "https://g/q"
    assert client_from_env({}, "t").api_url == "https://api.github.com"


def test_an_answer_that_is_not_json_is_a_clear_error() -> None:
    from testing.http import answering

    with answering(b"<html>proxy login</html>", "text/html") as url:
        client = GitHubClient("ghs_tokenNotShown0123", url)
        with pytest.raises(GitHubError, match="not JSON .text/html, HTTP 200.. Check GITHUB_API_URL") as caught:
            api.list_comments(client, "o/r", 1)
        with pytest.raises(GitHubError, match="not JSON"):
            api.get_pull(client, "o/r", 1)
    assert "ghs_tokenNotShown0123" not in str(caught.value)


def test_a_github_that_never_answers_fails_within_the_timeout_per_attempt() -> None:
    with silent() as url:
        client = GitHubClient("ghs_x", api_url=url, sleep=lambda seconds: None, attempts=2, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(GitHubError, match=r"could not reach GitHub .*ReadTimeout, 2 attempts"):
            api.get_repo(client, REPO)
        assert time.monotonic() - started < 5


def test_a_next_page_on_another_host_gets_no_token(sleeps: list[float]) -> None:
    """A Link header is part of the answer too: the token only ever goes to GitHub's hosts."""
    from testing.github_standin import github_standin
    from testing.http import answering

    with github_standin() as elsewhere:
        link = {"Link": f'<{elsewhere.base_url}/repos/o/r/issues/1/comments?page=2>; rel="next"'}
        with answering(b"[]", headers=link) as url:
            client = GitHubClient("ghs_tokenNotSentElsewhere0", url, sleep=sleeps.append)
            with pytest.raises(GitHubError) as caught:
                api.list_comments(client, "o/r", 1)
    assert elsewhere.requests == []
    assert f"to {elsewhere.base_url}, which is not {url}: nothing was sent there" in str(caught.value)


def test_a_next_link_back_to_a_page_already_read_ends_the_list(sleeps: list[float]) -> None:
    # A Link header naming the same page again was followed for ever (2,714 requests in 120 s).
    from testing.http import answering

    with answering(b"[]", headers={"Link": '</repos/o/r/issues/1/comments?page=2>; rel="next"'}) as url:
        client = GitHubClient("ghs_x0123456789", url, sleep=sleeps.append)
        with pytest.raises(GitHubError, match=r"kept linking to more pages to list comments on o/r#1 \(2 read, the next one read already\)"):
            api.list_comments(client, "o/r", 1)


@pytest.mark.parametrize(("case", "expected"), [
    ("garbled", r"could not reach GitHub .* \(ContentDecodingError, 2 attempts\)"),
    ("deep", r"with something that is not JSON"),
    ("bad url", r"could not send the request to read repository o/r to GitHub at http://127.0.0.1:99999 \(InvalidURL\)\. Check GITHUB_API_URL"),
])
def test_answers_requests_cannot_take_are_clear_errors(case: str, expected: str, sleeps: list[float]) -> None:
    # Each was an "unexpected ..." traceback: in train, after the job was paid for, it lost the step's outputs.
    from testing.http import answering

    if case == "bad url":
        with pytest.raises(GitHubError, match=expected):
            api.get_repo(GitHubClient("ghs_x0123456789", "http://127.0.0.1:99999", sleep=sleeps.append, attempts=2), "o/r")
        return
    body, headers = (b"not gzip at all", {"content-encoding": "gzip"}) if case == "garbled" else (b"[" * 100_000 + b"]" * 100_000, {})
    with answering(body, headers=headers) as url:
        with pytest.raises(GitHubError, match=expected):
            api.get_repo(GitHubClient("ghs_x0123456789", url, sleep=sleeps.append, attempts=2), "o/r")
