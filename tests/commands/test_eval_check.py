"""The eval in the PR check: no provider call, leakage an error, the eval priced beside training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.repo import chat_examples, commit, minimal_config, run_finetune, write_files
from tests.commands.conftest import PR, REPO, TOKEN, run_pr_check as check

EVAL = {"data": "data/eval.jsonl", "graders": ["normalised_match", {"type": "judge_pairwise"}], "judge": "gpt-4.1-2025-04-14"}


def held_out(count: int) -> list[dict]:
    return chat_examples(count, "held-out tea")


def test_leakage_is_caught_in_the_pr_check(repo, tmp_path, github) -> None:
    work, base = repo
    leaked = held_out(30)
    # The same example as data/train.jsonl line 3, but with other case and spacing.
    leaked[5] = json.loads(json.dumps(chat_examples(20)[2]).replace("Question", "QUESTION  "))
    head = commit(work, {"finetune.yaml": minimal_config(eval=EVAL), "data/eval.jsonl": leaked}, "eval with a leak")
    result = check(work, tmp_path, github, base, head)
    assert result.run.returncode == 1
    body = github.comments(REPO, PR)[0]["body"]
    assert "- `eval-leakage` (1)\n  - [data/eval\\.jsonl:6](" in body and ") the same example is trained on at data/train\\.jsonl:3" in body
    assert "Traceback" not in result.run.stderr


def test_eval_priced_beside_training_and_under_the_budget(repo, tmp_path, github) -> None:
    work, base = repo
    head = commit(work, {"finetune.yaml": minimal_config(eval=EVAL, budget={"max_usd": 100}), "data/eval.jsonl": held_out(30)}, "eval")
    result = check(work, tmp_path, github, base, head)
    assert result.run.returncode == 0, result.run.stdout
    body = github.comments(REPO, PR)[0]["body"]
    assert "**Eval after training:** 30 held-out examples, 120 calls" in body
    assert "(fine-tuned rate)" in body and "training + eval $" in body
    report = json.loads((work / result.outputs["report-path"]).read_text())
    estimate = report["configs"][0]["head"]["eval"]
    base_row, tuned_row, judge_row = estimate["models"]
    assert (base_row["calls"], tuned_row["calls"], judge_row["calls"]) == (30, 30, 60)
    # Same tokens, but a fine-tune costs more per token than its base.
    assert tuned_row["prompt_tokens"] == base_row["prompt_tokens"] and tuned_row["estimated_cost_usd"] > base_row["estimated_cost_usd"]
    over = commit(work, {"finetune.yaml": minimal_config(eval=EVAL, budget={"max_usd": report["configs"][0]["head"]["estimated_cost_usd"]})}, "tight")
    assert check(work, tmp_path / "b", github, base, over).run.returncode == 1  # training alone fits; with the eval it does not


def test_check_reports_bad_eval_examples_and_split_out_examples(tmp_path: Path) -> None:
    from testing.repo import init_repo

    repo = init_repo(tmp_path / "repo")
    bad = held_out(3) + [{"messages": [{"role": "user", "content": "no answer"}]}, {"prompt": "x"}]
    write_files(repo, {"data/train.jsonl": chat_examples(100), "data/eval.jsonl": bad, "finetune.yaml": minimal_config(eval={"data": "data/eval.jsonl", "graders": ["exact_match"]})})
    result = run_finetune("check", "--format", "json", cwd=repo)
    config = json.loads(result.stdout)["configs"][0]
    codes = {(p["line"], p["code"]) for p in config["errors"] + config["warnings"]}
    assert {(4, "eval-no-reference"), (5, "eval-not-chat"), (None, "eval-too-few-examples")} <= codes
    assert result.returncode == 1
    write_files(repo, {"finetune.yaml": minimal_config(eval={"split": {"fraction": 0.25, "seed": 3}, "graders": ["exact_match"]})})
    split = json.loads(run_finetune("check", "--format", "json", cwd=repo).stdout)["configs"][0]
    assert split["eval"]["examples"] + split["examples"] == 100 and 10 < split["eval"]["examples"] < 40


def test_the_comment_shows_the_current_releases_eval_line(repo, tmp_path, github) -> None:
    from finetune_action.github import api, releases

    record = {"name": "support-bot", "fine_tuned_model": "ft:gpt-4.1-mini-2025-04-14:acme::old", "eval": {"gate": {"passed": True}, "summary": "fine_tuned beat base on 40 held-out examples (exact_match better); it passed the gate"}}
    client = api.client_from_env({"GITHUB_API_URL": github.base_url}, TOKEN)
    releases.publish_release(client, REPO, "support-bot-2026-11-30-abc1234", "support-bot", "notes", [releases.Asset("model.json", json.dumps(record).encode())])
    client.close()
    work, base = repo
    head = commit(work, {"finetune.yaml": minimal_config(eval=EVAL), "data/eval.jsonl": held_out(30)}, "eval")
    assert check(work, tmp_path, github, base, head).run.returncode == 0
    body = github.comments(REPO, PR)[0]["body"]
    assert "Current release `support-bot-2026-11-30-abc1234` (`ft:gpt-4.1-mini-2025-04-14:acme::old`): fine\\_tuned beat base on 40 held\\-out examples" in body


def test_an_eval_model_that_stops_serving_is_said_before_it_can_no_longer_be_compared(tmp_path: Path) -> None:
    """The replacement can be measured against a retiring fine-tune only while it still answers."""
    from testing.repo import init_repo

    repo = init_repo(tmp_path / "repo")
    evaluation = {
        "data": "data/eval.jsonl", "graders": ["exact_match", {"type": "judge_pairwise"}], "judge": {"model": "gpt-4.1-2025-04-14", "provider": "openai"},
        "models": [
            {"model": "ft:gpt-4o-mini-2024-07-18:acme:support:abc123", "label": "retiring", "provider": "openai"},
            "fine_tuned",
            # Someone else's deployment behind a base_url: the catalogue's dates are not its own.
            {"model": "gpt-4o-mini", "label": "gateway", "provider": {"type": "openai", "base_url": "https://gateway.example/v1"}},
        ],
    }
    write_files(repo, {"data/train.jsonl": chat_examples(20), "data/eval.jsonl": held_out(30),
                       "finetune.yaml": minimal_config(provider="together", model="openai/gpt-oss-20b", eval=evaluation)})
    commit(repo, {}, "data")

    def retiring(today: str) -> tuple[list[str], str]:
        result = run_finetune("check", "--today", today, cwd=repo)
        assert "Traceback" not in result.stderr
        document = json.loads(run_finetune("check", "--today", today, "--format", "json", cwd=repo).stdout)["configs"][0]
        return [w["message"] for w in document["warnings"] if w["code"] == "eval-model-retiring"], result.stdout

    far, _text = retiring("2026-07-01")
    assert far == []
    soon, text = retiring("2026-12-05")
    assert [m.split(" stops serving")[0] for m in soon] == ["eval model retiring ft:gpt-4o-mini-2024-07-18:acme:support:abc123", "eval judge gpt-4.1-2025-04-14"]
    assert "stops serving at OpenAI on 2027-01-14, in 40 days (OpenAI" in soon[0]
    assert soon[0].endswith("only until then can the eval compare it with its replacement; run `finetune eval` before 2027-01-14 (its answers stay in the eval cache)")
    assert soon[1].endswith("after that, its verdicts on answers it has not judged yet are errors; choose another eval.judge before then")
    assert "  ! eval-model-retiring: eval model retiring" in text  # at the top, with the lifecycle's own
    after, text = retiring("2027-01-20")
    assert "stopped serving at OpenAI on 2027-01-14 (OpenAI" in after[0]
    assert after[0].endswith("the eval has only the answers it gave before then, kept in the eval cache (.finetune-cache/eval); every other one is an error")
    assert after[1].endswith("its verdicts on answers it has not judged yet are errors; choose another eval.judge")
    assert text.startswith("Checking finetune.yaml: passed") or "eval-model-retiring" in text  # a warning: it fails nothing
    without_judge = dict(evaluation, graders=["exact_match"])
    write_files(repo, {"finetune.yaml": minimal_config(provider="together", model="openai/gpt-oss-20b", eval=without_judge)})
    commit(repo, {}, "no judge grader")
    unasked, _text = retiring("2026-12-05")
    assert [m.split(" stops serving")[0] for m in unasked] == ["eval model retiring ft:gpt-4o-mini-2024-07-18:acme:support:abc123"]  # a judge no grader asks is not warned of


def test_an_eval_model_that_stops_serving_is_an_alert_atop_the_pr_comment(repo, tmp_path, github) -> None:
    work, base = repo
    evaluation = dict(EVAL, models=["base", "fine_tuned", {"model": "ft:gpt-4o-mini-2024-07-18:acme:support:abc123", "label": "retiring"}, "gpt-4o-mini-2024-07-18"])
    head = commit(work, {"finetune.yaml": minimal_config(eval=evaluation), "data/eval.jsonl": held_out(30)}, "eval against the retiring fine-tune")
    result = check(work, tmp_path, github, base, head, env={"FINETUNE_TODAY": "2026-12-05"})
    assert result.run.returncode == 0, result.run.stdout
    body = github.comments(REPO, PR)[0]["body"]
    assert ("> [!WARNING]\n> `eval-model-retiring` eval model retiring ft:gpt\\-4o\\-mini\\-2024\\-07\\-18:acme:support:abc123 "
            "stops serving at OpenAI on 2027\\-01\\-14, in 40 days") in body
    assert "> `eval-model-retiring` eval judge gpt\\-4\\.1\\-2025\\-04\\-14 stops serving" in body
    assert "> `eval-model-retiring` eval model gpt\\-4o\\-mini\\-2024\\-07\\-18 stops serving" in body  # its label is its id: named once
    assert body.index("eval-model-retiring") < body.index("| Training examples |")  # atop, with the model's own lifecycle


@pytest.mark.parametrize("provider, model, tokenizer", [
    ("together", "openai/gpt-oss-20b", "o200k_harmony"),
    ("together", "Qwen/Qwen3-8B", "qwen3"),
    ("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct", "llama3"),
    ("fireworks", "accounts/fireworks/models/qwen2p5-7b-instruct", "qwen2"),
])
def test_an_eval_of_an_open_model_is_priced_with_its_tokenizer(tmp_path: Path, provider: str, model: str, tokenizer: str) -> None:
    """The eval block of a config moved to Together or Fireworks: its prompts are counted with the
    open model's tokenizer and chat template (the check stopped with "no bundled token rank file
    for encoding 'o200k_harmony'": a tokenizer's name looked up as an encoding's)."""
    from testing.repo import init_repo

    repo = init_repo(tmp_path / "repo")
    write_files(repo, {"data/train.jsonl": chat_examples(40), "finetune.yaml": minimal_config(provider=provider, model=model, eval={"split": {"fraction": 0.25, "seed": 1}, "graders": ["exact_match"]})})
    result = run_finetune("check", "--format", "json", cwd=repo)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["configs"][0]["eval"]["models"]
    assert [(r["label"], r["tokenizer"]) for r in rows] == [("base", tokenizer), ("fine_tuned", tokenizer)]
    assert rows[0]["prompt_tokens"] > 0 and rows[0]["prompt_tokens"] == rows[1]["prompt_tokens"]


