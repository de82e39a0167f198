"""The sticky report comment: one per config and tag, only for the PR's head, never re-sent unchanged."""
from __future__ import annotations

import itertools

import pytest

from finetune_action.errors import GitHubError
from finetune_action.github import comments
from finetune_action.github.api import Comment, GitHubClient
from finetune_action.github.comments import compose, marker, plan, post_sticky_comment, valid_at
from testing.github_standin import GitHubStandIn

REPO = "octo-org/octo-repo"
PR = 7
OLD_SHA, NEW_SHA = "1" * 40, "2" * 40


def post(client: GitHubClient, body: str, behavior: str = "update", tag: str = "", sha: str = NEW_SHA,
         config: str = "finetune.yaml", github: GitHubStandIn | None = None) -> comments.CommentResult:
    """A run for `sha`; with `github`, the PR is first pushed to `sha` (the run is for its head)."""
    if github is not None:
        github.push(REPO, PR, sha)
    return post_sticky_comment(client, REPO, PR, config, body, behavior, tag, sha)


# -- pure parts -------------------------------------------------------------------------


def test_markers_tell_configs_and_tags_apart() -> None:
    plain, tagged = marker("finetune.yaml"), marker("finetune.yaml", "staging")
    assert plain == "<!-- finetune-action: finetune.yaml -->"
    assert tagged == "<!-- finetune-action: finetune.yaml tag=staging -->"
    assert plain not in tagged and tagged not in plain
    assert "-->" not in marker("evil --> <b>x</b>.yaml")[:-3]


def test_valid_at_round_trips() -> None:
    assert valid_at(compose("report", "finetune.yaml", "", NEW_SHA)) == NEW_SHA
    assert valid_at("report") is None
    # Comments written before the head check also recorded the commit time.
    assert valid_at(f"<!-- finetune-action valid-at: sha={OLD_SHA} time=1717171717 -->\nreport") == OLD_SHA


def test_long_reports_are_cut_in_the_middle_with_markers_kept() -> None:
    report = "HEAD" + "x" * 100_000 + "TAIL"
    body = compose(report, "finetune.yaml", "", NEW_SHA)
    assert len(body) <= comments.BODY_LIMIT
    assert body.startswith(marker("finetune.yaml"))
    assert "HEAD" in body and body.endswith("TAIL")
    assert "characters cut from the middle" in body


def existing(body: str, config: str = "finetune.yaml", tag: str = "", minimized: bool = False, comment_id: int = 1) -> Comment:
    return Comment(comment_id, f"IC_{comment_id}", compose(body, config, tag, OLD_SHA), f"https://github.com/x/y/pull/7#issuecomment-{comment_id}", minimized)


@pytest.mark.parametrize(
    "behavior, expected",
    [("update", "update"), ("new", "create"), ("hide-and-new", "create"), ("delete-and-new", "create")],
)
def test_plan_per_behavior(behavior: str, expected: str) -> None:
    old = [existing("old report", comment_id=1), existing("older", comment_id=2, minimized=True)]
    decided = plan(old, compose("new report", "finetune.yaml", "", NEW_SHA), behavior, "finetune.yaml", "")
    assert decided.action == expected
    assert [c.id for c in decided.hide] == ([1] if behavior == "hide-and-new" else [])
    assert [c.id for c in decided.delete] == ([1, 2] if behavior == "delete-and-new" else [])


def test_plan_ignores_other_configs_and_tags() -> None:
    others = [existing("a", config="other.yaml"), existing("b", tag="staging"), Comment(9, "IC_9", "LGTM", "", False)]
    decided = plan(others, compose("new", "finetune.yaml", "", NEW_SHA), "update", "finetune.yaml", "")
    assert decided == comments.Plan("create", None, [], [])


