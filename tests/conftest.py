"""Every test runs on a fixed "today", so lifecycle warnings (OpenAI's training ends on 2027-01-06)
do not come and go with the calendar; lifecycle tests set their own date. Subprocesses inherit it."""
from __future__ import annotations

import os

import pytest

from finetune_action.dataset import validate
from finetune_action.lifecycle import TODAY_VARIABLE

os.environ[TODAY_VARIABLE] = "2026-07-01"


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every line the scan really checks (not copied from the results cache), in this process."""
    lines: list[bytes] = []
    scan_lines = validate.scan_lines

    def counting(raws, rules, file_start, example_features=None):  # type: ignore[no-untyped-def]
        raws = list(raws)
        lines.extend(raws)
        return scan_lines(raws, rules, file_start, example_features)

    monkeypatch.setattr(validate, "scan_lines", counting)
    return lines
