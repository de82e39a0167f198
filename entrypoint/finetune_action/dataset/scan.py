"""Secrets and personal data in the strings an example trains on: what is found, where, at what level.

The check tokenizes every distinct string once (tokens/count.py make_counter); `finder` gives
it the function to call on each of them, so the scan rides on the same pass and the same
cache. Only an example holding a finding is walked again (`example_findings`), for the JSON
paths. A value found is never kept or shown: findings carry its kind, its rule and, for
personal data only, a masked hint (first and last character).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any, NamedTuple

import orjson

from finetune_action.dataset import personal, secrets

SECRET = "secret"
KINDS = (SECRET, *personal.KINDS)
LEVELS = ("error", "warning", "off")
DEFAULT_LEVELS = {SECRET: "error", **dict.fromkeys(personal.KINDS, "warning")}
SECRET_CODE = "secret-in-data"
PERSONAL_CODE = "personal-data"

_NAMES = {
    "email": "an email address",
    "phone": "a phone number",
    "payment-card": "a payment card number (Luhn-checked)",
    "iban": "an IBAN (mod-97-checked)",
    "national-id": "a national identifier",
    "ip-address": "a public IP address",
}


class ScanRules(NamedTuple):
    """finetune.yaml `scan:`, hashable so that each process builds its finder once."""

    levels: tuple[tuple[str, str], ...] = tuple(DEFAULT_LEVELS.items())  # (kind, error|warning|off) for every kind
    allow_sha256: tuple[str, ...] = ()  # sha256 (hex) of values that are known to be safe
    allow_patterns: tuple[str, ...] = ()  # regular expressions a whole value may match to be safe

    @property
    def on(self) -> bool:
        return any(level != "off" for _kind, level in self.levels)


#: Every kind off: no finder, nothing scanned (finetune.yaml `scan: off`; recounts for other tokenizers).
OFF = ScanRules(tuple((kind, "off") for kind in KINDS))


class Finding(NamedTuple):
    kind: str  # SECRET or one of personal.KINDS
    label: str  # the gitleaks rule (github-pat, ...) or the personal label (email, us-ssn, ...)
    hint: str  # "" for secrets; first and last character for personal data
    level: str  # error or warning

    @property
    def code(self) -> str:
        return SECRET_CODE if self.kind == SECRET else PERSONAL_CODE


Find = Callable[[str], list[Finding]]


def value_hash(value: str) -> str:
    """What scan.allow's `sha256` entries hold: the hex sha256 of the value's UTF-8 bytes."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def mask(value: str) -> str:
    """A hint that names no value: the first and last character of a long one, nothing of a short one."""
    return f"{value[0]}…{value[-1]}" if len(value) >= 6 else "…"


