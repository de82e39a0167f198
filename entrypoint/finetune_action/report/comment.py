"""The PR comment and job summary for one config: verdict, base -> head table, budget, problems.

Input is the review JSON (docs: "The report file"), never live objects, so a report made by
an unprivileged fork run renders the same way when a trusted workflow posts it. Every string
that came from the data or the config goes through report.escape.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from finetune_action import models
from finetune_action.dataset.codes import LIFECYCLE_CODES
from finetune_action.report import escape
from finetune_action.report.text import scan_counts

#: GitHub refuses comment bodies over 65,536 characters; stay well clear of it for the markers.
COMMENT_LIMIT = 65_000
FIRST_PROBLEMS = 10  # per level in the comment; the summary and report file have them all

ROWS = (
    ("examples", "Training examples", "int"),
    ("validation_examples", "Validation examples", "int"),
    ("billed_tokens_per_epoch", "Billed tokens per epoch", "int"),
    ("n_epochs", "Epochs", "int"),
    ("billed_tokens", "Billed tokens, all epochs", "int"),
    ("estimated_cost_usd", "Estimated cost", "usd"),
)


def usd(value: float) -> str:
    """Dollars to the cent, or to four places under a dollar (small datasets would round to nothing)."""
    return f"${value:,.4f}" if 0 < abs(value) < 1 else f"${value:,.2f}"


def _number(value: Any, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "usd":
        return usd(value)
    return f"{value:,}"


def _change(base: Any, head: Any, kind: str) -> str:
    if base is None or head is None:
        return ""
    delta = head - base
    if not delta:
        return "0"
    sign = "+" if delta > 0 else "−"
    text = f"{sign}{usd(abs(delta))}" if kind == "usd" else f"{sign}{abs(delta):,}"
    if base:
        text += f" ({sign}{abs(delta) / base * 100:.0f}%)"
    return text


def verdict(entry: Mapping[str, Any]) -> tuple[str, str]:
    """(icon, one-line verdict) for one config's review entry."""
    head = entry.get("head")
    name = escape.code(entry["config"])
    if head is None:
        return "➖", f"{name} was removed in this pull request"
    errors = total(head, "errors")
    new_violations = [v for v in entry.get("budget", {}).get("violations", []) if v.get("new")]
    cost = head.get("estimated_cost_usd")
    delta = (entry.get("diff") or {}).get("delta", {}).get("estimated_cost_usd")
    money = f"estimated {_number(cost, 'usd')}" if cost is not None else "cost unknown"
    if delta is not None and entry.get("base") is not None:
        money += f" ({'+' if delta >= 0 else '−'}{usd(abs(delta))} vs base)"
    if errors and _invalid(head):
        return "❌", f"{name}: invalid config, {errors:,} problem{'s' if errors != 1 else ''} in finetune.yaml"
    if errors:
        return "❌", f"{name}: {errors:,} error{'s' if errors != 1 else ''} in the data; {money}"
    if new_violations and all(v.get("rule") == "unpriced" for v in new_violations):
        return "💸", f"{name}: budget cannot be evaluated; {money}"
    if new_violations:
        return "💸", f"{name}: over budget; {money}"
    warnings = total(head, "warnings")
    extra = f", {warnings:,} warning{'s' if warnings != 1 else ''}" if warnings else ""
    return "✅", f"{name}: passed{extra}; {money}"


def _invalid(report: Mapping[str, Any]) -> bool:
    return any(p.get("code") == "config-invalid" for p in report.get("errors", []))


def compared(review: Mapping[str, Any]) -> bool:
    """Whether there was a base commit to compare with (not so outside a PR, or when it cannot be fetched)."""
    return bool((review.get("base") or {}).get("sha"))


def _table(entry: Mapping[str, Any], with_base: bool) -> list[str]:
    base, head = entry.get("base"), entry.get("head")
    if not with_base:
        lines = ["| | head |", "|---|---:|"]
        return lines + [f"| {label} | {_number(head.get(key) if head else None, kind)} |" for key, label, kind in ROWS]
    lines = ["| | base | head | change |", "|---|---:|---:|---:|"]
    for key, label, kind in ROWS:
        b = base.get(key) if base else None
        h = head.get(key) if head else None
        lines.append(f"| {label} | {_number(b, kind) if base else '—'} | {_number(h, kind) if head else '—'} | {_change(b if base else 0, h if head else 0, kind)} |")
    return lines


