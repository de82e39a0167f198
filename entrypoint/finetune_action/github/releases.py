"""A release per trained model: created or updated by tag, its assets replaced by name."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from finetune_action.errors import GitHubError
from finetune_action.github import api


class Asset(NamedTuple):
    """A file to attach to a release."""

    name: str
    content: bytes
    content_type: str = "application/json"


class ReleaseResult(NamedTuple):
    url: str  # the release page (html_url)
    created: bool  # False when a release for the tag already existed


def publish_release(
    client: api.GitHubClient,
    repo: str,
    tag: str,
    name: str,
    notes: str,
    assets: Iterable[Asset],
    target_commitish: str | None = None,
) -> ReleaseResult:
    """Create the release for `tag`, or bring an existing one's name and notes up to date, then attach `assets`."""
    release = api.get_release_by_tag(client, repo, tag)
    created = release is None
    if release is None:
        fields = {"tag_name": tag, "name": name, "body": notes}
        if target_commitish:
            fields["target_commitish"] = target_commitish
        try:
            release = api.create_release(client, repo, fields)
        except GitHubError as exc:
            # A concurrent run, or a retried request that had landed, made it first.
            release = api.get_release_by_tag(client, repo, tag) if exc.status == 422 else None
            if release is None:
                raise
            created = False
    if not created and (release.get("name"), release.get("body") or "") != (name, notes):
        release = api.update_release(client, repo, release["id"], {"name": name, "body": notes})
    for asset in assets:
        _replace_asset(client, repo, release, asset)
    return ReleaseResult(release["html_url"], created)


def _replace_asset(client: api.GitHubClient, repo: str, release: dict, asset: Asset) -> None:
    """Upload `asset`, deleting a same-named one first (GitHub refuses duplicates with 422)."""
    for attempt in (1, 2):
        for existing in api.list_release_assets(client, repo, release["id"]):
            if existing["name"] == asset.name:
                api.delete_release_asset(client, repo, existing["id"])
        try:
            api.upload_release_asset(client, release, asset.name, asset.content, asset.content_type)
            return
        except GitHubError as exc:
            # A retried upload whose first try landed after all meets its own copy: replace it once.
            if exc.status != 422 or attempt == 2:
                raise


def previous_record(client: api.GitHubClient, repo: str, name: str, current_tag: str, scanned: int = 100) -> tuple[str, dict] | None:
    """(tag, model.json) of the newest release of config `name` whose model passed its eval gate.

    Read from the release's own asset, never a branch; a model that did not pass never becomes
    the baseline. Only the newest `scanned` releases are read.
    """
    for index, release in enumerate(api.list_releases(client, repo)):
        if index >= scanned:
            break
        if release.get("draft") or release.get("tag_name") == current_tag:
            continue
        asset = next((a for a in release.get("assets", []) if a.get("name") == "model.json"), None)
        if asset is None:
            continue
        try:
            record = json.loads(api.download_release_asset(client, repo, asset["id"]))
        except ValueError:
            continue
        gate = ((record.get("eval") or {}).get("gate") or {}) if isinstance(record, dict) else {}
        if record.get("name") == name and gate.get("passed") is True:
            return release["tag_name"], record
    return None
