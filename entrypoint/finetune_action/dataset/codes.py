"""Every problem `finetune check` can report: a stable code, its severity and what to do.

Codes are part of the JSON contract (docs/check-json.md): never rename one.
"""
from __future__ import annotations

from typing import NamedTuple

ERROR = "error"
WARNING = "warning"


class Problem(NamedTuple):
    path: str  # the data file, relative to the repository root
    line: int | None  # 1-based; None for problems about a whole file or config
    column: int | None  # 1-based character column, for JSON syntax errors
    code: str
    message: str
    level: str | None = None  # overrides the code's severity (finetune.yaml scan: levels)

    @property
    def severity(self) -> str:
        return self.level or CODES[self.code]


CODES: dict[str, str] = {
    # reading
    "unreadable-file": ERROR,
    "invalid-utf8": ERROR,
    "invalid-json": ERROR,
    "trailing-data": ERROR,
    "not-an-object": ERROR,
    "blank-line": WARNING,
    "untracked-data": WARNING,
    # format and method
    "mixed-formats": ERROR,
    "format-mismatch": ERROR,
    # structure
    "missing-key": ERROR,
    "unknown-key": ERROR,
    "wrong-type": ERROR,
    "empty-messages": ERROR,
    "invalid-role": ERROR,
    "missing-content": ERROR,
    "invalid-content-part": ERROR,
    "invalid-weight": ERROR,
    "weight-not-assistant": ERROR,
    "no-trainable-assistant": ERROR,
    "invalid-tool": ERROR,
    "invalid-tool-call": ERROR,
    "invalid-tool-arguments": ERROR,
    "unknown-tool-call-id": ERROR,
    "invalid-preference-output": ERROR,
    "last-message-not-user": ERROR,
    "special-token": ERROR,
    # scan (default levels; finetune.yaml scan: sets them per kind)
    "secret-in-data": ERROR,
    "personal-data": WARNING,
    # vision
    "images-not-supported": ERROR,
    "image-in-assistant": ERROR,
    "too-many-images": ERROR,
    "image-too-large": ERROR,
    "invalid-image": ERROR,
    # dataset
    "too-few-examples": ERROR,
    "validation-required": ERROR,
    "few-examples": WARNING,
    "missing-system": WARNING,
    "missing-user": WARNING,
    "duplicate-example": WARNING,
    "train-validation-overlap": WARNING,
    "example-truncated": WARNING,
    "unknown-model": WARNING,
    # lifecycle (judged against today, or --today / FINETUNE_TODAY)
    "model-not-trainable": ERROR,
    "training-closing": WARNING,
    "serving-ending": WARNING,
    # eval (held-out data)
    "eval-not-chat": ERROR,
    "eval-no-reference": ERROR,
    "eval-leakage": ERROR,
    "eval-too-few-examples": WARNING,
    "eval-model-retiring": WARNING,  # a model the eval names stops serving within 90 days, or has
    "eval-needs-deployment": WARNING,  # a fine-tune the eval would ask at Azure, which answers deployments only
}

#: Shown at the top of the text report and the PR comment rather than in the problem lists.
LIFECYCLE_CODES = ("model-not-trainable", "training-closing", "serving-ending", "eval-model-retiring")