def _changes(entry: Mapping[str, Any], review: Mapping[str, Any]) -> list[str]:
    diff = entry.get("diff") or {}
    lines = []
    if _invalid(entry.get("head") or {}):
        return ["The config on this head is invalid, so nothing is compared with the base: fix the problems below."]
    if not compared(review):
        note = (review.get("base") or {}).get("note") or "no base commit"
        return [f"No base to compare with ({escape.text(note)}): the figures are this head's alone, nothing is counted as added or removed."]
    if entry.get("base_error"):
        # Not a new config: the base has one, which cannot be checked (its problem is in the notes below).
        return ["The base's config could not be checked, so nothing is compared with it: the figures are this head's alone, nothing is counted as added or removed."]
    if entry.get("base") is not None and entry.get("head") is not None:
        lines.append(
            f"Examples: **{diff.get('examples_added', 0):,}** added, **{diff.get('examples_removed', 0):,}** removed, "
            f"**{diff.get('examples_changed', 0):,}** changed."
        )
    elif entry.get("base") is None and entry.get("head") is not None:
        lines.append("New config in this pull request: no base to compare with.")
    changes = diff.get("config_changes") or []
    if changes:
        lines.append("")
        lines.append("Config changes:")
        for change in changes[:20]:
            key = str(change["key"])
            lines.append(f"- {escape.code(key)}: {escape.code(setting(key, change['base']))} → {escape.code(setting(key, change['head']))}")
        if len(changes) > 20:
            lines.append(f"- … and {len(changes) - 20} more")
    return lines


def _budget(entry: Mapping[str, Any]) -> list[str]:
    budget = entry.get("budget") or {}
    limits = {k: v for k, v in (budget.get("limits") or {}).items() if v is not None}
    if not limits:
        return []
    violations = budget.get("violations") or []
    if not violations:
        return ["**Budget:** within limits (" + ", ".join(_limit_text(k, v) for k, v in limits.items()) + ")."]
    lines = ["**Budget:**"]
    for v in violations:
        if v.get("rule") == "unpriced":
            flag = "❌ cannot be evaluated" if v.get("new") else "⚠️ cannot be evaluated"
        else:
            flag = "❌ new" if v.get("new") else "⚠️ already on the base branch"
        lines.append(f"- {flag}: {escape.text(v['message'])}")
    return lines


def _eval(entry: Mapping[str, Any]) -> list[str]:
    """The eval planned after training: calls and cost per model, beside the training estimate."""
    estimate = (entry.get("head") or {}).get("eval")
    if not isinstance(estimate, Mapping):
        return []
    cost = estimate.get("estimated_cost_usd")
    training = (entry.get("head") or {}).get("estimated_cost_usd")
    total = f"; training + eval {usd(training + cost)}" if cost is not None and training is not None else ""
    lines = [f"**Eval after training:** {estimate.get('examples', 0):,} held-out examples, {estimate.get('calls', 0):,} calls, estimated {_number(cost, 'usd')} at inference prices{total}.", "", "| model | calls | prompt tokens | answer tokens (est.) | cost |", "|---|---:|---:|---:|---:|"]
    for row in estimate.get("models", []):
        tuned = " (fine-tuned rate)" if row.get("fine_tuned") else ""
        lines.append(f"| {escape.code(row['label'], in_table=True)} {escape.code(row['model'], 80, in_table=True)}{tuned} | {row['calls']:,} | {row['prompt_tokens']:,} | {row['completion_tokens']:,} | {_number(row.get('estimated_cost_usd'), 'usd')} |")
    current = entry.get("release_eval")
    if isinstance(current, Mapping) and current.get("summary"):
        lines += ["", f"Current release {escape.code(current.get('tag', ''))} ({escape.code(current.get('model') or '')}): {escape.text(current['summary'])}."]
    return lines


def setting(key: str, value: Any) -> str:
    """A setting as people read it: never Python's None for one left unset."""
    if value is None:
        return "auto (not set)" if key.startswith("hyperparameters.") else "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(setting(key, item) for item in value) or "none"
    return str(value)