def test_plan_unchanged_and_off() -> None:
    body = compose("report", "finetune.yaml", "", NEW_SHA)
    # The same report written for another head is unchanged: the marker alone is not news.
    assert plan([existing("report")], body, "update", "finetune.yaml", "").action == "unchanged"
    assert plan([existing("report")], body, "hide-and-new", "finetune.yaml", "").action == "unchanged"
    assert plan([existing("report")], body, "off", "finetune.yaml", "").action == "off"
    # A hidden identical report is posted again.
    assert plan([existing("report", minimized=True)], body, "update", "finetune.yaml", "").action == "create"


# -- against the stand-in ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def pr_at_new_head(github: GitHubStandIn) -> None:
    """Runs are for NEW_SHA, the PR's head, unless a test says otherwise."""
    github.push(REPO, PR, NEW_SHA)


def test_update_creates_then_edits_in_place(github: GitHubStandIn, client: GitHubClient) -> None:
    first = post(client, "estimate: $1.00", sha=OLD_SHA, github=github)
    assert first.action == "created"
    second = post(client, "estimate: $2.00", sha=NEW_SHA, github=github)
    assert second.action == "updated"
    assert second.url == first.url
    [comment] = github.comments(REPO, PR)
    assert "estimate: $2.00" in comment["body"]
    assert valid_at(comment["body"]) == NEW_SHA


def test_unchanged_report_sends_no_write(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "estimate: $1.00", sha=OLD_SHA, github=github)
    result = post(client, "estimate: $1.00", sha=NEW_SHA, github=github)
    assert result.action == "unchanged"
    assert github.sent("PATCH") == []
    assert len(github.sent("POST")) == 1
    # Nothing to write, so the pull request's head is not even asked for.
    assert len(github.sent("GET", "pulls/get")) == 1


def test_the_head_is_read_just_before_each_write(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "one", sha=OLD_SHA, github=github)
    post(client, "two", sha=NEW_SHA, github=github)
    operations = [r.operation_id for r in github.requests]
    assert operations == ["issues/list-comments", "pulls/get", "issues/create-comment",
                          "issues/list-comments", "pulls/get", "issues/update-comment"]


def test_a_late_run_for_a_head_the_pr_left_writes_nothing(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "report for the new head", sha=NEW_SHA, github=github)
    result = post(client, "report for the old head", sha=OLD_SHA)  # the PR is still at NEW_SHA
    assert result.action == "skipped-stale"
    assert result.url == github.comments(REPO, PR)[0]["html_url"]
    assert result.note == (f"pull request #{PR} is now at 2222222 and this report is for 1111111, a commit it has left, "
                           "so nothing was written; the comment (for 2222222) is unchanged")
    assert "report for the new head" in github.comments(REPO, PR)[0]["body"]
    assert github.sent("PATCH") == []


def test_a_late_run_before_any_report_writes_nothing(github: GitHubStandIn, client: GitHubClient) -> None:
    result = post(client, "report for the old head", sha=OLD_SHA, behavior="new")
    assert (result.action, result.url) == ("skipped-stale", None)
    assert result.note.endswith("there is no report comment yet, the run for 2222222 writes it")
    assert github.comments(REPO, PR) == []


@pytest.mark.parametrize("status", [403, 404, 500])
def test_when_github_cannot_say_the_head_nothing_is_written(github: GitHubStandIn, client: GitHubClient, status: int) -> None:
    post(client, "report", sha=NEW_SHA, github=github)
    github.fail("pulls/get", status, times=client.attempts)
    with pytest.raises(GitHubError, match="Nothing was written: only a run for the pull request's current head") as caught:
        post(client, "a newer report", sha=NEW_SHA)
    assert caught.value.status == status
    assert "a newer report" not in github.comments(REPO, PR)[0]["body"]
    assert github.sent("PATCH") == []


def test_new_adds_a_comment_each_time(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "one", behavior="new")
    post(client, "two", behavior="new")
    assert len(github.comments(REPO, PR)) == 2


