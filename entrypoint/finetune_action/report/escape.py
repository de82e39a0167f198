"""Make untrusted text (data, paths, config values) inert inside GitHub-flavoured markdown.

Training data comes from pull requests, forks included: nothing from it may ping people,
inject HTML, break out of a table, code block or <details>, or issue workflow commands.
Secrets are redacted first: once escaped (`sk\\-proj\\_...`) or cut, a secret no longer
matches what the output's redaction looks for, and GitHub shows it as written.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from finetune_action.redact import redact

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def text(value: object, limit: int = 300) -> str:
    """`value` as one line of literal text: HTML and markdown escaped, mentions and references defused."""
    raw = redact(str(value))
    if len(raw) > limit:
        raw = raw[: limit - 1] + "…"
    raw = " ".join(raw.split())  # no new lines: they would end a table row or list item
    raw = "".join(_HTML.get(ch, ch) for ch in raw)
    raw = _MARKDOWN.sub(r"\\\1", raw)
    # @user, @org/team and #123 / GH-123 references: a zero-width joiner keeps them from linking.
    raw = re.sub(r"@(?=\w)", "@\u200d", raw)
    raw = re.sub(r"#(?=\d)", "#\u200d", raw)
    return raw.replace("::", ":\u200d:")


def code(value: object, limit: int = 120, in_table: bool = False) -> str:
    """`value` as inline code that backticks in it cannot close early.

    Code spans show their content literally (no HTML, no mentions); only a table needs its
    pipes escaped, because GFM splits cells before it parses code spans.
    """
    raw = " ".join(redact(str(value)).split())
    if len(raw) > limit:
        raw = raw[: limit - 1] + "…"
    if in_table:
        raw = raw.replace("|", "\\|")
    if not raw:
        return "` `"
    run = max((len(m) for m in re.findall(r"`+", raw)), default=0)
    fence = "`" * (run + 1)
    return f"{fence} {raw} {fence}" if run or raw.startswith("`") or raw.endswith("`") else f"{fence}{raw}{fence}"


def url_path(path: str) -> str:
    """A repository path quoted for use inside a URL."""
    return quote(path, safe="/")