def _limit_text(rule: str, value: float) -> str:
    return {"max_usd": f"max {usd(value)}", "max_increase_usd": f"increase ≤ {usd(value)}", "max_increase_pct": f"increase ≤ {value:g}%"}.get(rule, rule)


def _problem_link(problem: Mapping[str, Any], links: Mapping[str, str] | None) -> str:
    where = str(problem.get("path", ""))
    line = problem.get("line")
    label = f"{where}:{line}" if line else where
    if links and where:
        anchor = f"#L{int(line)}" if isinstance(line, int) else ""
        url = f"{links['server_url']}/{links['repository']}/blob/{links['sha']}/{escape.url_path(where)}{anchor}"
        return f"[{escape.text(label)}]({url})"
    return escape.text(label)


def with_code(line: str) -> str:
    """One line of our own wording: `backticked` parts as code, the rest as text, all escaped."""
    def text(part: str) -> str:  # escape.text trims; the spaces around code must stay
        return (" " if part[:1].isspace() else "") + escape.text(part, limit=800) + (" " if part[-1:].isspace() and part.strip() else "")

    return "".join(escape.code(part, limit=200) if index % 2 else text(part) for index, part in enumerate(line.split("`")))


def _lifecycle(head: Mapping[str, Any]) -> list[str]:
    """Training closed, closing soon, or serving ending: a GitHub alert at the top of the comment."""
    lines: list[str] = []
    for level, kind in (("errors", "CAUTION"), ("warnings", "WARNING")):
        for p in head.get(level, []):
            if p.get("code") not in LIFECYCLE_CODES:
                continue
            first, *rest = str(p.get("message", "")).splitlines() or [""]
            lines += [*([">"] if lines else []), f"> [!{kind}]", f"> {escape.code(p['code'])} {with_code(first)}"]
            lines += [f"> {'- ' + with_code(line.strip().removeprefix('- ')) if line.startswith('- ') else with_code(line)}" for line in rest[:10]]
    return lines


def _cell_usd(value: Any) -> str:
    return usd(value) if isinstance(value, (int, float)) else "n/a"


def _last_day(last_day: Any, trainable: Any) -> str:
    if trainable is False:
        return "closed"
    return escape.text(last_day) if last_day else "no end announced"


def _alternatives(head: Mapping[str, Any]) -> list[str]:
    """The compare table: this config, then each alternative with its own tokenizer's counts."""
    compare = head.get("compare") or {}
    rows = [a for a in compare.get("alternatives") or [] if isinstance(a, Mapping)]
    if not rows:
        return []
    if compare.get("suggested"):
        title = "**Where else it trains** (suggested from the catalogue because training closes; choose your own with `compare:` in finetune.yaml):"
    else:
        title = "**Compare:** the same training data priced elsewhere (`compare:` in finetune.yaml):"
    title = title.replace("`compare:`", escape.code("compare:"))
    life = head.get("lifecycle") or {}
    lines = [
        title,
        "",
        "| provider | model | tokenizer | billed tokens/epoch | epochs | billed tokens | estimated cost | last day to train | rests on |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
        f"| {escape.text(models.label(str(head.get('provider', 'openai'))))} (this config) | {escape.code(head.get('model', ''), in_table=True)} | {escape.text(head.get('encoding', ''))} "
        f"| {_number(head.get('billed_tokens_per_epoch'), 'int')} | {_number(head.get('n_epochs'), 'int')} | {_number(head.get('billed_tokens'), 'int')} "
        f"| {_cell_usd(head.get('estimated_cost_usd'))} | {_last_day(life.get('last_training_day'), not any(p.get('code') == 'model-not-trainable' for p in head.get('errors', [])))} | |",
    ]
    for a in rows:
        variant = []
        if a.get("method") != head.get("method"):
            variant.append(str(a.get("method")))
        if a.get("lora") is not None:
            variant.append("LoRA" if a.get("lora") else "full")
        if a.get("training_type"):
            variant.append(str(a.get("training_type")))
        model = escape.code(a.get("model", ""), in_table=True) + (f" ({escape.text(', '.join(variant))})" if variant else "")
        lines.append(
            f"| {escape.text(a.get('label', a.get('provider', '')))} | {model} | {escape.text(a.get('tokenizer', ''))} "
            f"| {_number(a.get('billed_tokens_per_epoch'), 'int')} | {_number(a.get('n_epochs'), 'int')} | {_number(a.get('billed_tokens'), 'int')} "
            f"| {_cell_usd(a.get('estimated_cost_usd'))} | {_last_day(a.get('last_training_day'), a.get('trainable'))} | {escape.text(a.get('note') or '-')} |"
        )
    return lines


