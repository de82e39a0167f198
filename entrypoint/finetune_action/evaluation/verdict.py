"""From results to what is recorded and read: the model.json `eval` block, the gate, the release table (pure).

The gate judges the candidate (the second model) against the baseline (the first): a minimum
improvement on the lower confidence bound of one grader, and, when asked, that no example the
previous release passed fails now, the previous release read from its own model.json.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from finetune_action.config import Eval
from finetune_action.evaluation import graders, prices, stats
from finetune_action.evaluation.run import Results
from finetune_action.providers.base import shown_url
from finetune_action.report.escape import code

WORST_SHOWN = 10  # regressions kept per grader


class GateResult(NamedTuple):
    passed: bool
    reasons: tuple[str, ...]  # why it failed, or what it checked


def _comparison(c: stats.Comparison) -> dict[str, Any]:
    return {
        "method": c.method, "n": c.n, "errors": c.errors, "baseline": c.baseline, "candidate": c.candidate,
        "difference": c.difference, "low": c.low, "high": c.high, "p_value": c.p_value, "verdict": c.verdict, **c.detail,
    }


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def passed_ids(results: Results, grader: str, label: str) -> list[str]:
    """Ids of the examples a model passed on a pass/fail grader (what the next release's gate reads)."""
    return [e.id for e, g in zip(results.examples, results.grades[grader][label]) if g.passed]


def worst_regressions(results: Results, grader: str, label: str) -> list[dict[str, Any]]:
    """Examples where the candidate scored lowest against the baseline, by example line."""
    baseline = results.grades[grader].get(results.targets[0].label)
    rows = []
    for example, grade, base in zip(results.examples, results.grades[grader][label], baseline or results.grades[grader][label]):
        if grade.score is None:
            continue
        drop = (base.score - grade.score) if baseline and base.score is not None else (0.5 - grade.score)
        if drop > 0:
            rows.append({"path": example.path, "line": example.line, "id": example.id, "baseline": base.score if baseline else None, "candidate": grade.score, "drop": round(drop, 6)})
    rows.sort(key=lambda r: (-r["drop"], r["path"], r["line"]))
    return rows[:WORST_SHOWN]


def gate(results: Results, settings: Eval, previous: Mapping[str, Any] | None) -> GateResult:
    """Whether the candidate passes eval.gate; no gate configured passes."""
    config = settings.gate
    candidate = results.targets[1].label
    reasons = []
    ok = True
    # Whatever the gate says: an eval of nothing, or one where a model answered nothing, proves nothing.
    if not results.examples:
        ok = False
        reasons.append("no held-out examples to evaluate on: nothing was compared")
    for target in results.targets:
        if results.examples and results.answer_errors.get(target.label, 0) >= len(results.examples):
            ok = False
            why = results.error_reasons.get(target.label, "no answer")
            reasons.append(f"{target.label}: every answer failed ({why}), so nothing was compared")
    if config.min_improvement is not None:
        name = config.grader or settings.graders[0].name
        comparison = results.comparisons[name][candidate]
        if comparison.verdict == stats.INSUFFICIENT or comparison.low is None:
            ok = False
            reasons.append(f"{name}: insufficient evidence ({comparison.n} examples graded, {comparison.errors} errors), so no improvement is shown")
        elif comparison.low < config.min_improvement:
            ok = False
            reasons.append(f"{name}: the lower {settings.confidence:.0%} bound of the improvement is {comparison.low:+.3f}, below the required {config.min_improvement:+.3f}")
        else:
            reasons.append(f"{name}: lower bound {comparison.low:+.3f} ≥ {config.min_improvement:+.3f}")
    if config.no_regressions:
        before = ((previous or {}).get("eval") or {}).get("passed") or {}
        if not previous:
            reasons.append("no previous release to compare with: no_regressions has nothing to hold")
        for spec in settings.graders:
            if graders.GRADERS[spec.type].kind != graders.PASS_FAIL or spec.name not in before:
                continue
            now = {e.id: g for e, g in zip(results.examples, results.grades[spec.name][candidate])}
            lost = [e for e in results.examples if e.id in set(before[spec.name]) and now[e.id].passed is False]
            if lost:
                ok = False
                where = ", ".join(f"{e.path}:{e.line}" for e in lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
                reasons.append(f"{spec.name}: {len(lost)} example{'s' if len(lost) != 1 else ''} passed with {previous.get('fine_tuned_model') if previous else 'the previous release'} and fail now ({where})")
    return GateResult(ok, tuple(reasons))


def spend(results: Results) -> tuple[dict[str, Any], float | None]:
    """Calls, tokens and USD actually spent in this run, per model and judge; the total (None if any is unpriced)."""
    by_label = {t.label: t for t in results.targets}
    rows: dict[str, Any] = {}
    costs = []
    for label, used in results.spend.items():
        target = by_label.get(label) or results.judge
        tuned = target is not None and (label in ("fine_tuned",) or label.startswith("checkpoint") or prices.fine_tuned(target.model))
        price = prices.price(target.model, target.provider.kind, tuned) if target else None
        usd = prices.usd(used.prompt_tokens, used.completion_tokens, price) if used.calls else 0.0
        costs.append(usd)
        rows[label] = {"calls": used.calls, "cached": used.cached, "prompt_tokens": used.prompt_tokens, "completion_tokens": used.completion_tokens, "usd": usd}
    return rows, (round(sum(c for c in costs if c is not None), 6) if None not in costs else None)


def eval_block(results: Results, settings: Eval, *, data: Mapping[str, Any], outcome: GateResult, best: str | None, previous_release: str | None) -> dict[str, Any]:
    """The model.json `eval` block."""
    candidate = results.targets[1].label
    per_grader = {}
    for spec in settings.graders:
        per_grader[spec.name] = {
            "type": spec.type,
            "kind": graders.GRADERS[spec.type].kind,
            "scores": {t.label: _mean([g.score for g in results.grades[spec.name].get(t.label, [])]) for t in results.targets if t.label in results.grades[spec.name]},
            "errors": {label: sum(1 for g in grades if g.score is None) for label, grades in results.grades[spec.name].items()},
            "comparisons": {label: _comparison(c) for label, c in results.comparisons[spec.name].items()},
            "worst_regressions": worst_regressions(results, spec.name, candidate),
        }
    rows, total = spend(results)
    block = {
        "data": dict(data),
        "n": len(results.examples),
        "models": [{"label": t.label, "model": t.model, "provider": t.provider.kind, "base_url": _shown(t.provider.base_url or t.provider.endpoint)} for t in results.targets],
        "baseline": results.targets[0].label,
        "candidate": candidate,
        "judge": {"model": results.judge.model, "provider": results.judge.provider.kind} if results.judge else None,
        "graders": per_grader,
        "best": best,
        "passed": {spec.name: passed_ids(results, spec.name, candidate) for spec in settings.graders if graders.GRADERS[spec.type].kind == graders.PASS_FAIL},
        "answer_errors": results.answer_errors,
        "gate": {"passed": outcome.passed, "reasons": list(outcome.reasons), "previous_release": previous_release, "min_improvement": settings.gate.min_improvement, "grader": settings.gate.grader or settings.graders[0].name, "no_regressions": settings.gate.no_regressions},
        "spend": rows,
        "cost_usd": total,
        "statistics": {"confidence": settings.confidence, "min_examples": settings.min_examples, "max_error_rate": settings.max_error_rate, "bootstrap_seed": settings.seed, "bootstrap_resamples": stats.Settings().bootstrap_resamples, "temperature": 0},
    }
    block["summary"] = headline(block)  # what the next pull request's comment shows beside its own figures
    return block


def best_model(results: Results, settings: Eval) -> str | None:
    """Among the candidates (fine-tune and kept checkpoints), the one with the best mean on the gate's grader."""
    if len(results.targets) < 3:
        return None
    name = settings.gate.grader or settings.graders[0].name
    scored = [(_mean([g.score for g in results.grades[name][t.label]]) or 0.0, -i, t.label) for i, t in enumerate(results.targets[1:]) if t.label in results.grades[name]]
    return max(scored)[2] if scored else None


# --- what people read --------------------------------------------------------------------------

VERDICT_ICONS = {stats.BETTER: "✅ better", stats.WORSE: "❌ worse", stats.NO_DIFFERENCE: "➖ no significant difference", stats.INSUFFICIENT: "⚠️ insufficient evidence"}


def _score(value: float | None, kind: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if kind == graders.PASS_FAIL else f"{value:.3f}"


def _difference(c: Mapping[str, Any]) -> str:
    if c.get("difference") is None:
        return "n/a"
    points = c["method"] in ("mcnemar", "wilson")
    fmt = (lambda v: f"{v * 100:+.1f} pt") if points else (lambda v: f"{v:+.3f}")
    return f"{fmt(c['difference'])} [{fmt(c['low'])}, {fmt(c['high'])}]"


def headline(block: Mapping[str, Any]) -> str:
    """One line: did the candidate beat the baseline, and did it pass the gate."""
    candidate, baseline = block["candidate"], block["baseline"]
    verdicts = [g["comparisons"][candidate]["verdict"] for g in block["graders"].values() if candidate in g["comparisons"]]
    summary = ", ".join(f"{name} {g['comparisons'][candidate]['verdict']}" for name, g in block["graders"].items() if candidate in g["comparisons"])
    gate_text = "passed the gate" if block["gate"]["passed"] else "did NOT pass the gate"
    word = "beat" if verdicts and all(v == stats.BETTER for v in verdicts) else "was compared with"
    return f"{candidate} {word} {baseline} on {block['n']:,} held-out examples ({summary}); it {gate_text}"


def _shown(url: str | None) -> str | None:
    """A model's base URL or endpoint as the record keeps it: without credentials or query."""
    return shown_url(url) if url else None


def _where(row: Mapping[str, Any]) -> str:
    return f"{row['path']}:{row['line']}"


def notes(block: Mapping[str, Any]) -> str:
    """The eval section of the release notes and job summary: a table read in ten seconds."""
    candidate = block["candidate"]
    gate_ok = block["gate"]["passed"]
    lines = [f"### Evaluation: {'✅ passed' if gate_ok else '❌ did not pass'}", "", headline(block) + ".", ""]
    labels = [m["label"] for m in block["models"]]
    lines.append("| grader | " + " | ".join(code(label, 40, in_table=True) for label in labels) + f" | {code(candidate, 40, in_table=True)} − {code(block['baseline'], 40, in_table=True)} ({block['statistics']['confidence']:.0%} CI) | p | verdict |")
    lines.append("|---|" + "---:|" * len(labels) + "---:|---:|---|")
    for name, g in block["graders"].items():
        c = g["comparisons"].get(candidate) or {}
        scores = " | ".join(_score(g["scores"].get(label), g["kind"]) if g["kind"] != graders.PAIRWISE else "—" for label in labels)
        if g["kind"] == graders.PAIRWISE and c.get("candidate") is not None:
            scores = " | ".join("—" if label != candidate else f"wins {c['candidate']:.0%} ({c['wins']}/{c['losses']}/{c['ties']} W/L/T)" for label in labels)
        p = f"{c['p_value']:.3g}" if c.get("p_value") is not None else "n/a"
        lines.append(f"| {code(name, 60, in_table=True)} | {scores} | {_difference(c)} | {p} | {VERDICT_ICONS.get(c.get('verdict', ''), c.get('verdict', ''))} |")
    lines.append("")
    if block["gate"]["reasons"]:
        lines += ["Gate: " + "; ".join(block["gate"]["reasons"]) + ".", ""]
    worst = [(name, r) for name, g in block["graders"].items() for r in g["worst_regressions"][:3]]
    if worst:
        lines.append("Worst regressions: " + ", ".join(f"{code(name, 40)} at {code(_where(r), 200)}" for name, r in worst[:6]) + ".")
        lines.append("")
    spent = block["spend"]
    calls = sum(r["calls"] for r in spent.values())
    cached = sum(r["cached"] for r in spent.values())
    cost = block["cost_usd"]
    money = f"USD {cost:.4f}" if cost is not None else "cost unknown (no inference price for a model)"
    data = block["data"]
    lines.append(
        f"<sub>{calls:,} calls made ({cached:,} answers from the cache), {money}. Data sha256 {data.get('sha256', '')[:16]}; "
        f"temperature 0; {block['statistics']['confidence']:.0%} intervals (McNemar exact, paired bootstrap seed {block['statistics']['bootstrap_seed']}, Wilson); "
        f"at least {block['statistics']['min_examples']} examples for a verdict."
        + (f" Best candidate: {block['best']}." if block.get("best") else "")
        + (f" Judge: {block['judge']['model']}." if block.get("judge") else "")
        + "</sub>"
    )
    return "\n".join(lines) + "\n"
