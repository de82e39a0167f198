from __future__ import annotations

import copy

from finetune_action.report import comment

HEAD = {
    "config": "finetune.yaml", "name": "bot", "examples": 20, "validation_examples": 4,
    "billed_tokens_per_epoch": 2000, "n_epochs": 5, "billed_tokens": 10000, "estimated_cost_usd": 0.05,
    "price": {"usd": 5.0, "per": "1M training tokens", "source": "OpenAI pricing page", "date": "2026-08-01"},
    "encoding": "o200k_base", "counting": {"tokens": "chat: per example 3 + ..."},
    "files": [{"path": "data/train.jsonl", "distributions": {"tokens_per_example": {"min": 50, "p5": 52, "median": 100, "mean": 110.5, "p95": 190, "max": 200}}}],
    "errors": [], "warnings": [{"path": "data/train.jsonl", "line": 3, "code": "missing-system", "message": "example has no system message"}],
}
BASE = dict(HEAD, examples=16, billed_tokens_per_epoch=1800, billed_tokens=9000, estimated_cost_usd=0.045, warnings=[])


def review(entry: dict) -> dict:
    return {"repository": "o/r", "server_url": "https://github.com", "head_sha": "abc123", "base": {"sha": "1234567abcdef", "note": "merge base 1234567"}, "configs": [entry]}


def entry(head=HEAD, base=BASE, violations=()) -> dict:
    return {
        "config": "finetune.yaml", "head": head, "base": base,
        "diff": {"delta": {"estimated_cost_usd": 0.005}, "examples_added": 2, "examples_removed": 0, "examples_changed": 1,
                 "config_changes": [{"key": "hyperparameters.n_epochs", "base": "auto", "head": 5}]},
        "budget": {"limits": {"max_usd": 5.0, "max_increase_usd": None, "max_increase_pct": 50.0}, "violations": list(violations)},
    }


def test_comment_has_verdict_table_budget_and_footnote() -> None:
    e = entry()
    body = comment.render(review(e), e)
    first = body.splitlines()[0]
    assert first.startswith("### ✅ finetune check: `finetune.yaml`: passed, 1 warning; estimated $0.0500 (+$0.0050 vs base)")
    assert "| Training examples | 16 | 20 | +4 (+25%) |" in body
    assert "**2** added, **0** removed, **1** changed" in body
    assert "`hyperparameters.n_epochs`: `auto` → `5`" in body
    assert "**Budget:** within limits (max $5.00, increase ≤ 50%)" in body
    assert "[data/train\\.jsonl:3](https://github.com/o/r/blob/abc123/data/train.jsonl#L3)" in body
    assert "<details><summary>Token distributions</summary>" in body and "| 50 | 52 | 100 | 110.5 | 190 | 200 |" in body
    assert "OpenAI pricing page, 2026\\-08\\-01" in body and "merge base 1234567" in body
    assert "<details><summary>What the numbers rest on</summary>" in body and "**tokens**: chat: per example 3" in body


def test_errors_and_budget_verdicts() -> None:
    head = dict(HEAD, errors=[{"path": "data/train.jsonl", "line": 9, "code": "invalid-json", "message": "x"}])
    e = entry(head=head)
    assert comment.render(review(e), e).startswith("### ❌ finetune check: `finetune.yaml`: 1 error in the data")
    e = entry(violations=[{"rule": "max_usd", "new": True, "message": "estimated cost $9.00 is over the budget of $5.00"}])
    body = comment.render(review(e), e)
    assert body.startswith("### 💸") and "❌ new: estimated cost $9\\.00 is over the budget of $5\\.00" in body


def test_new_and_removed_configs() -> None:
    e = entry(base=None)
    body = comment.render(review(e), e)
    assert "| Training examples | — | 20 |" in body and "New config in this pull request" in body
    e = entry(head=None)
    assert comment.render(review(e), e).startswith("### ➖ finetune check: `finetune.yaml` was removed")


def test_no_base_is_not_a_new_config() -> None:
    e = dict(entry(base=None), diff=None)
    body = comment.render(dict(review(e), base={"sha": None, "note": "the base commit 1234567 is not in this clone"}), e)
    assert "No base to compare with (the base commit 1234567 is not in this clone)" in body
    assert "New config" not in body and "**2** added" not in body and "| | head |" in body and "| Training examples | 20 |" in body


def test_unset_settings_are_not_python_none() -> None:
    e = entry()
    e["diff"]["config_changes"] = [{"key": "seed", "base": None, "head": 3}, {"key": "hyperparameters.batch_size", "base": 8, "head": None},
                                   {"key": "data.validation", "base": [], "head": ["data/a.jsonl", "data/b.jsonl"]}]
    body = comment.render(review(e), e)
    assert "None" not in body and "[" not in body.split("Config changes:")[1].split("**Budget")[0]
    assert "`data.validation`: `none` → `data/a.jsonl, data/b.jsonl`" in body
    assert "`seed`: `not set` → `3`" in body and "`hyperparameters.batch_size`: `8` → `auto (not set)`" in body


