"""The only module that runs git: find the PR's base commit and read its files without a checkout."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
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
    """The commit checked out in `repo`; "" when there is none (not a repository, or no commit yet)."""
    out = _git(repo, "rev-parse", "HEAD", check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


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


#: Files at least this big are exported as a stand-in, their first STAND_IN_LINES lines (all that
#: the format detection reads), and written whole only when their results are not known already.
STAND_IN_MIN_BYTES = 8 << 20
STAND_IN_LINES = 1000


class Exported(NamedTuple):
    """A file export_config wrote, with its blob id and size.

    `write_whole` is set for a stand-in: it writes the file whole, yielding how many bytes are
    on disk after each write (a scan can start on the first ranges while git writes the rest).
    """

    path: Path
    blob: str
    write_whole: Callable[[], Iterator[int]] | None
    size: int = 0


def export_config(repo: Path, sha: str, config_path: str, dest: Path, exported: list[Exported] | None = None) -> Path | None:
    """Write the config at `sha` and the data it points at into `dest`; None if the config is absent there.

    Only the paths the config can reach are read from git, so a large repository is not copied.
    With `exported`, the files written are appended to it and big ones are only stand-ins.
    """
    # cat-file, not show: `show` reads a path it cannot find as a pathspec, and `x[z]/finetune.yaml`
    # (glob characters) absent on the base printed nothing with exit 0, an "empty" base config.
    shown = _git(repo, "cat-file", "blob", f"{sha}:{config_path}", check=False)
    if shown.returncode != 0:
        return None
    config_dir = PurePosixPath(config_path).parent
    for prefix in sorted(set(_data_prefixes(shown.stdout, config_dir))):
        big: list[tuple[str, str, int]] = []
        if exported is not None:
            for path, (blob, size) in tree_blobs(repo, sha, [prefix]).items():
                if size >= STAND_IN_MIN_BYTES:
                    big.append((path, blob, size))
                else:
                    exported.append(Exported(dest / path, blob, None, size))
        _archive(repo, sha, prefix, dest, exclude=[path for path, _blob, _size in big])
        for path, blob, size in big:
            target = _inside(dest, path)
            if target is not None:
                write_blob(repo, blob, target, STAND_IN_LINES)
                exported.append(Exported(target, blob, lambda blob=blob, target=target: stream_blob(repo, blob, target), size))  # type: ignore[union-attr]
    target = dest / config_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(shown.stdout, "utf-8")
    return target


def tree_blobs(repo: Path, sha: str, paths: list[str]) -> dict[str, tuple[str, int]]:
    """path -> (blob id, size) of the regular files under `paths` in the tree of `sha`."""
    out = _git(repo, "ls-tree", "-r", "-l", "-z", sha, "--", *paths, check=False)
    found = {}
    for entry in out.stdout.split("\0") if out.returncode == 0 else []:
        meta, _tab, path = entry.partition("\t")
        fields = meta.split()
        if len(fields) == 4 and fields[0] in ("100644", "100755") and fields[1] == "blob":
            found[path] = (fields[2], int(fields[3]))
    return found


def unchanged_blobs(repo: Path, config_text: str, config_path: str) -> dict[str, str]:
    """path -> blob id of the data files a config can reach whose checkout is HEAD's, byte for byte.

    A file git sees as touched since the checkout (by content or just its timestamps) is left out.
    """
    prefixes = sorted(set(_data_prefixes(config_text, PurePosixPath(config_path).parent)))
    if not prefixes:
        return {}
    tracked = tree_blobs(repo, "HEAD", prefixes)
    changed = _git(repo, "diff-index", "--name-only", "-z", "HEAD", "--", *prefixes, check=False)
    if changed.returncode != 0:
        return {}
    touched = set(changed.stdout.split("\0"))
    return {path: blob for path, (blob, _size) in tracked.items() if path not in touched}


#: How git reads a big blob here without holding it: by default it maps a pack in windows of
#: 1 GB whose pages stay resident (writing out a 1 GB data file took git to 290 MB), and reads a
#: blob under 512 MB whole into memory instead of streaming it. Small windows and streaming: 12 MB.
STREAMING = ("-c", "core.packedGitWindowSize=1m", "-c", "core.packedGitLimit=8m", "-c", "core.bigFileThreshold=1m")


def write_blob(repo: Path, blob: str, target: Path, max_lines: int | None = None) -> None:
    """Write git blob `blob` to `target`, or only its first `max_lines` lines."""
    if max_lines is None:
        for _written in stream_blob(repo, blob, target):
            pass
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(["git", *STREAMING, "cat-file", "blob", blob], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    with process.stdout as source, open(target, "wb") as out:
        for _number, line in zip(range(max_lines), source):
            out.write(line)
    process.wait()  # a stand-in stops reading early, on purpose: git's SIGPIPE is no failure


def stream_blob(repo: Path, blob: str, target: Path, chunk: int = 1 << 20) -> Iterator[int]:
    """Write git blob `blob` to `target` whole, yielding the bytes written (and flushed) after each chunk.

    Flushed bytes are in the page cache, readable by other processes while git writes the rest.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(["git", *STREAMING, "cat-file", "blob", blob], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    written, done = 0, False
    try:
        with process.stdout as source, open(target, "wb") as out:
            while data := source.read(chunk):
                out.write(data)
                out.flush()
                written += len(data)
                yield written
        done = True
    finally:
        if not done:  # the reader stopped early, or failed: git need not go on
            process.kill()
        code = process.wait()
    if code != 0:
        raise GitError(f"git cat-file blob {blob[:7]} failed in {repo}")


class Prefetch:
    """git writing a blob whole beside `target` from now on, in its own process, while this one
    does other work (the head's check): `written` is the stand-in's materialize."""

    def __init__(self, repo: Path, blob: str, target: Path) -> None:
        self.repo, self.blob, self.target = repo, blob, target
        self.part = target.with_name(target.name + ".whole")
        self.moved = False
        with open(self.part, "wb") as out:
            self.process = subprocess.Popen(["git", *STREAMING, "cat-file", "blob", blob], cwd=repo, stdout=out, stderr=subprocess.DEVNULL)

    def written(self) -> Iterator[int]:
        """Put the file in the stand-in's place (git goes on writing it) and yield its size as it grows."""
        if not self.moved:
            os.replace(self.part, self.target)
            self.moved = True
        last = -1
        while self.process.poll() is None:
            size = os.path.getsize(self.target)
            if size != last:
                yield size
                last = size
            time.sleep(0.005)
        if self.process.returncode != 0:
            raise GitError(f"git cat-file blob {self.blob[:7]} failed in {self.repo}")
        yield os.path.getsize(self.target)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _inside(root: Path, path: str) -> Path | None:
    target = (root.resolve() / path).resolve()
    return target if root.resolve() in target.parents else None


def _archive(repo: Path, sha: str, path: str, dest: Path, exclude: Sequence[str] = ()) -> None:
    if path in exclude or _git(repo, "cat-file", "-e", f"{sha}:{path}" if path != "." else sha, check=False).returncode != 0:
        return
    excluded = [f":(exclude,literal){name}" for name in exclude]
    args = ["git", *STREAMING, "archive", "--format=tar", sha] + (["--", ".", *excluded] if path == "." else ["--", f":(literal){path}", *excluded])
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


def untracked(repo: Path, paths: Sequence[Path]) -> list[Path]:
    """Those of `paths` git does not track in the work tree at `repo` (untracked or ignored);
    none when `repo` is not a git work tree or git cannot say."""
    if not paths or not (repo / ".git").exists():
        return []
    try:
        out = _git(repo, "ls-files", "-z", "--", *(f":(literal){p.resolve().relative_to(repo.resolve()).as_posix()}" for p in paths), check=False)
    except (GitError, ValueError):
        return []
    if out.returncode != 0:
        return []
    tracked = {(repo / name).resolve() for name in out.stdout.split("\0") if name}
    return [p for p in paths if p.resolve() not in tracked]


def list_files(repo: Path, sha: str) -> list[str]:
    """Every file path in the tree of `sha`, relative to the repository root."""
    out = _git(repo, "ls-tree", "-r", "--name-only", "-z", sha, check=False)
    return [p for p in out.stdout.split("\0") if p] if out.returncode == 0 else []
