"""Where finetune-action writes files in a user's work tree: under finetune-output/, which git ignores.

The directory carries its own `.gitignore` (`*`, as virtualenv and pytest do for theirs), so
records and reports never show as untracked files and no line is needed in the project's
.gitignore.
"""
from __future__ import annotations

from pathlib import Path

OUTPUT_DIR = "finetune-output"
REPORT = f"{OUTPUT_DIR}/finetune-report.json"  # the default `report-path`


def prepare(path: Path) -> None:
    """Create the directory for `path`; when it lies under a finetune-output/, make git ignore that directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for output in path.resolve().parents:
        if output.name != OUTPUT_DIR:
            continue
        ignore = output / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# written by finetune-action: records and reports, not sources\n*\n", "utf-8")
