"""A release per trained model: created or updated by tag, its assets replaced by name."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from finetune_action.errors import GitHubError
from finetune_action.github import api
from finetune_action.redact import redact


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
    name, notes = redact(name), redact(notes)  # as GitHub will hold them (api.py redacts what it sends)
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
    if not created and (release.name, release.body) != (name, notes):
        release = api.update_release(client, repo, release.id, {"name": name, "body": notes})
    for asset in assets:
        _replace_asset(client, repo, release, asset)
    return ReleaseResult(release.html_url, created)


def _replace_asset(client: api.GitHubClient, repo: str, release: api.Release, asset: Asset) -> None:
    """Upload `asset`, deleting a same-named one first (GitHub refuses duplicates with 422)."""
    for attempt in (1, 2):
        for existing in api.list_release_assets(client, repo, release.id):
            if existing.name == asset.name:
                api.delete_release_asset(client, repo, existing.id)
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
    the baseline. Only the newest `scanned` releases are read. The asset is untrusted like any
    answer: a model.json that cannot be read is passed over, and only the fields the eval and
    the comment use are kept, each of the type it must have.
    """
    for index, release in enumerate(api.list_releases(client, repo)):
        if index >= scanned:
            break
        if release.draft or release.tag_name == current_tag:
            continue
        asset = next((a for a in release.assets if a.name == "model.json"), None)
        if asset is None:
            continue
        try:
            record = _baseline(json.loads(api.download_release_asset(client, repo, asset.id)), name)
        except ValueError:
            continue
        if record is not None:
            return release.tag_name, record
    return None


def _baseline(record: Any, name: str) -> dict[str, Any] | None:
    """The fields of a released model.json the eval gate and the comment read, or None when it is
    not a record of config `name` whose model passed its eval gate."""
    if not isinstance(record, dict) or record.get("name") != name:
        return None
    evaluated = record.get("eval")
    gate = evaluated.get("gate") if isinstance(evaluated, dict) else None
    if not isinstance(gate, dict) or gate.get("passed") is not True:
        return None
    passed = evaluated.get("passed")
    by_grader = {
        grader: [item for item in ids if isinstance(item, str)]
        for grader, ids in (passed.items() if isinstance(passed, dict) else ())
        if isinstance(grader, str) and isinstance(ids, list)
    }
    model, summary = record.get("fine_tuned_model"), evaluated.get("summary")
    return {
        "name": name,
        "fine_tuned_model": model if isinstance(model, str) else None,
        "eval": {"gate": {"passed": True}, "summary": summary if isinstance(summary, str) else None, "passed": by_grader},
    }
