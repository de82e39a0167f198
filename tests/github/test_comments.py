"""The sticky report comment: one per config and tag, never stale, never re-sent unchanged."""
from __future__ import annotations

import pytest

from finetune_action.errors import GitHubError
from finetune_action.github import comments
from finetune_action.github.api import GitHubClient
from finetune_action.github.comments import compose, marker, plan, post_sticky_comment, valid_at
from testing.github_standin import GitHubStandIn

REPO = "octo-org/octo-repo"
PR = 7
OLD_SHA, NEW_SHA = "1" * 40, "2" * 40


def post(client: GitHubClient, body: str, behavior: str = "update", tag: str = "", sha: str = NEW_SHA,
         time: int | None = 2000, config: str = "finetune.yaml") -> comments.CommentResult:
    return post_sticky_comment(client, REPO, PR, config, body, behavior, tag, sha, time)


# -- pure parts -------------------------------------------------------------------------


def test_markers_tell_configs_and_tags_apart() -> None:
    plain, tagged = marker("finetune.yaml"), marker("finetune.yaml", "staging")
    assert plain == "<!-- finetune-action: finetune.yaml -->"
    assert tagged == "<!-- finetune-action: finetune.yaml tag=staging -->"
    assert plain not in tagged and tagged not in plain
    assert "-->" not in marker("evil --> <b>x</b>.yaml")[:-3]


def test_valid_at_round_trips() -> None:
    body = compose("report", "finetune.yaml", "", NEW_SHA, 1717171717)
    assert valid_at(body) == (NEW_SHA, 1717171717)
    assert valid_at(compose("report", "finetune.yaml", "", NEW_SHA, None)) is None


def test_long_reports_are_cut_in_the_middle_with_markers_kept() -> None:
    report = "HEAD" + "x" * 100_000 + "TAIL"
    body = compose(report, "finetune.yaml", "", NEW_SHA, 5)
    assert len(body) <= comments.BODY_LIMIT
    assert body.startswith(marker("finetune.yaml"))
    assert "HEAD" in body and body.endswith("TAIL")
    assert "characters cut from the middle" in body


def existing(body: str, config: str = "finetune.yaml", tag: str = "", time: int | None = 1000,
             minimized: bool = False, comment_id: int = 1) -> dict:
    return {
        "id": comment_id,
        "body": compose(body, config, tag, OLD_SHA, time),
        "minimized": {"reason": "outdated"} if minimized else None,
        "html_url": f"https://github.com/x/y/pull/7#issuecomment-{comment_id}",
    }


@pytest.mark.parametrize(
    "behavior, expected",
    [("update", "update"), ("new", "create"), ("hide-and-new", "create"), ("delete-and-new", "create")],
)
def test_plan_per_behavior(behavior: str, expected: str) -> None:
    old = [existing("old report", comment_id=1), existing("older", comment_id=2, minimized=True)]
    decided = plan(old, compose("new report", "finetune.yaml", "", NEW_SHA, 2000), behavior, "finetune.yaml", "", 2000)
    assert decided.action == expected
    assert [c["id"] for c in decided.hide] == ([1] if behavior == "hide-and-new" else [])
    assert [c["id"] for c in decided.delete] == ([1, 2] if behavior == "delete-and-new" else [])


def test_plan_ignores_other_configs_and_tags() -> None:
    others = [existing("a", config="other.yaml"), existing("b", tag="staging"), {"id": 9, "body": "LGTM", "minimized": None}]
    decided = plan(others, compose("new", "finetune.yaml", "", NEW_SHA, 2000), "update", "finetune.yaml", "", 2000)
    assert decided == comments.Plan("create", None, [], [])


