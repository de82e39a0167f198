"""The response cache: every answer kept on disk under a key of what was asked, where and how.

A re-run, or a run resumed after a kill or the 6-hour limit, pays only for what is missing.
Keys cover the provider kind, base URL, model, messages, tools and generation settings (never
the API key). Entries are written atomically (a temporary file renamed into place); an entry
that cannot be read is treated as missing and asked again. Keep the directory between runs
with actions/cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from finetune_action.errors import EnvironmentProblem

VERSION = 1


def key(request: dict[str, Any]) -> str:
    """sha256 of the request as canonical JSON."""
    text = json.dumps({"cache_version": VERSION, **request}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _path(directory: Path, digest: str) -> Path:
    return directory / digest[:2] / f"{digest}.json"


def ready(directory: Path) -> None:
    """Make sure answers can be kept in `directory` before any is paid for: a cache path that is a
    file, or cannot be written, failed after the calls were made, and the rerun paid again."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=directory, prefix=".probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise EnvironmentProblem(
            f"eval.cache {directory} cannot keep the answers ({exc.strerror or exc.__class__.__name__}); nothing was asked. "
            "Point eval.cache at a directory this run can write (the default is .finetune-cache/eval)."
        ) from None


def get(directory: Path, digest: str) -> dict[str, Any] | None:
    """The cached answer, or None when absent or unreadable (a corrupt or foreign entry is asked again)."""
    try:
        value = json.loads(_path(directory, digest).read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) and value.get("key") == digest and _answer_shaped(value) else None


def _answer_shaped(value: dict[str, Any]) -> bool:
    """An entry as put writes it: text, tool calls as [name, arguments] pairs, token counts."""
    calls = value.get("tool_calls", [])
    return (
        isinstance(value.get("text", ""), str)
        and isinstance(calls, list)
        and all(isinstance(c, list) and len(c) == 2 and all(isinstance(part, str) for part in c) for c in calls)
        and all(isinstance(value.get(n, 0), int) and not isinstance(value.get(n, 0), bool) for n in ("prompt_tokens", "completion_tokens"))
    )


def put(directory: Path, digest: str, value: dict[str, Any]) -> None:
    """Store an answer; a reader never sees half an entry. An entry that cannot be written (its
    path taken by a directory) is left out: the answer is used all the same."""
    path = _path(directory, digest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump({"key": digest, **value}, file, ensure_ascii=False)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
