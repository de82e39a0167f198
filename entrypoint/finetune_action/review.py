"""The pull-request review: each config checked on the head and on the base, compared, and
judged against its budget. The result is the review JSON ("the report file"), which is all
the comment, summary and outputs are rendered from.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from finetune_action import check as checking
from finetune_action import config as config_module
from finetune_action import git, lifecycle
from finetune_action.dataset import results, validate
from finetune_action.errors import ConfigError
from finetune_action.report import diff
from finetune_action.report import json as json_report

KIND = "finetune-action/review"
VERSION = 1

Log = Callable[[str], None]


class Side(NamedTuple):
    """One side (base or head) of one config: its report JSON, example hashes and budget."""

    report: dict[str, Any] | None
    hashes: dict[str, bytes]  # data file -> its examples' content hashes, in file order, joined
    budget: config_module.Budget | None
    error: str | None


def check_side(path: Path, root: Path, log: Log | None = None) -> Side:
    """Load and check the config at `path` (absent -> an empty side; invalid -> its error).

    A side whose config and data files are the same as those of a side checked before (in this
    run or the run that left the results cache: the base of a pull request is the head of the
    run on its base branch) is not checked again: its report and hashes come from the cache.
    """
    if not path.is_file():
        return Side(None, {}, None, None)
    display = path.relative_to(root).as_posix()
    try:
        loaded = config_module.load(path, root=root)
    except ConfigError as exc:
        return Side(json_report.invalid_config(display, exc), {}, None, str(exc))
    key = _side_key(path, display, loaded)
    known = _decode_side(results.recall(key)) if key is not None else None
    if known is not None:
        if log:
            log(f"{display}: its config and data are unchanged since a run the results cache remembers; its report is that run's")
        data, hashes = known
    else:
        report = checking.check_config(loaded, log=log)
        data = json_report.config_report(report)
        hashes = {f.path: f.example_hashes for f in report.files}
        if key is not None:
            data = json.loads(json.dumps(data, ensure_ascii=False))  # as it reads back: the same whether remembered or not
            results.remember(key, _encode_side(data, hashes))
    data["settings"] = loaded.normalised
    return Side(data, hashes, loaded.budget, None)


SIDE_FORMAT = 1
_SIDE_HEAD = struct.Struct("<III")  # format, report JSON bytes, data files
_SIDE_FILE = struct.Struct("<II")  # path bytes, hashes bytes


def _side_key(path: Path, display: str, loaded: config_module.Config) -> bytes | None:
    """The results cache's key for this side's report, or None when it is not to be remembered:
    no cache, an eval: section (its check reads files the key does not name), or a data file
    whose git blob is not known (a file the checkout changed, or one git does not track)."""
    if results.active() is None or loaded.eval is not None:
        return None
    digest = hashlib.sha256(b"config report\0" + results.report_fingerprint())
    digest.update(f"{lifecycle.today().isoformat()}\0{display}\0".encode() + path.read_bytes() + b"\0")
    for role, files in (("train", loaded.train), ("validation", loaded.validation)):
        for data in files:
            blob = results.blob_of(data.path)
            if blob is None:
                return None
            digest.update(f"{role}\0{data.display_path}\0{blob}\0".encode())
    return digest.digest()[: results.KEY_BYTES]


def _encode_side(data: dict[str, Any], hashes: dict[str, bytes]) -> list[bytes]:
    body = json.dumps(data, ensure_ascii=False).encode()
    parts = [_SIDE_HEAD.pack(SIDE_FORMAT, len(body), len(hashes)), body]
    for file, joined in hashes.items():
        name = file.encode()
        parts += [_SIDE_FILE.pack(len(name), len(joined)), name, joined]
    return parts


def _decode_side(record: bytes | None) -> tuple[dict[str, Any], dict[str, bytes]] | None:
    """What _encode_side stored, or None for anything else (the cache is untrusted input)."""
    if record is None:
        return None
    try:
        format, size, files = _SIDE_HEAD.unpack_from(record, 0)
        at = _SIDE_HEAD.size + size
        data = json.loads(record[_SIDE_HEAD.size : at].decode()) if format == SIDE_FORMAT and at <= len(record) else None
        hashes: dict[str, bytes] = {}
        for _file in range(files if isinstance(data, dict) else 0):
            name, length = _SIDE_FILE.unpack_from(record, at)
            at += _SIDE_FILE.size
            hashes[record[at : at + name].decode()] = record[at + name : at + name + length]
            at += name + length
    except (struct.error, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or at != len(record) or any(len(joined) % validate.HASH_BYTES for joined in hashes.values()) or len(hashes) != files:
        return None
    return data, hashes


_BLOCK = 16  # hashes compared at once: a pull request that edits every 100th example leaves 85% of the blocks alike


def differing(base: dict[str, bytes], head: dict[str, bytes]) -> tuple[dict[str, list[bytes]], dict[str, list[bytes]]]:
    """Both sides' hashes without the places where a file has the same example on both.

    diff.example_changes gives the same answer on what is left (such a pair adds one to both
    sides' counts and is no change), and a pull request that edits 1% of a big file hands it 1%
    of the hashes instead of two lists and two counters of a million entries.
    """
    size = validate.HASH_BYTES
    base_left: dict[str, list[bytes]] = {}
    head_left: dict[str, list[bytes]] = {}
    for path in [*head, *(path for path in base if path not in head)]:  # the head's order: example_changes pairs files in it
        old, new = base.get(path, b""), head.get(path, b"")
        common = min(len(old), len(new))
        kept_old: list[bytes] = []
        kept_new: list[bytes] = []
        if old[:common] != new[:common]:
            block = size * _BLOCK
            for at in range(0, common, block):
                if old[at : at + block] == new[at : at + block]:  # most blocks: one comparison in C
                    continue
                for i in range(at, min(at + block, common), size):
                    pair = old[i : i + size], new[i : i + size]
                    if pair[0] != pair[1]:
                        kept_old.append(pair[0])
                        kept_new.append(pair[1])
        kept_old += [old[i : i + size] for i in range(common, len(old), size)]
        kept_new += [new[i : i + size] for i in range(common, len(new), size)]
        if path in base:
            base_left[path] = kept_old
        if path in head:
            head_left[path] = kept_new
    return base_left, head_left


def _inside(path: Path, root: Path) -> str | None:
    """`path` relative to `root`, either as given or resolved (git's big files are exported to
    resolved paths, and a temporary directory can lie behind a symlink, as on macOS)."""
    for base in (root, root.resolve()):
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            continue
    return None


def config_paths(patterns: list[str], workspace: Path, base_sha: str | None) -> list[str]:
    """Configs to review: those matching on the head, plus those only the base still has (removed)."""
    found: list[str] = []
    base_files = git.list_files(workspace, base_sha) if base_sha else []
    for pattern in patterns:
        pattern = _in_workspace(pattern, workspace)
        head_matches = [p.relative_to(workspace).as_posix() for p in sorted(workspace.glob(pattern)) if p.is_file()]
        if not any(ch in pattern for ch in "*?["):
            head_matches = [pattern] if (workspace / pattern).is_file() else []
            base_matches = [pattern] if pattern in base_files else []
        else:
            base_matches = [f for f in base_files if fnmatch.fnmatchcase(f, pattern)]
        matches = sorted(set(head_matches) | set(base_matches))
        if not matches:
            raise ConfigError(f"{pattern}: no config file matches, on the head or the base. Check the `config` input.")
        found.extend(m for m in matches if m not in found)
    return found


def _in_workspace(pattern: str, workspace: Path) -> str:
    """A `config` pattern relative to the workspace: `${{ github.workspace }}/finetune.yaml` is
    taken as finetune.yaml (it was an unexpected NotImplementedError from Path.glob)."""
    if not PurePosixPath(pattern).is_absolute():
        return pattern
    for root in (workspace, workspace.resolve()):
        try:
            return PurePosixPath(pattern).relative_to(root.as_posix()).as_posix() or "."
        except ValueError:
            continue
    raise ConfigError(f"{pattern}: the `config` input names a path outside the workspace ({workspace}). Give configs relative to the repository root.")


def review_config(path: str, workspace: Path, base_sha: str | None, log: Log | None = None) -> dict[str, Any]:
    """The review entry for one config path (relative to the workspace)."""
    # A data file is known by its git blob: one the base shares with the head (or that an earlier
    # run's results cache holds) is not checked again, and a big one is not even written out whole.
    head_blob_of: dict[str, str] = {}
    if (workspace / path).is_file():
        head_blob_of = git.unchanged_blobs(workspace, (workspace / path).read_text("utf-8", "replace"), path)
        for data_path, blob in head_blob_of.items():
            results.register(workspace / data_path, blob)
    head_blobs = set(head_blob_of.values())
    with tempfile.TemporaryDirectory(prefix="finetune-base-") as tmp:
        base_root = Path(tmp)
        base = Side(None, {}, None, None)
        exported: list[git.Exported] = []
        prefetches: list[git.Prefetch] = []
        try:
            if base_sha and git.export_config(workspace, base_sha, path, base_root, exported):
                for file in exported:
                    write_whole = file.write_whole
                    if write_whole is not None and results.active() is not None and file.blob not in head_blobs and not results.blob_known(file.blob):
                        # It will be read whole (neither the head's check nor the cache will know its
                        # results): git writes it out in its own process while the head is checked.
                        prefetches.append(git.Prefetch(workspace, file.blob, file.path))
                        write_whole = prefetches[-1].written
                    # Each side's file is read in chunks of the other's, where it has them (results.Outline).
                    data_path = _inside(file.path, base_root)
                    head_blob = head_blob_of.get(data_path) if data_path else None
                    results.register(file.path, file.blob, write_whole, file.size, like=head_blob)
                    if head_blob is not None and head_blob != file.blob:
                        results.register(workspace / data_path, head_blob, like=file.blob)
            head = check_side(workspace / path, workspace, log)
            if (base_root / path).is_file():
                base = check_side(base_root / path, base_root, log)
        finally:
            for prefetch in prefetches:
                prefetch.stop()
            results.forget_sources()  # a big file's Scan, held for the other side, is not kept for the next config
    base_error = base.error
    base_report = None if base.error else base.report
    head_report = head.report
    if head_report is None and base_report is None and base_error is None:
        raise ConfigError(f"{path}: no such config file on the head or the base.")
    changes = diff.example_changes(*differing(base.hashes, head.hashes))
    budget = head.budget or config_module.Budget(None, None, None)
    comparable_head = None if head.error else head_report
    limits = budget._asdict()
    if not base_sha or base_error:
        # No base commit, or a base config that cannot be checked: an increase cannot be
        # measured, and nothing was "added" by this change (it is not a new config).
        limits = {**limits, "max_increase_usd": None, "max_increase_pct": None}
    return {
        "config": path,
        "name": (head_report or base_report or {}).get("name") or path,
        "head": head_report,
        "base": base_report,
        "base_error": base_error,
        # An invalid head has no figures: comparing it would report every example removed.
        "diff": diff.compare(base_report, head_report, changes) if base_sha and not head.error and not base_error and (base_report or head_report) else None,
        "budget": {
            "limits": {rule: limits.get(rule) for rule in config_module.BUDGET_KEYS},
            "unpriced": budget.unpriced,
            "violations": diff.budget_violations(limits, base_report, comparable_head) if comparable_head else [],
        },
    }


def build(
    patterns: list[str],
    workspace: Path,
    *,
    base: git.Base,
    repository: str = "",
    server_url: str = "https://github.com",
    head_sha: str = "",
    pull_request: dict[str, Any] | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """The whole review for every config matching `patterns`."""
    entries = [review_config(path, workspace, base.sha, log) for path in config_paths(patterns, workspace, base.sha)]
    return {
        "kind": KIND,
        "version": VERSION,
        "repository": repository,
        "server_url": server_url,
        "pull_request": pull_request,
        "head_sha": head_sha,
        "base": {"sha": base.sha, "note": base.note},
        "configs": entries,
    }


def config_invalid(entry: dict[str, Any]) -> bool:
    """True when the head config itself could not be loaded."""
    head = entry.get("head") or {}
    return any(p.get("code") == "config-invalid" for p in head.get("errors", []))


def failed(entry: dict[str, Any], fail_on_budget: bool) -> bool:
    """True when this config should fail the check: data errors, or a new budget violation."""
    head = entry.get("head")
    if head is None:
        return False
    if head.get("errors"):
        return True
    return fail_on_budget and any(v.get("new") for v in entry["budget"]["violations"])


def totals(review: dict[str, Any]) -> dict[str, str]:
    """Step outputs summed over the configs; a cost is empty when any price is unknown."""
    heads = [e["head"] for e in review["configs"] if e.get("head") and not config_invalid(e)]
    costs = [h.get("estimated_cost_usd") for h in heads]
    deltas = [(e.get("diff") or {}).get("delta", {}).get("estimated_cost_usd") for e in review["configs"]]
    return {
        "examples": str(sum(h.get("examples") or 0 for h in heads)),
        "billed-tokens": str(sum(h.get("billed_tokens") or 0 for h in heads)),
        "estimated-cost-usd": _usd_output(sum(costs)) if costs and None not in costs else "",
        "cost-delta-usd": _usd_output(sum(deltas)) if deltas and None not in deltas else "",
    }


def _usd_output(value: float) -> str:
    """Dollars for a step output: to the cent, or four places under a dollar as the comment shows
    them ($0.0336 was '0.03', and -$0.0006 '-0.00'); never a negative zero."""
    text = f"{value:.4f}" if 0 < abs(value) < 1 else f"{value:.2f}"
    return text.lstrip("-") if float(text) == 0 else text