def test_plan_stale_and_unchanged() -> None:
    newer = [existing("report", time=3000)]
    body = compose("report", "finetune.yaml", "", NEW_SHA, 2000)
    assert plan(newer, body, "update", "finetune.yaml", "", 2000).action == "skipped-stale"
    assert plan(newer, body, "update", "finetune.yaml", "", None).action == "unchanged"
    same = [existing("report", time=1000)]
    assert plan(same, body, "hide-and-new", "finetune.yaml", "", 2000).action == "unchanged"
    assert plan(same, body, "off", "finetune.yaml", "", 2000).action == "off"
    # A hidden newer report still marks this run as stale; a hidden identical one is reposted.
    assert plan([existing("x", time=3000, minimized=True)], body, "new", "finetune.yaml", "", 2000).action == "skipped-stale"
    assert plan([existing("report", minimized=True)], body, "update", "finetune.yaml", "", 2000).action == "create"


# -- against the stand-in ---------------------------------------------------------------


def test_update_creates_then_edits_in_place(github: GitHubStandIn, client: GitHubClient) -> None:
    first = post(client, "estimate: $1.00", sha=OLD_SHA, time=1000)
    assert first.action == "created"
    second = post(client, "estimate: $2.00", sha=NEW_SHA, time=2000)
    assert second.action == "updated"
    assert second.url == first.url
    [comment] = github.comments(REPO, PR)
    assert "estimate: $2.00" in comment["body"]
    assert valid_at(comment["body"]) == (NEW_SHA, 2000)


def test_unchanged_report_sends_no_write(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "estimate: $1.00", sha=OLD_SHA, time=1000)
    result = post(client, "estimate: $1.00", sha=NEW_SHA, time=2000)
    assert result.action == "unchanged"
    assert github.sent("PATCH") == []
    assert len(github.sent("POST")) == 1


def test_a_late_run_for_an_older_head_does_not_overwrite(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "report for the new head", sha=NEW_SHA, time=2000)
    result = post(client, "report for the old head", sha=OLD_SHA, time=1000)
    assert result.action == "skipped-stale"
    assert "report for the new head" in github.comments(REPO, PR)[0]["body"]
    assert github.sent("PATCH") == []


def test_new_adds_a_comment_each_time(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "one", behavior="new", time=1000)
    post(client, "two", behavior="new", time=2000)
    assert len(github.comments(REPO, PR)) == 2


def test_hide_and_new(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "one", behavior="hide-and-new", time=1000)
    result = post(client, "two", behavior="hide-and-new", time=2000)
    assert (result.action, result.hidden) == ("created", 1)
    old, new = github.comments(REPO, PR)
    assert old["minimized"] == {"reason": "outdated"}
    assert new["minimized"] is None and result.url == new["html_url"]
    # Already hidden comments are not hidden again.
    assert post(client, "three", behavior="hide-and-new", time=3000).hidden == 1
    assert len(github.graphql_queries) == 2


def test_delete_and_new(github: GitHubStandIn, client: GitHubClient) -> None:
    github.add_comment(REPO, PR, "a person's review")
    post(client, "one", behavior="delete-and-new", time=1000)
    result = post(client, "two", behavior="delete-and-new", time=2000)
    assert (result.action, result.deleted) == ("created", 1)
    bodies = [c["body"] for c in github.comments(REPO, PR)]
    assert bodies[0] == "a person's review"
    assert len(bodies) == 2 and "two" in bodies[1]


def test_tags_keep_reports_apart(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "prod report", tag="prod")
    post(client, "staging report", tag="staging")
    post(client, "prod report v2", tag="prod")
    bodies = [c["body"] for c in github.comments(REPO, PR)]
    assert len(bodies) == 2
    assert "prod report v2" in bodies[0] and "staging report" in bodies[1]


def test_off_does_not_call_github(github: GitHubStandIn, client: GitHubClient) -> None:
    assert post(client, "x", behavior="off") == comments.CommentResult("off", None)
    assert github.requests == []


def test_fork_token_gets_a_clear_refusal(github: GitHubStandIn, fork_client: GitHubClient) -> None:
    with pytest.raises(GitHubError, match="pull-requests: write") as caught:
        post(fork_client, "report")
    assert caught.value.status == 403
