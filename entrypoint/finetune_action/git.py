"""The only module that runs git: find the PR's base commit and read its files without a checkout."""
from __future__ import annotations

import glob
import shutil
import subprocess
import tarfile
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import yaml

from finetune_action import config
from finetune_action.errors import GitError


class Base(NamedTuple):
    sha: str | None  # the commit to compare with; None when it cannot be had
    note: str  # how it was found, or why there is none


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GitError(f"cannot run git ({exc.strerror}). Install git (the action image has it).") from None
    if check and out.returncode != 0:
        message = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        raise GitError(f"git {args[0]} failed in {repo}: {message}")
    return out


def has_commit(repo: Path, sha: str) -> bool:
    """True when `sha` names a commit present in the local object store."""
    return _git(repo, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def head_sha(repo: Path) -> str:
    """The commit checked out in `repo`."""
    return _git(repo, "rev-parse", "HEAD").stdout.strip()


def _fetch(repo: Path, *refs: str, deepen: int | None = None) -> bool:
    args = ["fetch", "--no-tags", "--quiet", "origin"]
    if deepen:
        args.insert(1, f"--deepen={deepen}")
    return _git(repo, *args, *refs, check=False).returncode == 0


def pull_request_base(repo: Path, base_sha: str, head: str) -> Base:
    """The merge base of the PR's base commit and `head`, fetching history when the clone is shallow."""
    if _git(repo, "rev-parse", "--git-dir", check=False).returncode != 0:
        return Base(None, f"{repo} is not a git repository; check it out with actions/checkout (fetch-depth: 0) to compare with the base branch")
    missing = [sha for sha in (base_sha, head) if not has_commit(repo, sha)]
    if missing and not _fetch(repo, *missing):
        if not has_commit(repo, base_sha):
            return Base(None, f"the base commit {base_sha[:7]} is not in this clone and `git fetch origin` could not get it; "
                              "use actions/checkout with fetch-depth: 0 to compare with the base branch")
    if not has_commit(repo, head):
        return Base(base_sha, f"compared with the base branch tip {base_sha[:7]} (head {head[:7]} not in this clone)")
    for _ in range(6):
        out = _git(repo, "merge-base", base_sha, head, check=False)
        if out.returncode == 0:
            merge_base = out.stdout.strip()
            return Base(merge_base, f"merge base {merge_base[:7]} of the base branch and the head")
        # A shallow clone may just lack the common ancestor: deepen and try again.
        if not _fetch(repo, base_sha, head, deepen=50):
            break
    return Base(base_sha, f"no merge base found in this clone; compared with the base branch tip {base_sha[:7]}")


def _data_prefixes(config_text: str, config_dir: PurePosixPath) -> list[str]:
    """Directories or files a config's data patterns can touch, relative to the repository root."""
    if len(config_text) > config.MAX_CONFIG_BYTES:
        return []  # the loader refuses it with a clear message; nothing to export
    try:
        document = config.parse_yaml(config_text)[0]  # bounded like the head's: the base is untrusted too
    except (yaml.YAMLError, RecursionError):
        return []
    data = document.get("data") if isinstance(document, dict) else None
    if isinstance(data, (str, list)):
        data = {"train": data}
    if not isinstance(data, dict):
        return []
    prefixes = []
    for key in ("train", "validation"):
        patterns = data.get(key)
        for pattern in patterns if isinstance(patterns, list) else [patterns]:
            if not isinstance(pattern, str) or PurePosixPath(pattern).is_absolute():
                continue
            fixed = []
            for part in PurePosixPath(pattern).parts:
                if glob.has_magic(part):
                    break
                fixed.append(part)
            prefix = _normalise(config_dir.joinpath(*fixed)) if fixed else _normalise(config_dir)
            if prefix is not None:
                prefixes.append(prefix)
    return prefixes


def _normalise(path: PurePosixPath) -> str | None:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None  # outside the repository: the loader will say so
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts) or "."


def export_config(repo: Path, sha: str, config_path: str, dest: Path) -> Path | None:
    """Write the config at `sha` and the data it points at into `dest`; None if the config is absent there.

    Only the paths the config can reach are read from git, so a large repository is not copied.
    """
    shown = _git(repo, "show", f"{sha}:{config_path}", check=False)
    if shown.returncode != 0:
        return None
    config_dir = PurePosixPath(config_path).parent
    for prefix in sorted(set(_data_prefixes(shown.stdout, config_dir))):
        _archive(repo, sha, prefix, dest)
    target = dest / config_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(shown.stdout, "utf-8")
    return target


def _archive(repo: Path, sha: str, path: str, dest: Path) -> None:
    if _git(repo, "cat-file", "-e", f"{sha}:{path}" if path != "." else sha, check=False).returncode != 0:
        return
    args = ["git", "archive", "--format=tar", sha] + ([] if path == "." else ["--", path])
    process = subprocess.Popen(args, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    root = dest.resolve()
    with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
        # By hand rather than extractall(filter=...), which Debian's Python 3.11.2 lacks: only
        # plain files and folders, and nothing that would land outside `dest`.
        for member in archive:
            target = (root / member.name).resolve()
            if not (member.isfile() or member.isdir()) or root not in (target, *target.parents):
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
    if process.wait() != 0:
        raise GitError(f"git archive {sha[:7]} -- {path} failed in {repo}")


def list_files(repo: Path, sha: str) -> list[str]:
    """Every file path in the tree of `sha`, relative to the repository root."""
    out = _git(repo, "ls-tree", "-r", "--name-only", "-z", sha, check=False)
    return [p for p in out.stdout.split("\0") if p] if out.returncode == 0 else []
