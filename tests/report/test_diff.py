from __future__ import annotations

from finetune_action.report import diff


def h(*names: str) -> list[bytes]:
    return [n.encode().ljust(8, b"_") for n in names]


def test_example_changes_by_content_hash() -> None:
    base = {"train.jsonl": h("a", "b", "c", "d")}
    head = {"train.jsonl": h("a", "B", "c", "d", "e")}
    assert diff.example_changes(base, head) == diff.ExampleChanges(added=1, removed=0, changed=1)


def test_moved_examples_are_not_changes() -> None:
    base = {"train.jsonl": h("a", "b", "c")}
    head = {"train.jsonl": h("c", "a", "b")}
    assert diff.example_changes(base, head) == (0, 0, 0)


def test_insertion_at_the_top_is_one_added() -> None:
    base = {"train.jsonl": h("a", "b", "c")}
    head = {"train.jsonl": h("new", "a", "b", "c")}
    assert diff.example_changes(base, head) == (1, 0, 0)


def test_examples_moving_between_files_and_removed_files() -> None:
    base = {"a.jsonl": h("a", "b"), "b.jsonl": h("c")}
    head = {"a.jsonl": h("a", "b", "c")}
    assert diff.example_changes(base, head) == (0, 0, 0)
    assert diff.example_changes(head, {}) == (0, 3, 0)


def report(cost: float | None, examples: int = 10, **settings) -> dict:
    return {"examples": examples, "validation_examples": 0, "billed_tokens_per_epoch": 1000, "n_epochs": 3,
            "billed_tokens": 3000, "estimated_cost_usd": cost,
            "settings": {"model": "gpt-4o", "method": "supervised", "hyperparameters": {}, **settings}}


def test_compare_reports_figures_and_config_changes() -> None:
    result = diff.compare(report(1.0), report(1.5, examples=12, hyperparameters={"n_epochs": 4}), diff.ExampleChanges(2, 0, 0))
    assert result["status"] == "changed"
    assert result["delta"]["estimated_cost_usd"] == 0.5 and result["delta"]["examples"] == 2
    assert result["config_changes"] == [{"key": "hyperparameters.n_epochs", "base": None, "head": 4}]


def test_compare_unchanged_new_and_removed() -> None:
    assert diff.compare(report(1.0), report(1.0), diff.ExampleChanges(0, 0, 0))["status"] == "unchanged"
    added = diff.compare(None, report(2.0), diff.ExampleChanges(10, 0, 0))
    assert added["status"] == "added" and added["base"] is None and added["delta"]["estimated_cost_usd"] == 2.0
    assert diff.compare(report(2.0), None, diff.ExampleChanges(0, 10, 0))["status"] == "removed"


def test_unknown_cost_has_no_delta() -> None:
    assert diff.compare(report(None), report(1.0), diff.ExampleChanges(0, 0, 0))["delta"]["estimated_cost_usd"] is None


def test_budget_only_new_violations_fail() -> None:
    budget = {"max_usd": 10.0, "max_increase_usd": 2.0, "max_increase_pct": 50.0}
    old = diff.budget_violations(budget, report(12.0), report(12.5))
    assert [(v["rule"], v["new"]) for v in old] == [("max_usd", False)]
    new = diff.budget_violations(budget, report(4.0), report(11.0))
    assert [(v["rule"], v["new"]) for v in new] == [("max_usd", True), ("max_increase_usd", True), ("max_increase_pct", True)]
    assert "over the budget of $10.00" in new[0]["message"]


def test_budget_for_a_new_config_and_unknown_cost() -> None:
    assert diff.budget_violations({"max_usd": 1.0, "max_increase_usd": None, "max_increase_pct": 10.0}, None, report(2.0))[0]["new"]
    # A limit that cannot be judged fails closed, unless the config accepts it.
    [unpriced] = diff.budget_violations({"max_usd": 1.0, "max_increase_usd": 1.0, "max_increase_pct": 1.0}, report(None), report(None))
    assert unpriced["rule"] == "unpriced" and unpriced["new"] and "cannot be evaluated" in unpriced["message"]
    assert "budget.unpriced: warn" in unpriced["message"]
    [accepted] = diff.budget_violations({"max_usd": 1.0, "unpriced": "warn"}, None, report(None))
    assert not accepted["new"]
    assert diff.budget_violations({"max_usd": None}, None, report(None)) == []  # no limit, nothing to judge
