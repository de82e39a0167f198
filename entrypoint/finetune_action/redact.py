"""Secrets never reach output: the one function every writer passes its text through.

A secret is the value of any environment variable whose name ends in _KEY, _TOKEN, _SECRET or
_PASSWORD (or -KEY, ... as the runner names action inputs: INPUT_OPENAI-API-KEY), and any value
`mask` was given (the provider key in use, whatever its variable is called; what the action
masks). The main program routes stdout and stderr through `Redacted`; file writers (outputs,
step summary, report, model.json, release notes, crash files) call `redact` themselves.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TextIO

SECRET_SUFFIXES = tuple(sep + word for word in ("KEY", "TOKEN", "SECRET", "PASSWORD") for sep in "_-")
#: Shorter values are left alone: redacting "1" or "true" everywhere would garble the output,
#: and no real key or token is that short.
MIN_LENGTH = 8
REPLACEMENT = "***"

_masked: set[str] = set()


def mask(value: str) -> None:
    """Treat `value` as a secret from now on (in this process)."""
    value = value.strip()
    if len(value) >= MIN_LENGTH:
        _masked.add(value)


def secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value known now, longest first (so a secret inside another goes with it)."""
    env = os.environ if env is None else env
    found = {value.strip() for name, value in env.items() if name.upper().endswith(SECRET_SUFFIXES)}
    return sorted({v for v in found | _masked if len(v) >= MIN_LENGTH}, key=len, reverse=True)


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """`text` with every secret value replaced by ***."""
    for value in secrets(env):
        if value in text:
            text = text.replace(value, REPLACEMENT)
    return text


class Redacted:
    """A text stream that redacts what is written to it; `unredacted` is the stream beneath,
    for the one line that must name a secret (asking the runner to mask it)."""

    def __init__(self, stream: TextIO) -> None:
        self.unredacted = stream

    def write(self, text: str) -> int:
        self.unredacted.write(redact(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, ...
        return getattr(self.unredacted, name)
