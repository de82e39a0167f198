"""Talking to the GitHub Actions runner: inputs, outputs, job summary and workflow commands.

No HTTP here. Workflow commands go to a stream (stdout by default), escaped the way the
runner unescapes them, so data can never end a command early or start a new one.
"""
from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

from finetune_action.errors import EnvironmentProblem
from finetune_action.redact import mask, redact

#: GitHub drops a step summary larger than this.
SUMMARY_LIMIT = 1024 * 1024

#: GitHub shows about this many annotations of each level per step.
ANNOTATIONS_PER_LEVEL = 10


def get_input(env: Mapping[str, str], name: str) -> str:
    """The action input `name` as the runner passes it (INPUT_<NAME>, hyphens kept), stripped."""
    return env.get("INPUT_" + name.replace(" ", "_").upper(), "").strip()


def workspace_path(path: Path, workspace: Path) -> str:
    """`path` as a later step can use it: relative to the workspace, which the host and a
    container action mount at different places (/github/workspace inside the container)."""
    try:
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        return str(path)


def _runner_file(path: str | Path, variable: str, exc: OSError) -> EnvironmentProblem:
    reason = exc.strerror or type(exc).__name__
    return EnvironmentProblem(
        f"{variable} is {path}, which cannot be written ({reason}). The runner sets it to a file it created; "
        f"do not override {variable} in the workflow, or point it at a writable file."
    )


def check_runner_file(path: str | Path, variable: str) -> None:
    """Fail early, with an environment error, when a runner file (GITHUB_OUTPUT, ...) cannot be appended to."""
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise _runner_file(path, variable, exc) from None


def set_output(output_path: str | Path, name: str, value: str) -> None:
    """Append a step output to $GITHUB_OUTPUT; any value, multi-line included, round-trips (secrets redacted)."""
    value = redact(value)
    while True:
        # A delimiter the value contains would end it early, so pick another.
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value and delimiter not in name:
            break
    try:
        with open(output_path, "a", encoding="utf-8", newline="\n") as f:
            f.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    except OSError as exc:
        raise _runner_file(output_path, "GITHUB_OUTPUT", exc) from None


def summary_room(summary_path: str | Path) -> int:
    """The bytes $GITHUB_STEP_SUMMARY can still take before GitHub's 1 MiB (less room for the cut note)."""
    path = Path(summary_path)
    try:
        used = path.stat().st_size if path.is_file() else 0
    except OSError as exc:
        raise _runner_file(path, "GITHUB_STEP_SUMMARY", exc) from None
    return max(SUMMARY_LIMIT - used - 1024, 0)


def append_summary(summary_path: str | Path, markdown: str) -> bool:
    """Append markdown to $GITHUB_STEP_SUMMARY, cut to stay under 1 MiB; True if it was cut (secrets redacted)."""
    markdown = redact(markdown)
    path = Path(summary_path)
    try:
        used = path.stat().st_size if path.is_file() else 0
    except OSError as exc:
        raise _runner_file(path, "GITHUB_STEP_SUMMARY", exc) from None
    data = (markdown if markdown.endswith("\n") else markdown + "\n").encode("utf-8")
    cut = used + len(data) > SUMMARY_LIMIT
    if cut:
        note = "\n\n> **Summary truncated:** GitHub keeps at most 1 MiB per step. The JSON report has everything.\n".encode()
        room = max(SUMMARY_LIMIT - used - len(note), 0)
        data = data[:room].decode("utf-8", errors="ignore").encode("utf-8") + note
        if used + len(data) > SUMMARY_LIMIT:
            return True  # not even the note fits
    try:
        with open(path, "ab") as f:
            f.write(data)
    except OSError as exc:
        raise _runner_file(path, "GITHUB_STEP_SUMMARY", exc) from None
    return cut


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command property value (file=, title=, ...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", properties: Mapping[str, object] | None = None, stream: TextIO | None = None) -> None:
    """Write `::name key=value,...::message`, skipping properties that are None."""
    given = {key: value for key, value in (properties or {}).items() if value is not None}
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in given.items())
    (stream or sys.stdout).write(f"::{name}{' ' + props if props else ''}::{escape_data(message)}\n")


def error(
    message: str, file: str | None = None, line: int | None = None, col: int | None = None,
    title: str | None = None, stream: TextIO | None = None,
) -> None:
    """An error annotation, on file:line:col when given."""
    command("error", message, {"file": file, "line": line, "col": col, "title": title}, stream)


def warning(
    message: str, file: str | None = None, line: int | None = None, col: int | None = None,
    title: str | None = None, stream: TextIO | None = None,
) -> None:
    """A warning annotation, on file:line:col when given."""
    command("warning", message, {"file": file, "line": line, "col": col, "title": title}, stream)


def notice(
    message: str, file: str | None = None, line: int | None = None, col: int | None = None,
    title: str | None = None, stream: TextIO | None = None,
) -> None:
    """A notice annotation, on file:line:col when given."""
    command("notice", message, {"file": file, "line": line, "col": col, "title": title}, stream)


def add_mask(secret: str, stream: TextIO | None = None) -> None:
    """Ask the runner to hide `secret` in every later log line, and redact it from our own output."""
    if secret:
        mask(secret)
        # The one line that must name the secret: past the redacting stream, if there is one.
        target = stream or sys.stdout
        command("add-mask", secret, stream=getattr(target, "unredacted", target))


@contextlib.contextmanager
def group(title: str, stream: TextIO | None = None) -> Iterator[None]:
    """Fold the log lines written inside into one expandable group."""
    command("group", title, stream=stream)
    try:
        yield
    finally:
        command("endgroup", stream=stream)


@contextlib.contextmanager
def stop_commands(stream: TextIO | None = None) -> Iterator[None]:
    """Echo untrusted text inside: the runner ignores workflow commands in it until we resume."""
    # Unguessable, so the text cannot contain the line that turns commands back on.
    token = secrets.token_hex(16)
    command("stop-commands", token, stream=stream)
    try:
        yield
    finally:
        (stream or sys.stdout).write(f"::{token}::\n")


class AnnotationBudget:
    """Annotations up to the per-level limit GitHub shows; the rest only counted."""

    def __init__(self, limit: int = ANNOTATIONS_PER_LEVEL, stream: TextIO | None = None) -> None:
        self.limit = limit
        self.stream = stream
        self.written: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    def annotate(
        self, level: str, message: str, file: str | None = None, line: int | None = None,
        col: int | None = None, title: str | None = None,
    ) -> bool:
        """Write an annotation ("error", "warning", "notice") unless the level is full; True if written."""
        if self.written.get(level, 0) >= self.limit:
            self.dropped[level] = self.dropped.get(level, 0) + 1
            return False
        self.written[level] = self.written.get(level, 0) + 1
        command(level, message, {"file": file, "line": line, "col": col, "title": title}, self.stream)
        return True

    def count_unkept(self, level: str, count: int) -> None:
        """Problems counted but never kept in the report: not annotated, but said in close()."""
        if count > 0:
            self.dropped[level] = self.dropped.get(level, 0) + count

    def close(self) -> None:
        """Say, once per level, how many annotations were left out."""
        for level, count in self.dropped.items():
            noun = level if count == 1 else level + "s"
            (self.stream or sys.stdout).write(f"{count} more {noun} not annotated, see the job summary\n")
        self.dropped.clear()
