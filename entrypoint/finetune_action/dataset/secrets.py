"""Secrets in text, by gitleaks' published rule set (gitleaks.toml beside this file; see gitleaks.NOTICE).

The rules are RE2 expressions (Go's syntax) and run on google-re2 as written: Python's `re`
rejects 26 of them and could backtrack on others, RE2 runs in linear time. As in gitleaks, a
rule's expression runs only on text holding one of its keywords; one RE2 set finds the
keywords of every rule in a single pass, which is what keeps the scan cheap next to
tokenizing.
"""
from __future__ import annotations

import math
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

import re2

RULES_FILE = "gitleaks.toml"
#: Rules let through by their own expression rather than by their keywords: the generic
#: rule's keywords (key, api, token, password, ...) are in a third of all English texts, its
#: expression (a keyword, then an assignment, then a value) in very few; so are keywords of
#: under four characters (ey, sk, s.: they, ask, every plural before a full stop).
OWN_GATE = ("generic-api-key",)
SHORT_KEYWORD = 4

# gitleaks has no rule for a password inside a connection string (trufflehog's URI detector
# covers it), so one rule of ours is added in gitleaks' shape: scheme://user:password@host,
# unless the password is a placeholder.
URI_RULE = {
    "id": "uri-credentials",
    "description": "Password in a connection string (scheme://user:password@host)",
    "regex": r"""\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:@/?#"'`]{0,100}:([^\s@/?#"'`]{1,200})@[a-zA-Z0-9.-]+""",
    "keywords": ["://"],
    "allowlists": [{"regexes": [r"""(?i)^(?:\*+|x+|\.+|<[^>]*>|\$\{?[\w.-]+\}?|\{\{[^}]*\}\}|%\w+%|\[[^\]]*\]|pass(?:word)?|secret|changeme|your[_-]?\w*|\w*placeholder\w*)$"""]}],
}


class Allowlist(NamedTuple):
    """A gitleaks allowlist: what a candidate may match to be let through."""

    target: str  # what `regex` is tested on: "secret", "match" (the rule's whole match) or "line"
    regex: Any  # one RE2 expression joining the list's regexes, or None
    stopwords: tuple[str, ...]  # lower-case words that, inside the secret, mark it as no secret


class Rule(NamedTuple):
    id: str  # gitleaks' rule id, e.g. github-pat: what reports name
    description: str
    regex: Any
    entropy: float  # a secret must have more Shannon entropy (bits per character) than this; 0: no minimum
    secret_group: int  # the capture group holding the secret; 0: the first non-empty one
    allowlists: tuple[Allowlist, ...]


class RuleSet(NamedTuple):
    rules: tuple[Rule, ...]
    gates: tuple[tuple[str, tuple[int, ...]], ...]  # (RE2 pattern, indices of the rules it lets run)
    gate: Callable[[str], Any]  # the gates' patterns as one RE2 set: indices of those in a text (see gate_set)
    allowlist: Allowlist  # gitleaks' global allowlist


class Secret(NamedTuple):
    rule: str
    description: str
    start: int  # character offsets of the rule's match in the text
    end: int
    value: str  # the secret itself: compare and hash it, never show it


def _allowlist(entry: dict) -> Allowlist | None:
    # Path and commit conditions are about repositories, not training data. A list that only
    # applies together with a path (condition AND) never applies here.
    if entry.get("condition") == "AND" and entry.get("paths"):
        return None
    regexes = entry.get("regexes") or []
    stopwords = tuple(word.lower() for word in entry.get("stopwords") or [])
    if not regexes and not stopwords:
        return None
    regex = re2.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None
    return Allowlist(entry.get("regexTarget") or "secret", regex, stopwords)


@cache
def rule_set() -> RuleSet:
    """The shipped rules, compiled once per process."""
    data = tomllib.loads(resources.files(__package__).joinpath(RULES_FILE).read_text(encoding="utf-8"))
    rules: list[Rule] = []
    gates: dict[str, list[int]] = {}
    for entry in [*data["rules"], URI_RULE]:
        # Rules bound to a file path (e.g. PKCS#12 files) do not apply to a line of JSONL.
        if "regex" not in entry or "path" in entry:
            continue
        allowlists = tuple(a for a in map(_allowlist, entry.get("allowlists") or []) if a)
        index = len(rules)
        rules.append(Rule(entry["id"], entry.get("description", ""), re2.compile(entry["regex"]), float(entry.get("entropy", 0)), int(entry.get("secretGroup", 0)), allowlists))
        if entry["id"] in OWN_GATE or any(len(k) < SHORT_KEYWORD for k in entry.get("keywords") or ()):
            gates.setdefault(entry["regex"], []).append(index)
            continue
        for keyword in entry.get("keywords") or []:
            gates.setdefault("(?i)" + re2.escape(keyword.lower()), []).append(index)
    ordered = tuple((pattern, tuple(indices)) for pattern, indices in gates.items())
    allowlist = _allowlist(data.get("allowlist") or {}) or Allowlist("secret", None, ())
    return RuleSet(tuple(rules), ordered, gate_set(pattern for pattern, _rules in ordered), allowlist)


def gate_set(patterns: Iterable[str]) -> Callable[[str], Any]:
    """One RE2 set of `patterns`, as a function giving the indices of those occurring in a text, in one pass (falsy: none)."""
    found = re2.Set.SearchSet(re2.Options())
    for pattern in patterns:
        found.Add(pattern)
    found.Compile()
    # The wrapper's Match is a third of the pass in Python calls: use the compiled set when it is there.
    compiled = getattr(found, "_set", None)
    if compiled is None:
        return found.Match
    match = compiled.Match
    return lambda text: match(text.encode())


def entropy(text: str) -> float:
    """Shannon entropy in bits per character, as gitleaks measures it."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


def _allowed(allowlist: Allowlist, secret: str, match: str, line: str) -> bool:
    if allowlist.regex is not None:
        target = match if allowlist.target == "match" else line if allowlist.target == "line" else secret
        if allowlist.regex.search(target):
            return True
    lowered = secret.lower()
    return any(word in lowered for word in allowlist.stopwords)


def candidates(text: str, rules: RuleSet, gates: Iterable[int] | None = None) -> list[int]:
    """Indices of the rules whose gates (keywords) occur in `text`, or of those `gates` found (usually none)."""
    found = rules.gate(text) if gates is None else gates
    if not found:
        return []
    return sorted({rule for gate in found for rule in rules.gates[gate][1]})


def find(text: str, rules: RuleSet | None = None, gates: Iterable[int] | None = None) -> list[Secret]:
    """Every secret the rules find in `text`, with gitleaks' entropy and allowlist checks.

    `gates`: the indices of the gates that occur in `text`, when the caller matched them already.
    """
    rules = rules or rule_set()
    found: list[Secret] = []
    for index in candidates(text, rules, gates):
        rule = rules.rules[index]
        for match in rule.regex.finditer(text):
            whole = match.group(0).strip("\n")
            if not whole:
                continue
            groups = match.groups()
            secret = whole
            if rule.secret_group and rule.secret_group <= len(groups):
                secret = groups[rule.secret_group - 1] or whole
            else:
                secret = next((g for g in groups if g), whole)
            if rule.entropy and entropy(secret) <= rule.entropy:
                continue
            start, end = match.start(), match.start() + len(whole)
            line = text[text.rfind("\n", 0, start) + 1 : (text.find("\n", end) + 1 or len(text) + 1) - 1]
            if any(_allowed(a, secret, whole, line) for a in (rules.allowlist, *rule.allowlists)):
                continue
            found.append(Secret(rule.id, rule.description, start, end, secret))
    return found
