"""`finetune check` for people: "Checking finetune.yaml: PASSED, with warnings", then the reasons."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from finetune_action import models
from finetune_action.check import ConfigReport
from finetune_action.dataset.codes import LIFECYCLE_CODES, Problem

#: Problems shown per code; the JSON has them all.
SHOWN_PER_CODE = 3


def verdict(report: ConfigReport) -> str:
    if report.errors:
        return "FAILED"
    return "PASSED, with warnings" if report.warnings else "PASSED"


def usd(value: float | None) -> str:
    if value is None:
        return "no estimate"
    return f"USD {value:,.2f}" if value >= 0.01 or value == 0 else f"USD {value:.4f}"


def cost(report: ConfigReport) -> str:
    """The estimate as people read it, saying why there is none."""
    if report.price and not report.price.per_token:
        return f"billed per {report.price.per}, no USD estimate"
    return usd(report.estimated_cost_usd)


def eval_line(estimate: dict) -> str:
    """The eval's offline estimate in one line: examples, calls by model, USD at inference prices."""
    calls = ", ".join(f"{row['label']} {row['calls']:,}" for row in estimate["models"])
    unpriced = f" (no inference price for {', '.join(estimate['unpriced'])})" if estimate["unpriced"] else ""
    return f"eval after training: {estimate['examples']:,} held-out examples, {estimate['calls']:,} calls ({calls}): {usd(estimate['estimated_cost_usd'])} at inference prices{unpriced}"


def location(p: Problem) -> str:
    where = p.path or "-"
    if p.line is not None:
        where += f":{p.line}"
        if p.column is not None:
            where += f":{p.column}"
    return where


def grouped(problems: Iterable[Problem], counts: dict[str, int], shown: int | None = SHOWN_PER_CODE) -> list[tuple[str, int, list[Problem]]]:
    """(code, total count, first `shown` problems, all when None) per code, in order of first appearance."""
    groups: dict[str, list[Problem]] = {}
    for p in problems:
        groups.setdefault(p.code, []).append(p)
    return [(code, max(counts.get(code, 0), len(items)), items[:shown]) for code, items in groups.items()]


def alternatives(report: ConfigReport) -> list[str]:
    """The compare table (or the suggestions), one line per alternative."""
    if not report.alternatives:
        return []
    head = "  where else it trains (suggested; choose with compare: in finetune.yaml):" if report.suggested else "  compare (the same training data elsewhere):"
    lines = [head]
    for a in report.alternatives:
        last = ("closed" if not a.trainable else f"last day to train {a.last_training_day}") if a.training_ends else "no end announced"
        cost_text = usd(a.estimated_cost_usd) if a.price is None or a.price.per_token else f"billed per {a.price.per}"
        note = f"; {a.note}" if a.note else ""
        lines.append(
            f"    {a.label} {a.model}: {a.tokenizer}, {a.billed_tokens_per_epoch:,} billed tokens/epoch x {a.n_epochs} = {a.billed_tokens:,}: {cost_text}; {last}{note}"
        )
    return lines


_SCAN_NOUNS = {"secret-in-data": ("secret", "secrets"), "personal-data": ("piece of personal data", "pieces of personal data")}


def scan_counts(counts: Mapping[str, Mapping[str, int]] | None) -> str:
    """What the secrets and personal-data scan found, counted per kind ("" when nothing): never the values."""
    parts = []
    for code, (one, many) in _SCAN_NOUNS.items():
        labels = (counts or {}).get(code)
        # The comment renders a report file that an untrusted run may have written: take only numbers.
        labels = {str(label): n for label, n in labels.items() if type(n) is int and n > 0} if isinstance(labels, Mapping) else {}
        total = sum(labels.values())
        if total:
            parts.append(f"{total:,} {one if total == 1 else many} ({', '.join(f'{label} {n:,}' for label, n in labels.items())})")
    return "; ".join(parts)


def _tally(report: ConfigReport) -> str:
    parts = []
    for label, problems in (("error", report.errors), ("warning", report.warnings)):
        total = sum(n for _code, n, _shown in grouped(problems, report.problem_counts))
        if total:
            parts.append(f"{total:,} {label}{'s' if total != 1 else ''}")
    return f" ({', '.join(parts)})" if parts else ""


def render(report: ConfigReport, verbosity: int = 0) -> str:
    """The text block for one config: one line when terse (-1), every kept problem when detailed (1)."""
    title = report.config or ", ".join(f.path for f in report.files)
    if verbosity < 0:
        return f"Checking {title}: {verdict(report)}{_tally(report)}; {cost(report)}"
    lines = [f"Checking {title}: {verdict(report)}"]
    for p in (*report.errors, *report.warnings):
        if p.code in LIFECYCLE_CODES:
            first, *rest = p.message.splitlines()
            lines.append(f"  ! {p.code}: {first}")
            lines.extend(f"      {line}" for line in rest)
    limit = f", limit {report.example_token_limit:,} tokens/example" if report.example_token_limit else ""
    base = f" (base {report.base_model})" if report.base_model and report.base_model != report.model else ""
    where = f" at {models.label(report.provider)}" if report.provider != "openai" else ""
    approximate = f" (approximating {report.tokenizer})" if report.tokenizer != report.encoding and report.base_model else ""
    lines.append(f"  model {report.model}{base}{where}, method {report.method}, encoding {report.encoding}{approximate}{limit}")
    lines.append(f"  {report.examples:,} training examples, {report.validation_examples:,} validation examples")
    found = scan_counts(report.scan_counts)
    if found:
        lines.append(f"  scan found {found}: values are not shown")
    lines.append(
        f"  {report.billed_tokens_per_epoch:,} billed tokens/epoch x {report.n_epochs} epoch{'' if report.n_epochs == 1 else 's'} = "
        f"{report.billed_tokens:,} billed tokens: {cost(report)}"
    )
    if report.eval is not None:
        lines.append(f"  {eval_line(report.eval)}")
    for f in report.files:
        extra = f", {f.validation_examples:,} of them split to validation" if f.validation_examples else ""
        features = f" ({', '.join(f.features)})" if f.features else ""
        truncated = f", {f.truncated_examples} truncated" if f.truncated_examples else ""
        lines.append(f"  {f.path}: {f.role}, {f.format}{features}, {f.examples:,} examples{extra}, {f.billed_tokens_per_epoch:,} billed tokens/epoch{truncated}")
        tokens = f.distributions.get("tokens_per_example")
        if tokens:
            lines.append(f"    tokens/example min {tokens.min:,}, median {tokens.median:,.0f}, p95 {tokens.p95:,.0f}, max {tokens.max:,}")
    lines += alternatives(report)
    for label, problems in (("errors", report.errors), ("warnings", report.warnings)):
        problems = tuple(p for p in problems if p.code not in LIFECYCLE_CODES)
        if not problems:
            continue
        lines.append(f"  {label}:")
        for code, total, shown in grouped(problems, report.problem_counts, None if verbosity > 0 else SHOWN_PER_CODE):
            lines.append(f"    {code} ({total}):")
            for p in shown:
                lines.append(f"      {location(p)}: {p.message}")
            if total > len(shown):
                lines.append(f"      ... and {total - len(shown)} more (all of them: --format json)")
    lines.append("  the numbers rest on:")
    for key, note in report.counting.items():
        lines.append(f"    {key}: {note}")
    return "\n".join(lines)
