"""Every test runs on a fixed "today", so lifecycle warnings (OpenAI's training ends on 2027-01-06)
do not come and go with the calendar; lifecycle tests set their own date. Subprocesses inherit it."""
from __future__ import annotations

import os

from finetune_action.lifecycle import TODAY_VARIABLE

os.environ[TODAY_VARIABLE] = "2026-07-01"
