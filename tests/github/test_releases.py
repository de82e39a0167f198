"""The model release: created or updated by tag, model.json replaced rather than duplicated."""
from __future__ import annotations

import pytest

from finetune_action.errors import GitHubError
from finetune_action.github.api import GitHubClient
from finetune_action.github.releases import Asset, ReleaseResult, publish_release
from testing.github_standin import GitHubStandIn

REPO = "octo-org/octo-repo"
TAG = "finetune/support-bot/v3"


def model_json(model: str) -> Asset:
    return Asset("model.json", f'{{"fine_tuned_model": "{model}"}}\n'.encode())


def test_creates_the_release_with_its_asset(github: GitHubStandIn, client: GitHubClient) -> None:
    result = publish_release(client, REPO, TAG, "support-bot v3", "notes", [model_json("ft:a")], target_commitish="2" * 40)
    [release] = github.releases(REPO)
    assert result == ReleaseResult(release["html_url"], created=True)
    assert release["target_commitish"] == "2" * 40
    assert github.asset_bytes(REPO, TAG, "model.json") == b'{"fine_tuned_model": "ft:a"}\n'
    upload = github.sent("POST", "repos/upload-release-asset")[0]
    assert upload.query == {"name": "model.json"}
    assert upload.headers["content-type"] == "application/json"


def test_rerun_updates_notes_and_replaces_the_asset(github: GitHubStandIn, client: GitHubClient) -> None:
    publish_release(client, REPO, TAG, "support-bot v3", "first notes", [model_json("ft:a"), Asset("metrics.csv", b"step\n")])
    result = publish_release(client, REPO, TAG, "support-bot v3", "second notes", [model_json("ft:b")])
    assert result.created is False
    [release] = github.releases(REPO)
    assert release["body"] == "second notes"
    assert sorted(a["name"] for a in release["assets"]) == ["metrics.csv", "model.json"]
    assert github.asset_bytes(REPO, TAG, "model.json") == b'{"fine_tuned_model": "ft:b"}\n'
    assert len(github.sent("DELETE", "repos/delete-release-asset")) == 1


def test_same_notes_send_no_update(github: GitHubStandIn, client: GitHubClient) -> None:
    publish_release(client, REPO, TAG, "v3", "notes", [])
    publish_release(client, REPO, TAG, "v3", "notes", [])
    assert github.sent("PATCH") == []


def test_writes_that_landed_before_a_retry_are_not_duplicated(github: GitHubStandIn, client: GitHubClient) -> None:
    # GitHub did the work but the answer was lost (502); the retry meets what the first try made.
    github.fail("repos/create-release", "lost-response")
    github.fail("repos/upload-release-asset", "lost-response")
    result = publish_release(client, REPO, TAG, "v3", "notes", [model_json("ft:c")])
    assert result.created is False
    [release] = github.releases(REPO)
    assert [a["name"] for a in release["assets"]] == ["model.json"]
    assert github.asset_bytes(REPO, TAG, "model.json") == b'{"fine_tuned_model": "ft:c"}\n'


def test_read_only_token_cannot_publish(github: GitHubStandIn, fork_client: GitHubClient) -> None:
    with pytest.raises(GitHubError, match="`contents: write`"):
        publish_release(fork_client, REPO, TAG, "v3", "notes", [model_json("ft:a")])