@cache
def finder(rules: ScanRules) -> Find | None:
    """The function giving the findings in a text under `rules` (one per process); None when every kind is off."""
    if not rules.on:
        return None
    levels = dict(rules.levels)
    secret_level = levels.get(SECRET, "off")
    rule_set = secrets.rule_set() if secret_level != "off" else None
    kinds = frozenset(k for k in personal.KINDS if levels.get(k, "off") != "off")
    allowed_hashes = frozenset(rules.allow_sha256)
    allowed_pattern = re.compile("|".join(f"(?:{p})" for p in rules.allow_patterns)) if rules.allow_patterns else None
    # One pass of one RE2 set per text says which secret rules and personal detectors may match.
    patterns = [pattern for pattern, _rules in rule_set.gates] if rule_set is not None else []
    secret_gates = len(patterns)
    gate = secrets.gate_set(patterns + list(personal.GATES if kinds else ()))

    def allowed(value: str) -> bool:
        return (allowed_pattern is not None and allowed_pattern.fullmatch(value) is not None) or (bool(allowed_hashes) and value_hash(value) in allowed_hashes)

    def find(text: str) -> list[Finding]:
        try:
            if "\\" in text:
                return find_escaped(text)
            hits = gate(text)
            return find_in(text, hits) if hits else []
        except UnicodeEncodeError:  # a lone surrogate (json reads "\ud800"): RE2 reads UTF-8 only
            return find("".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text))

    def find_escaped(text: str) -> list[Finding]:
        # Tool-call arguments and tool definitions (which the counter sees as one JSON text) are
        # JSON: an escaped quote hides the end of a secret from rules written for source code.
        # The gate looks at the text unescaped (cheaply), and only then is the JSON read.
        if not gate(text.replace('\\"', '"').replace("\\n", "\n")):
            return []
        found = find_in(text, gate(text) or ())
        if text[:1] in "{[":
            try:
                decoded = "\n".join(value for _where, value, _key in strings(orjson.loads(text)))
            except orjson.JSONDecodeError:
                return found
            seen = {f.label for f in found}
            found += [f for f in find_in(decoded, gate(decoded) or ()) if f.label not in seen]
        return found

    def find_in(text: str, hits: Iterable[int]) -> list[Finding]:
        if not hits:
            return []
        spans: list[tuple[int, int]] = []
        found: list[Finding] = []
        secret_hits = [i for i in hits if i < secret_gates]
        personal_hits = [i - secret_gates for i in hits if i >= secret_gates]
        if secret_hits:
            # Specific rules before gitleaks' generic one, so a key matched by both is named once, by its provider.
            for secret in sorted(secrets.find(text, rule_set, secret_hits), key=lambda s: (s.rule.startswith("generic"), s.start)):
                if not _overlaps(secret.start, secret.end, spans) and not allowed(secret.value):
                    spans.append((secret.start, secret.end))
                    found.append(Finding(SECRET, secret.rule, "", secret_level))
        if personal_hits:
            for item in personal.find(text, kinds, personal_hits):
                if not _overlaps(item.start, item.end, spans) and not allowed(item.value):
                    spans.append((item.start, item.end))
                    found.append(Finding(item.kind, item.label, mask(item.value), levels[item.kind]))
        return found

    return find


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str, bool]]:
    """(JSON path, string, is a key) for every string in an example that is trained on.

    That is every string value and every object key (tool definitions name parameters by
    keys), except image URLs: images are not text, and data URLs are megabytes of base64.
    """
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if type(item) is str:
            yield where, item, False
        elif type(item) is dict:
            children = []
            for key, child in item.items():
                if key == "image_url" and item.get("type") == "image_url":
                    continue
                yield where, key, True
                # A key that is not a plain name is not shown in paths: it might be the very value found.
                name = key if _PLAIN_KEY.fullmatch(key) else "[…]"
                children.append((f"{where}.{name}" if where else name, child))
            stack.extend(reversed(children))
        elif type(item) is list:
            stack.extend(reversed([(f"{where}[{index}]", child) for index, child in enumerate(item)]))


def example_findings(example: Any, find: Find) -> list[tuple[str, Finding]]:
    """(JSON path, finding) for every finding in an example, in document order, once per path and rule."""
    found: list[tuple[str, Finding]] = []
    seen: set[tuple[str, str]] = set()
    for where, text, is_key in strings(example):
        for finding in find(text):
            at = f"{where} (a key)" if is_key else where
            if (at, finding.label) not in seen:
                seen.add((at, finding.label))
                found.append((at or "example", finding))
    return found


_QUOTE = re.compile(r"""['"`]""")
_EXCERPT = re.compile(r"""[^\s'"`]{8,}""")


def without_quote(message: str) -> str:
    """A problem's message cut before its quote of the data, if it quotes any (left whole if not)."""
    quote = _QUOTE.search(message)
    return message[: quote.start()] + WITHHELD if quote else message


def withhold(message: str, texts: list[str], find: Find) -> str:
    """Another problem's message on a line with findings, cut before its quote of the data if the
    quote holds a finding or a piece of a text that holds one (`texts`; quotes are often truncated)."""
    # A quote cut short ends in whatever follows it in the message ("ghp_...j37;"): strip that off.
    pieces = [piece.strip(".,;:()[]{}…") for piece in _EXCERPT.findall(message)]
    if not (find(message) or any(len(piece) >= 8 and piece in text for piece in pieces for text in texts)):
        return message
    return without_quote(message) if _QUOTE.search(message) else message.split(": ", 1)[0] + ": " + WITHHELD


WITHHELD = "(quote withheld: it holds a secret or personal data)"


def message(where: str, finding: Finding) -> str:
    """The problem message: where, what kind, what to do; never the value."""
    if finding.kind == SECRET:
        return (
            f"{where}: a secret ({finding.label}, gitleaks rule); remove it and revoke it: a model repeats what it was trained on. "
            "If it is a known-safe value, allow it by its hash under scan.allow in finetune.yaml"
        )
    what = _NAMES[finding.kind] if finding.kind != "national-id" else f"a national identifier ({finding.label})"
    return f"{where}: {what}, {finding.hint}; remove or pseudonymise it, or allow it under scan.allow in finetune.yaml (finetune scan-hash)"