def test_held_out_lines_are_read_as_training_lines_are(tmp_path: Path) -> None:
    """A BOM, CRLF and blank lines are fine; a line that is not UTF-8 is invalid-utf8 at its byte
    and column (it was invalid-json, "str is not valid UTF-8: surrogates not allowed"), and text
    after the object is trailing-data."""
    from testing.repo import init_repo

    repo = init_repo(tmp_path / "repo")
    good = json.dumps(held_out(1)[0]).encode()
    (repo / "data").mkdir()
    (repo / "data" / "eval.jsonl").write_bytes(
        b"\xef\xbb\xbf" + good + b"\r\n" + good.replace(b"tea", b"t\xffa", 1) + b"\r\n\r\n" + good + b" {}\n" + b'{"messages": [\n'
    )
    write_files(repo, {"data/train.jsonl": chat_examples(100), "finetune.yaml": minimal_config(eval={"data": "data/eval.jsonl", "graders": ["exact_match"]})})
    result = run_finetune("check", "--format", "json", cwd=repo)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    config = json.loads(result.stdout)["configs"][0]
    found = [(p["line"], p["code"], p["message"]) for p in config["errors"] if p["path"] == "data/eval.jsonl"]
    column = good.index(b"tea") + 2
    assert found == [
        (2, "invalid-utf8", f"invalid UTF-8 at byte {column}: save the file as UTF-8"),
        (4, "trailing-data", "unexpected text after the JSON object; put one example per line"),
        (5, "invalid-json", "invalid JSON: Expecting value"),
    ]
    assert config["eval"]["examples"] == 1
