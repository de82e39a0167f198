"""Base -> head comparison of one config's check results, and the budget verdict.

Pure functions over the JSON form of a check report (README: "`finetune check` output"), so the same
code serves the action, `finetune comment` and the tests.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from finetune_action.report.comment import usd

FIGURES = ("examples", "validation_examples", "billed_tokens_per_epoch", "n_epochs", "billed_tokens", "estimated_cost_usd")
CONFIG_FIELDS = ("model", "method", "provider", "hyperparameters", "suffix", "seed", "data")


class ExampleChanges(NamedTuple):
    added: int
    removed: int
    changed: int


def example_changes(base: Mapping[str, Sequence[bytes]], head: Mapping[str, Sequence[bytes]]) -> ExampleChanges:
    """Count examples added, removed and changed between two sides, by content hash.

    Each side maps a data file to its examples' hashes in file order. Moving an example keeps
    it; an example whose hash differs from the one at the same place in the same file on the
    base counts as changed, not as one removed plus one added.
    """
    base_count = Counter(h for hashes in base.values() for h in hashes)
    head_count = Counter(h for hashes in head.values() for h in hashes)
    added = head_count - base_count
    removed = base_count - head_count
    changed = 0
    for path, head_hashes in head.items():
        base_hashes = base.get(path, ())
        for old, new in zip(base_hashes, head_hashes):
            if old != new and added[new] > 0 and removed[old] > 0:
                added[new] -= 1
                removed[old] -= 1
                changed += 1
    return ExampleChanges(sum(added.values()), sum(removed.values()), changed)


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


def config_changes(base: Mapping[str, Any] | None, head: Mapping[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """(key path, base value, head value) for each changed setting that matters to the cost or model."""
    base_flat: dict[str, Any] = {}
    head_flat: dict[str, Any] = {}
    for field in CONFIG_FIELDS:
        base_flat.update(_flatten((base or {}).get(field), field))
        head_flat.update(_flatten((head or {}).get(field), field))
    return [(k, base_flat.get(k), head_flat.get(k)) for k in sorted(set(base_flat) | set(head_flat)) if base_flat.get(k) != head_flat.get(k)]


def figures(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The headline numbers of one side, or None when the config is absent there."""
    if report is None:
        return None
    return {name: report.get(name) for name in FIGURES}


def _delta(base: float | None, head: float | None) -> float | None:
    if base is None or head is None:
        return None
    return round(head - base, 6)


def compare(base: Mapping[str, Any] | None, head: Mapping[str, Any] | None, changes: ExampleChanges) -> dict[str, Any]:
    """The base -> head comparison of one config, in JSON form."""
    if base is None and head is None:
        raise ValueError("nothing to compare")
    status = "added" if base is None else "removed" if head is None else "changed"
    base_figures, head_figures = figures(base), figures(head)
    deltas = {
        name: _delta((base_figures or {}).get(name, 0) if base is not None else 0, (head_figures or {}).get(name, 0) if head is not None else 0)
        for name in FIGURES
    }
    cfg_changes = config_changes((base or {}).get("settings"), (head or {}).get("settings")) if base and head else []
    if status == "changed" and not any(changes) and not cfg_changes and all(not d for d in deltas.values()):
        status = "unchanged"
    return {
        "status": status,
        "base": base_figures,
        "head": head_figures,
        "delta": deltas,
        "examples_added": changes.added,
        "examples_removed": changes.removed,
        "examples_changed": changes.changed,
        "config_changes": [{"key": k, "base": b, "head": h} for k, b, h in cfg_changes],
    }


LIMITS = ("max_usd", "max_increase_usd", "max_increase_pct")


def planned_cost(report: Mapping[str, Any]) -> float | None:
    """Training plus the eval after it (budget covers both); None when either is unpriced."""
    training = report.get("estimated_cost_usd")
    evaluation = report.get("eval")
    if evaluation is None or training is None:
        return training
    spent = evaluation.get("estimated_cost_usd")
    return None if spent is None else round(training + spent, 6)


def budget_violations(budget: Mapping[str, Any], base: Mapping[str, Any] | None, head: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each budget rule the head breaks, marked `new` when the base did not break it too.

    Only new violations fail a check: a PR should not be blocked by a cost it did not cause.
    A limit that cannot be judged (no USD estimate) fails closed: an `unpriced` violation, new
    unless `budget.unpriced: warn`.
    """
    head_cost = planned_cost(head or {})
    base_cost = planned_cost(base) if base else 0.0
    set_limits = [rule for rule in LIMITS if budget.get(rule) is not None]
    if head is not None and head_cost is None and set_limits:
        note = (head.get("counting") or {}).get("estimated_cost_usd") or "the cost has no USD estimate"
        fails = budget.get("unpriced", "fail") != "warn"
        return [{"rule": "unpriced", "limit": None, "value": None, "new": fails,
                 "message": f"the budget ({', '.join('budget.' + r for r in set_limits)}) cannot be evaluated: {note}. "
                            + ("To accept a cost without a USD figure, set `budget.unpriced: warn`." if fails else "Accepted by `budget.unpriced: warn`.")}]
    violations = []
    max_usd = budget.get("max_usd")
    if max_usd is not None and head_cost is not None and head_cost > max_usd:
        was = base_cost is not None and base_cost > max_usd
        violations.append({"rule": "max_usd", "limit": max_usd, "value": head_cost, "new": not was,
                           "message": f"estimated cost {usd(head_cost)} is over the budget of {usd(max_usd)}"})
    if head_cost is not None and base_cost is not None:
        increase = head_cost - base_cost
        limit = budget.get("max_increase_usd")
        if limit is not None and increase > limit:
            violations.append({"rule": "max_increase_usd", "limit": limit, "value": round(increase, 6), "new": True,
                               "message": f"cost increase {usd(increase)} is over the allowed {usd(limit)}"})
        limit = budget.get("max_increase_pct")
        if limit is not None and base_cost > 0 and increase / base_cost * 100 > limit:
            pct = increase / base_cost * 100
            violations.append({"rule": "max_increase_pct", "limit": limit, "value": round(pct, 2), "new": True,
                               "message": f"cost increase {pct:,.1f}% is over the allowed {limit:g}%"})
    return violations


def own_budget_violations(budget: Mapping[str, Any], head: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What a config breaks on its own, with no base to compare with: max_usd (or cannot tell)."""
    return budget_violations({"max_usd": budget.get("max_usd"), "unpriced": budget.get("unpriced", "fail")}, None, head)
