"""Secrets never reach output: the one function every writer passes its text through.

A secret is the value of any environment variable whose name ends in _KEY, _TOKEN, _SECRET or
_PASSWORD (or -KEY, ... as the runner names action inputs: INPUT_OPENAI-API-KEY), and any value
`mask` was given (the provider key in use, whatever its variable is called; what the action
masks). The main program routes stdout and stderr through `Redacted`; file writers (outputs,
step summary, report, model.json, release notes, crash files) call `redact` themselves, and
github/api.py redacts everything it sends to GitHub (comments, release names, notes, assets).
"""
from __future__ import annotations

import os
import threading
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
    return _replaced(text, secrets(env))


def _replaced(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, REPLACEMENT)
    return text


def _secret_start(text: str, values: list[str]) -> int:
    """How many characters at the end of `text` could be the start of a secret (0: none)."""
    longest = 0
    for value in values:
        if not text or text[-1] not in value:
            continue  # the usual case, a line end: no piece of this secret ends the text
        tail = text[-(len(value) - 1) :]
        start = tail.find(value[0])
        while start != -1 and len(tail) - start > longest:
            if value.startswith(tail[start:]):
                longest = len(tail) - start
                break
            start = tail.find(value[0], start + 1)
    return longest


class Redacted:
    """A text stream that redacts what is written to it; `unredacted` is the stream beneath,
    for the one line that must name a secret (asking the runner to mask it).

    A secret can arrive in pieces (a character at a time, a print with several arguments): the
    end of a write that could be the start of a secret is held back until the next write shows
    whether it is one. Nothing else waits: a line end or any text that starts no secret goes out
    at once. `flush` passes on what was written, never a held piece; `finish` writes that at exit.
    """

    def __init__(self, stream: TextIO) -> None:
        self.unredacted = stream
        self._held = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            values = secrets()
            shown = _replaced(self._held + text, values)
            held = _secret_start(shown, values)
            self._held = shown[len(shown) - held :]
            self.unredacted.write(shown[: len(shown) - held])
        return len(text)

    def finish(self) -> None:
        """Write what is held back: nothing came to make it a secret."""
        with self._lock:
            held, self._held = self._held, ""
            if held:
                self.unredacted.write(held)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, ...
        return getattr(self.unredacted, name)