def test_hide_and_new(github: GitHubStandIn, client: GitHubClient) -> None:
    post(client, "one", behavior="hide-and-new")
    result = post(client, "two", behavior="hide-and-new")
    assert (result.action, result.hidden) == ("created", 1)
    old, new = github.comments(REPO, PR)
    assert old["minimized"] == {"reason": "outdated"}
    assert new["minimized"] is None and result.url == new["html_url"]
    # Already hidden comments are not hidden again.
    assert post(client, "three", behavior="hide-and-new").hidden == 1
    assert len(github.graphql_queries) == 2


def test_delete_and_new(github: GitHubStandIn, client: GitHubClient) -> None:
    github.add_comment(REPO, PR, "a person's review")
    post(client, "one", behavior="delete-and-new")
    result = post(client, "two", behavior="delete-and-new")
    assert (result.action, result.deleted) == ("created", 1)
    bodies = [c["body"] for c in github.comments(REPO, PR)]
    assert bodies[0] == "a person's review"
    assert len(bodies) == 2 and "two" in bodies[1]


@pytest.mark.parametrize("behavior", ["update", "delete-and-new", "hide-and-new"])
def test_a_comment_by_someone_without_write_access_is_never_taken_for_ours(github: GitHubStandIn, client: GitHubClient, behavior: str) -> None:
    # The marker is text anyone can write: an outsider quoting it had their comment replaced by
    # the report (update) or deleted (delete-and-new).
    quoted = f"the bot is wrong, look at its marker `{marker('finetune.yaml')}`"
    theirs = github.add_comment(REPO, PR, quoted, login="mallory", association="CONTRIBUTOR")
    result = post(client, "report", behavior=behavior, github=github)
    assert result.action == "created" and not result.deleted
    [kept, report] = github.comments(REPO, PR)
    assert (kept["id"], kept["body"], kept.get("minimized")) == (theirs, quoted, None) and "report" in report["body"]
    # A report posted with a writer's own token (a member's PAT) is still theirs to update.
    member = github.add_comment(REPO, PR, compose("old", "finetune.yaml", "", OLD_SHA), login="octocat", association="MEMBER")
    assert comments.plan([answers_comment(github, member)], compose("new", "finetune.yaml", "", NEW_SHA), "update", "finetune.yaml", "").action == "update"


def answers_comment(github: GitHubStandIn, comment_id: int) -> Comment:
    from finetune_action.github import answers

    [found] = [c for c in github.comments(REPO, PR) if c["id"] == comment_id]
    return answers.comment(found)


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


def test_no_order_of_finishing_runs_leaves_a_head_the_pr_left(github: GitHubStandIn, client: GitHubClient) -> None:
    """Pushes h1, h2, a force-push back to h1, then h3; each push starts a run that finishes any time after it."""
    heads = ["1" * 40, "2" * 40, "1" * 40, "3" * 40]
    steps = [("push", i) for i in range(len(heads))] + [("finish", i) for i in range(len(heads))]
    orders = [
        order for order in itertools.permutations(steps)
        # pushes happen in order, and a run cannot finish before the push that started it
        if [i for kind, i in order if kind == "push"] == list(range(len(heads)))
        and all(order.index(("finish", i)) > order.index(("push", i)) for i in range(len(heads)))
    ]
    assert len(orders) == 105
    for number, order in enumerate(orders, start=100):
        github.add_pull(REPO, number, head_sha=heads[0])
        finished: set[int] = set()
        for kind, i in order:
            if kind == "push":
                github.push(REPO, number, heads[i])
                pushed = i
                continue
            post_sticky_comment(client, REPO, number, "finetune.yaml", f"report for {heads[i]}", "update", "", heads[i])
            finished.add(i)
            shown = [valid_at(c["body"]) for c in github.comments(REPO, number)]
            assert len(shown) <= 1
            # Once the run for the latest push is done, the comment is for the PR's head.
            if pushed in finished:
                assert shown == [heads[pushed]], order