def _problems(title: str, head: Mapping[str, Any], level: str, links: Mapping[str, str] | None, limit: int | None) -> list[str]:
    problems = [p for p in head.get(level, []) if p.get("code") not in LIFECYCLE_CODES]
    if not problems:
        return []
    everything = total({**head, level: problems}, level)  # lifecycle problems have their own alert
    counts = head.get("problem_counts") or {}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for p in problems:
        groups.setdefault(str(p.get("code", "")), []).append(p)
    lines = [f"**{title} ({everything:,}):**"]
    room = len(problems) if limit is None else limit
    for code, items in groups.items():
        count = max(int(counts.get(code, 0)), len(items))
        lines.append(f"- {escape.code(code)} ({count:,})")
        shown = items[: max(room, 0)]
        room -= len(shown)
        for p in shown:
            lines.append(f"  - {_problem_link(p, links)} {escape.text(p.get('message', ''))}")
        if count > len(shown):
            lines.append(f"  - … and {count - len(shown):,} more (the job summary and the report file have more)")
    return lines


def _distributions(head: Mapping[str, Any]) -> list[str]:
    rows = []
    for f in head.get("files", []):
        for name, stats in (f.get("distributions") or {}).items():
            if not stats:
                continue
            cells = " | ".join(_stat(stats.get(k)) for k in ("min", "p5", "median", "mean", "p95", "max"))
            rows.append(f"| {escape.text(f.get('path', ''))} | {escape.text(name.replace('_', ' '))} | {cells} |")
    if not rows:
        return []
    return [
        "<details><summary>Token distributions</summary>",
        "",
        "| file | per example | min | p5 | median | mean | p95 | max |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "</details>",
    ]


def _stat(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:,.1f}" if isinstance(value, float) and not value.is_integer() else f"{int(value):,}"


def _footnote(entry: Mapping[str, Any], review: Mapping[str, Any]) -> list[str]:
    head = entry.get("head") or entry.get("base") or {}
    parts = []
    if head.get("encoding"):
        if "data-prep notebook" in (head.get("counting") or {}).get("tokens", "data-prep notebook"):
            parts.append(f"Estimates: tokens counted offline with {escape.text(head['encoding'])} by the approximation of OpenAI's data-prep notebook, so billed tokens can differ slightly.")
        else:  # an open model: its own tokenizer and chat template, exact or not as `encoding` below says
            parts.append(f"Estimates: tokens counted offline with {escape.text(head['encoding'])} and the model's chat template (what that rests on is below).")
    price = head.get("price")
    if price:
        unverified = "" if price.get("verified", True) else ", unverified"
        parts.append(f"Price: ${price['usd']:,.2f} per {escape.text(price['per'])} ({escape.text(price['source'])}, {escape.text(price['date'])}{unverified}).")
    elif head.get("encoding"):
        parts.append("No price is known for this model, so no cost is estimated: add `pricing` to finetune.yaml.")
    base_note = (review.get("base") or {}).get("note")
    if base_note:
        parts.append(f"Base: {escape.text(base_note)}.")
    if entry.get("base_error"):
        parts.append(f"The base config could not be checked: {escape.text(entry['base_error'])}")
    lines = ["<sub>" + " ".join(parts) + "</sub>"] if parts else []
    counting = head.get("counting")
    if isinstance(counting, Mapping) and counting:
        lines += ["", "<details><summary>What the numbers rest on</summary>", ""]
        lines += [f"- **{escape.text(key)}**: {escape.text(value, limit=800)}" for key, value in counting.items()]
        lines += ["", "</details>"]
    return lines


def total(report: Mapping[str, Any], level: str) -> int:
    """Every problem of a level, counted, though the report keeps only the first few per code."""
    problems = report.get(level, [])
    counts = report.get("problem_counts") or {}
    codes = {p.get("code") for p in problems}
    return max(len(problems), sum(int(counts.get(code, 0)) for code in codes))


