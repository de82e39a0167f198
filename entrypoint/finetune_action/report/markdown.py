"""`finetune check --format markdown`: one table per config, then its problems."""
from __future__ import annotations

from finetune_action.check import ConfigReport
from finetune_action.report.text import cost, grouped, location, scan_counts, verdict


def cell(text: object) -> str:
    """Text made safe for one markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render(report: ConfigReport) -> str:
    """The markdown block for one config."""
    title = report.config or ", ".join(f.path for f in report.files)
    rows = [
        ("model", f"`{report.model}`" + (f" (base `{report.base_model}`)" if report.base_model and report.base_model != report.model else "")),
        ("method", report.method),
        ("training examples", f"{report.examples:,}"),
        ("validation examples", f"{report.validation_examples:,}"),
        ("billed tokens per epoch", f"{report.billed_tokens_per_epoch:,}"),
        ("epochs", str(report.n_epochs)),
        ("billed tokens", f"{report.billed_tokens:,}"),
        ("estimated cost", cost(report)),
    ]
    if report.scan_counts:
        rows.append(("secrets and personal data", scan_counts(report.scan_counts) + " (values not shown)"))
    lines = [f"### {cell(title)}: {verdict(report)}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {cell(value)} |" for name, value in rows]
    lines += ["", "| file | role | format | examples | billed tokens/epoch | truncated |", "|---|---|---|---:|---:|---:|"]
    for f in report.files:
        lines.append(f"| `{cell(f.path)}` | {f.role} | {f.format} | {f.examples:,} | {f.billed_tokens_per_epoch:,} | {f.truncated_examples:,} |")
    for label, problems in (("Errors", report.errors), ("Warnings", report.warnings)):
        if problems:
            lines += ["", f"**{label}**", ""]
            for code, total, shown in grouped(problems, report.problem_counts):
                lines.append(f"- `{code}` ({total}): " + "; ".join(f"`{cell(location(p))}` {cell(p.message)}" for p in shown))
    lines += ["", "<details><summary>What the numbers rest on</summary>", ""]
    lines += [f"- **{key}**: {cell(note)}" for key, note in report.counting.items()]
    lines += ["", "</details>"]
    return "\n".join(lines)
