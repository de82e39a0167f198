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

VERSION = 1


def key(request: dict[str, Any]) -> str:
    """sha256 of the request as canonical JSON."""
    text = json.dumps({"cache_version": VERSION, **request}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _path(directory: Path, digest: str) -> Path:
    return directory / digest[:2] / f"{digest}.json"


def get(directory: Path, digest: str) -> dict[str, Any] | None:
    """The cached answer, or None when absent or unreadable (a corrupt entry is asked again)."""
    try:
        value = json.loads(_path(directory, digest).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and value.get("key") == digest else None


def put(directory: Path, digest: str, value: dict[str, Any]) -> None:
    """Store an answer; a reader never sees half an entry."""
    path = _path(directory, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump({"key": digest, **value}, file, ensure_ascii=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