def render(review: Mapping[str, Any], entry: Mapping[str, Any], *, full: bool = False, limit: int = COMMENT_LIMIT) -> str:
    """Markdown for one config: the PR comment (`full=False`) or its job-summary section (`full=True`)."""
    icon, line = verdict(entry)
    head = entry.get("head") or {}
    links = None
    if review.get("repository") and review.get("head_sha"):
        links = {"server_url": review.get("server_url", "https://github.com"), "repository": review["repository"], "sha": review["head_sha"]}
    per_level = None if full else FIRST_PROBLEMS
    found = scan_counts(head.get("scan_counts")) if isinstance(head.get("scan_counts"), Mapping) else ""
    sections = [
        [f"### {icon} finetune check: {line}"],
        [f"🔐 **Secrets and personal data in the data:** {escape.text(found, limit=4000)}. The values are never shown: see the problems below for where."] if found else [],
        _lifecycle(head),
        _table(entry, compared(review)),
        _changes(entry, review),
        _eval(entry),
        _budget(entry),
        _alternatives(head),
        _problems("Errors", head, "errors", links, per_level),
        _problems("Warnings", head, "warnings", links, per_level),
        _distributions(head),
        _footnote(entry, review),
    ]
    body = "\n\n".join("\n".join(s) for s in sections if s) + "\n"
    return body if full else truncate_middle(body, limit)


COMMENT_CUT = "\n\n> ✂️ {cut:,} characters cut from the middle to fit GitHub's comment limit; the job summary has the full report.\n\n"
SUMMARY_CUT = "\n\n> ✂️ {cut:,} characters cut from the middle to fit GitHub's 1 MiB step summary; the report file (`report-path`) has everything.\n\n"


def truncate_middle(body: str, limit: int, note: str = COMMENT_CUT) -> str:
    """Cut the middle of `body` at line boundaries so it fits `limit` characters, and say so."""
    if len(body) <= limit:
        return body
    budget = limit - len(note.format(cut=len(body)))
    head_part = body[: budget * 2 // 3].rsplit("\n", 1)[0]
    tail_part = body[len(body) - budget // 3 :].split("\n", 1)[-1]
    # An unclosed <details> in the kept head would swallow the tail: close it.
    if head_part.count("<details>") > head_part.count("</details>"):
        head_part += "\n\n</details>"
        tail_part = tail_part.replace("</details>", "", 1)
    cut = len(body) - len(head_part) - len(tail_part)
    return head_part + note.format(cut=cut) + tail_part


#: What the job summary may take, in UTF-8 bytes (GitHub keeps at most 1 MiB per step).
SUMMARY_BYTES = 1024 * 1024 - 1024
_SEPARATOR = "\n\n---\n\n"


def render_summary(review: Mapping[str, Any], limit: int = SUMMARY_BYTES) -> str:
    """The job summary: every config in full, within `limit` bytes.

    When the whole would not fit, each config keeps its verdict, its table and its footnote:
    the configs that fit their share stay whole and the others are cut from the middle to an
    equal share of what is left (a summary cut at its end would lose every later config).
    """
    sections = [render(review, entry, full=True) for entry in review.get("configs", [])]
    if not sections:
        return "finetune check: no config to check.\n"
    sizes = [len(section.encode("utf-8")) for section in sections]
    room = limit - len(_SEPARATOR) * (len(sections) - 1)
    if sum(sizes) <= room:
        return _SEPARATOR.join(sections)
    shares = _shares(sizes, max(room, 0))
    return _SEPARATOR.join(section if size <= share else _cut_to_bytes(section, share) for section, size, share in zip(sections, sizes, shares))


def _shares(sizes: Sequence[int], room: int) -> list[int]:
    """Each size's share of `room`: the small ones whole, the rest an equal part of what remains."""
    shares = [0] * len(sizes)
    left, count = room, len(sizes)
    for index in sorted(range(len(sizes)), key=sizes.__getitem__):
        share = left // count
        shares[index] = min(sizes[index], share)
        left -= shares[index]
        count -= 1
    return shares


def _cut_to_bytes(section: str, limit: int) -> str:
    """truncate_middle by UTF-8 bytes rather than characters."""
    characters = limit
    while True:
        cut = truncate_middle(section, characters, SUMMARY_CUT)
        if len(cut.encode("utf-8")) <= limit or characters < 200:
            return cut
        characters = characters * 9 // 10