def test_problems_are_grouped_with_a_count_per_code() -> None:
    errors = [{"path": "d.jsonl", "line": i, "code": "invalid-json", "message": "m"} for i in range(1, 4)]
    errors += [{"path": "d.jsonl", "line": 9, "code": "invalid-role", "message": "r"}]
    e = entry(head=dict(HEAD, errors=errors, problem_counts={"invalid-json": 40, "invalid-role": 1, "missing-system": 1}))
    body = comment.render(review(e), e)
    assert body.startswith("### ❌ finetune check: `finetune.yaml`: 41 errors in the data")
    assert "**Errors (41):**\n- `invalid-json` (40)\n  - [d\\.jsonl:1]" in body
    assert "  - … and 37 more" in body and "- `invalid-role` (1)\n  - [d\\.jsonl:9]" in body


def test_untrusted_data_cannot_break_out() -> None:
    evil = "@someone </details> <script>x</script> ::error::owned ``` `"
    head = copy.deepcopy(HEAD)
    head["errors"] = [{"path": "data/</details>.jsonl", "line": 1, "code": "invalid-json", "message": evil}]
    head["files"][0]["path"] = "data/`|</details>.jsonl"
    e = entry(head=head)
    body = comment.render(review(e), e)
    assert "@someone" not in body and "<script>" not in body and "::error::" not in body
    assert body.count("</details>") == body.count("<details>") == 2


def test_comment_stays_under_the_limit_and_summary_keeps_everything() -> None:
    head = dict(HEAD, errors=[{"path": "d.jsonl", "line": i, "code": "invalid-json", "message": "m" * 200} for i in range(5000)])
    e = entry(head=head)
    body = comment.render(review(e), e)
    assert len(body) < comment.COMMENT_LIMIT and "and 4,990 more" in body
    small = comment.render(review(e), e, full=True)
    assert small.count("invalid\\-json") == 0 and "- `invalid-json` (5,000)" in small
    assert small.count("(https://github.com/o/r/blob/abc123/d.jsonl#L") == 5000
    cut = comment.truncate_middle(small, 20_000)
    assert len(cut) <= 20_000 and "characters cut from the middle" in cut
    assert comment.render_summary(review(e), 2_000_000).count("(https://github.com/o/r/blob/abc123/d.jsonl#L") == 5000  # all, where it fits


def test_a_summary_too_big_for_github_keeps_every_configs_verdict() -> None:
    """Cut at its end, a summary lost every config after a big one; now each keeps its headline,
    table and footnote, the small ones stay whole, and the whole fits GitHub's limit in bytes."""
    big = dict(HEAD, errors=[{"path": "d.jsonl", "line": i, "code": "invalid-json", "message": "é" * 200} for i in range(5000)])
    entries = [dict(entry(head=big), config="big.yaml"), dict(entry(), config="second.yaml"), dict(entry(head=big), config="third.yaml")]
    whole = [comment.render(review(e), e, full=True) for e in entries]
    limit = 400_000
    assert sum(len(section.encode()) for section in whole) > limit
    summary = comment.render_summary({**review(entries[0]), "configs": entries}, limit)
    assert len(summary.encode()) <= limit
    assert summary.count("### ❌ finetune check:") == 2 and summary.count("### ✅ finetune check:") == 1
    assert whole[1] in summary  # the small config is whole
    assert summary.count("cut from the middle to fit GitHub's 1 MiB step summary") == 2
    assert summary.count("<details>") == summary.count("</details>")
    assert summary.count("Estimates: tokens counted offline") == 3  # every footnote kept
    assert comment.render_summary({**review(entries[0]), "configs": entries[1:2]}, limit) == whole[1]


def test_the_default_summary_limit_is_githubs_1_mib() -> None:
    big = dict(HEAD, errors=[{"path": "d.jsonl", "line": i, "code": "invalid-json", "message": "m" * 400} for i in range(3000)])
    entries = [dict(entry(head=big), config=f"c{n}.yaml") for n in range(2)]
    summary = comment.render_summary({**review(entries[0]), "configs": entries})
    assert len(summary.encode()) <= 1024 * 1024 - 1024 and summary.count("### ❌ finetune check:") == 2


def test_truncation_closes_an_open_details() -> None:
    body = "start\n" + "<details>\n" + "row\n" * 5000 + "</details>\nend\n"
    cut = comment.truncate_middle(body, 2000)
    assert cut.count("<details>") == cut.count("</details>") and cut.endswith("end\n")
