"""`finetune scan-hash`: the scan.allow entry for a known-safe value, so the value itself stays out of the repository."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from finetune_action.dataset.scan import value_hash
from finetune_action.errors import EXIT_OK, EXIT_USAGE


def scan_hash(values: Sequence[str]) -> int:
    """Print a `- sha256: ...` line per value (from the arguments, else one per line of stdin)."""
    if not values:
        # From stdin the value stays out of the shell's history and the process list.
        values = [line.rstrip("\r\n") for line in sys.stdin if line.rstrip("\r\n")]
    if not values:
        print("error: give the value as an argument or on standard input (one per line)", file=sys.stderr)
        return EXIT_USAGE
    for value in values:
        print(f"- sha256: {value_hash(value)}")
    return EXIT_OK
