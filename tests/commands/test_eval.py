"""Evaluation end to end: the action and `finetune eval` as subprocesses, against the fine-tuning
stand-in, the chat-completions stand-in and the GitHub stand-in over real HTTP."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing import chat_standin
from testing.chat_standin import ChatStandIn, Script
from testing.github_standin import GitHubStandIn
from testing.openai_standin import StandIn, serve
from testing.repo import Run, chat_examples, commit, finetune_command, init_repo, minimal_config, run_finetune
from tests.commands.conftest import REPO
from tests.commands.test_train import FAST, KEY, no_secrets, train_action

BASE = "gpt-4.1-mini-2025-04-14"
TUNED = "ft:gpt-4.1-mini-2025-04-14:acme:support-bot:e1"
JUDGE = "gpt-4.1-2025-04-14"
HELD_OUT = chat_examples(60, "held-out tea")
REFERENCES = {e["messages"][1]["content"]: e["messages"][2]["content"] for e in HELD_OUT}


@pytest.fixture
def chat() -> Iterator[ChatStandIn]:
    with chat_standin.serve(REFERENCES, api_key=KEY) as server:
        server.script(BASE, Script(accuracy=0.3))
        server.script(TUNED, Script(accuracy=0.9))
        server.script(JUDGE, Script(judge=True, position_bias=0.3))
        yield server


@pytest.fixture
def openai_standin() -> Iterator[StandIn]:
    with serve(api_key=KEY) as server:
        yield server


def eval_block(chat: ChatStandIn, **overrides) -> dict:
    """eval: with every model answering at the chat stand-in (training happens at the other one)."""
    at_chat = {"type": "openai", "base_url": chat.base_url}
    block = {
        "data": "data/eval.jsonl",
        "graders": ["exact_match", {"type": "judge_pairwise", "name": "preferred"}],
        "models": [{"model": "base", "provider": at_chat}, {"model": "fine_tuned", "provider": at_chat}],
        "judge": {"model": JUDGE, "provider": at_chat},
        "concurrency": 4,
    }
    block.update(overrides)
    return block


def trained_repo(tmp_path: Path, chat: ChatStandIn, held_out: list[dict] = HELD_OUT, **overrides) -> tuple[Path, str]:
    repo = init_repo(tmp_path / "work")
    config = minimal_config(wait=FAST, hyperparameters={"n_epochs": 2}, eval=eval_block(chat, **overrides))
    sha = commit(repo, {"finetune.yaml": config, "data/train.jsonl": chat_examples(20), "data/eval.jsonl": held_out}, "data")
    return repo, sha


def test_train_then_eval_then_release_with_the_eval_table(tmp_path, github: GitHubStandIn, openai_standin: StandIn, chat: ChatStandIn) -> None:
    repo, sha = trained_repo(tmp_path, chat, gate={"min_improvement": 0.2})
    openai_standin.script_job(fine_tuned_model=TUNED)
    run = train_action(repo, tmp_path, github, openai_standin, sha)
    assert run.run.returncode == 0, run.run.stdout + run.run.stderr
    assert run.outputs["eval-passed"] == "true" and run.outputs["eval-summary"].startswith(f"fine_tuned beat base on 60 held-out examples")
    model = json.loads((repo / run.outputs["model-json"]).read_text())
    block = model["eval"]
    assert block["n"] == 60 and block["models"][1]["model"] == TUNED and block["judge"]["model"] == JUDGE
    exact = block["graders"]["exact_match"]
    assert exact["comparisons"]["fine_tuned"]["verdict"] == "better" and exact["comparisons"]["fine_tuned"]["low"] >= 0.2
    assert exact["scores"]["fine_tuned"] > exact["scores"]["base"]
    assert block["graders"]["preferred"]["comparisons"]["fine_tuned"]["method"] == "wilson"
    assert block["spend"]["fine_tuned"]["calls"] == 60 and block["cost_usd"] > 0
    assert len(block["passed"]["exact_match"]) == round(exact["scores"]["fine_tuned"] * 60)
    [release] = github.releases(REPO)
    assert "### Evaluation: ✅ passed" in release["body"] and "| `exact_match` |" in release["body"] and "✅ better" in release["body"]
    assert json.loads(github.asset_bytes(REPO, release["tag_name"], "model.json"))["eval"]["gate"]["passed"] is True
    assert "### Evaluation" in run.summary
    # Only the chat stand-in answered prompts; nothing was asked of the fine-tuning one.
    assert {c.model for c in chat.calls} == {BASE, TUNED, JUDGE}
    no_secrets(run.run)


def test_a_failing_gate_exits_1_after_recording_and_releasing(tmp_path, github, openai_standin, chat) -> None:
    chat.script(TUNED, Script(accuracy=0.3, latency=0))  # no better than its base
    repo, sha = trained_repo(tmp_path, chat, gate={"min_improvement": 0.05})
    openai_standin.script_job(fine_tuned_model=TUNED)
    run = train_action(repo, tmp_path, github, openai_standin, sha)
    assert run.run.returncode == 1
    assert run.outputs["eval-passed"] == "false" and run.outputs["model-id"] == TUNED
    [release] = github.releases(REPO)
    assert release["name"].endswith("(did not pass the eval gate)") and "### Evaluation: ❌ did not pass" in release["body"]
    model = json.loads(github.asset_bytes(REPO, release["tag_name"], "model.json"))
    assert model["fine_tuned_model"] == TUNED and model["eval"]["gate"]["passed"] is False
    assert "below the required +0.050" in " ".join(model["eval"]["gate"]["reasons"]) or "insufficient" in " ".join(model["eval"]["gate"]["reasons"])
    assert "did not pass the eval gate" in run.run.stdout and "kept" in run.run.stdout
    assert not [r for r in openai_standin.requests if r.method == "DELETE"]  # the model is never deleted


def eval_cli(repo: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return run_finetune("eval", "finetune.yaml", *args, cwd=repo, env={**_clean_env(), "OPENAI_API_KEY": KEY, **(env or {})})


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "OPENAI_", "AZURE_"))}


def cli_repo(tmp_path: Path, chat: ChatStandIn, held_out: list[dict] = HELD_OUT, **overrides) -> Path:
    repo = init_repo(tmp_path / "cli")
    at_chat = {"type": "openai", "base_url": chat.base_url}
    models = [{"model": BASE, "label": "base", "provider": at_chat}, {"model": TUNED, "label": "fine_tuned", "provider": at_chat}]
    block = eval_block(chat, **{"models": models, **overrides})
    commit(repo, {"finetune.yaml": minimal_config(eval=block), "data/train.jsonl": chat_examples(20), "data/eval.jsonl": held_out}, "data")
    return repo


def test_insufficient_evidence_below_the_minimum(tmp_path, chat) -> None:
    repo = cli_repo(tmp_path, chat, held_out=HELD_OUT[:12])
    run = eval_cli(repo)
    assert run.returncode == 0, run.stderr  # no gate: a verdict, not a failure
    record = json.loads((repo / "finetune-output/support-bot/eval.json").read_text())
    assert {g["comparisons"]["fine_tuned"]["verdict"] for g in record["graders"].values()} == {"insufficient evidence"}
    assert "⚠️ insufficient evidence" in run.stdout and "at least 30 examples" in run.stdout


def test_a_rerun_is_served_from_the_cache(tmp_path, chat) -> None:
    repo = cli_repo(tmp_path, chat)
    first = eval_cli(repo)
    assert first.returncode == 0, first.stderr
    asked = len(chat.calls)
    assert 120 < asked <= 240  # both models, then the judge in both orders (identical requests asked once)
    again = eval_cli(repo)
    assert again.returncode == 0 and len(chat.calls) == asked  # zero calls
    assert "0 calls made" in again.stdout
    first_record = json.loads((repo / "finetune-output/support-bot/eval.json").read_text())
    assert first_record["graders"]["exact_match"]["comparisons"] == json.loads((repo / "finetune-output/support-bot/eval.json").read_text())["graders"]["exact_match"]["comparisons"]
    # A corrupt entry is asked again, not trusted.
    entry = next((repo / ".finetune-cache/eval").rglob("*.json"))
    entry.write_text("{not json")
    assert eval_cli(repo).returncode == 0 and len(chat.calls) == asked + 1


def test_killed_mid_eval_resumes_and_pays_for_nothing_twice(tmp_path, chat) -> None:
    chat.script(BASE, Script(accuracy=0.3, latency=0.05))
    repo = cli_repo(tmp_path, chat, graders=["exact_match"], concurrency=2)
    process = subprocess.Popen([*finetune_command(), "eval", "finetune.yaml"], cwd=repo, env={**_clean_env(), "OPENAI_API_KEY": KEY}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(chat.answered) < 10:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "eval stopped by SIGTERM" in err and "paying only for what is missing" in err and "Traceback" not in err
    stopped_at = len(chat.answered)
    assert stopped_at < 120
    resumed = eval_cli(repo)
    assert resumed.returncode == 0, resumed.stderr
    assert len(chat.answered) == 120 and chat.billed_twice() == []


def test_429_and_5xx_are_retried_and_unreadable_judges_are_errors(tmp_path, chat) -> None:
    chat.script(JUDGE, Script(judge=True, broken=0.5))
    repo = cli_repo(tmp_path, chat)
    chat.fail(429, 2)
    chat.fail(500, 1)
    run = eval_cli(repo)
    assert run.returncode == 0, run.stderr
    assert len(chat.calls) == len(chat.answered) + 3
    record = json.loads((repo / "finetune-output/support-bot/eval.json").read_text())
    preferred = record["graders"]["preferred"]
    # Half the judge replies cannot be read: errors, never a win or a loss, so no verdict.
    assert preferred["errors"]["fine_tuned"] > 10 and preferred["comparisons"]["fine_tuned"]["verdict"] == "insufficient evidence"
    assert record["graders"]["exact_match"]["comparisons"]["fine_tuned"]["verdict"] == "better"


def test_compare_a_retiring_openai_fine_tune_with_a_replacement_elsewhere(tmp_path, chat) -> None:
    replacement = "accounts/acme/models/support-bot-llama"
    with chat_standin.serve(REFERENCES, api_key="fw-key-0123456789") as fireworks:
        fireworks.script(replacement, Script(accuracy=0.92))
        repo = cli_repo(tmp_path, chat, graders=["exact_match"], models=[
            {"model": TUNED, "label": "retiring", "provider": {"type": "openai", "base_url": chat.base_url}},
            {"model": replacement, "label": "replacement", "provider": {"type": "openai", "base_url": fireworks.base_url, "api_key_env": "FIREWORKS_API_KEY"}},
        ])
        run = eval_cli(repo, "--models", "retiring", "replacement", env={"FIREWORKS_API_KEY": "fw-key-0123456789"})
        assert run.returncode == 0, run.stderr
        assert {c.model for c in fireworks.calls} == {replacement} and {c.model for c in chat.calls} == {TUNED}
    record = json.loads((repo / "finetune-output/support-bot/eval.json").read_text())
    assert [m["label"] for m in record["models"]] == ["retiring", "replacement"]
    assert record["graders"]["exact_match"]["comparisons"]["replacement"]["verdict"] == "no significant difference"
    assert "fw-key-0123456789" not in run.stdout + run.stderr


def test_eval_without_an_eval_block_or_a_fine_tune_says_what_to_do(tmp_path, chat) -> None:
    repo = init_repo(tmp_path / "plain")
    commit(repo, {"finetune.yaml": minimal_config(), "data/train.jsonl": chat_examples(20)}, "data")
    run = eval_cli(repo)
    assert run.returncode == 2 and "no `eval:` block" in run.stderr
    commit(repo, {"finetune.yaml": minimal_config(eval={"split": {"fraction": 0.5}, "graders": ["exact_match"]})}, "eval")
    run = eval_cli(repo)
    assert run.returncode == 2 and "Train first, or name the models" in run.stderr and "Traceback" not in run.stderr


def test_no_regressions_against_the_previous_release_read_from_its_model_json(tmp_path, github, openai_standin, chat) -> None:
    repo, sha = trained_repo(tmp_path, chat, graders=["exact_match"], gate={"no_regressions": True})
    openai_standin.script_job(fine_tuned_model=TUNED)
    first = train_action(repo, tmp_path, github, openai_standin, sha)
    assert first.run.returncode == 0, first.run.stdout
    assert "no earlier release of this config passed its eval" in first.run.stdout
    # New data, a new fine-tune as accurate on average but wrong on other examples.
    successor = "ft:gpt-4.1-mini-2025-04-14:acme:support-bot:e2"
    chat.script(successor, Script(accuracy=0.9))
    openai_standin.script_job(fine_tuned_model=successor)
    sha2 = commit(repo, {"data/train.jsonl": chat_examples(21)}, "one more example")
    second = train_action(repo, tmp_path / "2", github, openai_standin, sha2)
    assert second.run.returncode == 1
    first_tag = f"support-bot-2026-01-01-{sha[:7]}"
    assert f"eval: previous release {first_tag} ({TUNED})" in second.run.stdout
    releases = {r["tag_name"]: r for r in github.releases(REPO)}
    model = json.loads(github.asset_bytes(REPO, next(t for t in releases if t != first_tag), "model.json"))
    gate = model["eval"]["gate"]
    assert gate["passed"] is False and gate["previous_release"] == first_tag
    assert f"passed with {TUNED} and fail now (data/eval.jsonl:" in gate["reasons"][0]


def test_kept_checkpoints_are_evaluated_and_the_best_is_recorded(tmp_path, github, openai_standin, chat) -> None:
    for step, accuracy in ((4, 0.5), (5, 1.0), (6, 0.7)):
        chat.script(f"{TUNED}:ckpt-step-{step}", Script(accuracy=accuracy))
    at_chat = {"type": "openai", "base_url": chat.base_url}
    models = [{"model": m, "provider": at_chat} for m in ("base", "fine_tuned", "checkpoints")]
    repo, sha = trained_repo(tmp_path, chat, graders=["exact_match"], models=models)
    openai_standin.script_job(fine_tuned_model=TUNED)
    run = train_action(repo, tmp_path, github, openai_standin, sha)
    assert run.run.returncode == 0, run.run.stdout
    block = json.loads((repo / run.outputs["model-json"]).read_text())["eval"]
    # The step-6 checkpoint is the final model's weights: not asked twice.
    assert [m["label"] for m in block["models"]] == ["base", "fine_tuned", "checkpoint-4", "checkpoint-5"]
    assert block["best"] == "checkpoint-5" and block["graders"]["exact_match"]["scores"]["checkpoint-5"] == 1.0
    assert set(block["graders"]["exact_match"]["comparisons"]) == {"fine_tuned", "checkpoint-4", "checkpoint-5"}
    assert not chat.calls_for(f"{TUNED}:ckpt-step-6")


def test_previous_model_json_given_locally_holds_no_regressions(tmp_path, chat) -> None:
    repo = cli_repo(tmp_path, chat, graders=["exact_match"])
    assert eval_cli(repo).returncode == 0
    previous = {"name": "support-bot", "fine_tuned_model": TUNED, "eval": json.loads((repo / "finetune-output/support-bot/eval.json").read_text())}
    (tmp_path / "previous.json").write_text(json.dumps(previous))
    successor = "ft:gpt-4.1-mini-2025-04-14:acme:support-bot:e3"
    chat.script(successor, Script(accuracy=0.9))
    commit(repo, {"finetune.yaml": minimal_config(eval=eval_block(chat, graders=["exact_match"], gate={"no_regressions": True}, models=[
        {"model": BASE, "label": "base", "provider": {"type": "openai", "base_url": chat.base_url}},
        {"model": successor, "label": "fine_tuned", "provider": {"type": "openai", "base_url": chat.base_url}}]))}, "successor")
    run = eval_cli(repo, "--previous", str(tmp_path / "previous.json"))
    assert run.returncode == 1 and f"passed with {TUNED} and fail now" in run.stderr
    assert eval_cli(repo, "--previous", str(tmp_path / "missing.json")).returncode == 2


@pytest.mark.parametrize("labels", [("same", "same"), ("base", "judge")])
def test_models_sharing_a_label_or_taking_the_judges_are_a_config_error_before_any_call(tmp_path, chat, labels) -> None:
    # Two models of one label overwrote each other's answers (a model compared with itself,
    # exit 0); a candidate labelled "judge" had its spend mixed with the judge's.
    at_chat = {"type": "openai", "base_url": chat.base_url}
    repo = cli_repo(tmp_path, chat, models=[{"model": BASE, "label": labels[0], "provider": at_chat}, {"model": TUNED, "label": labels[1], "provider": at_chat}])
    run = eval_cli(repo)
    assert run.returncode == 2 and f"eval.models: the label {labels[1]!r}" in run.stderr and "Nothing was asked." in run.stderr
    assert chat.calls == []


def test_an_eval_where_a_model_answered_nothing_does_not_pass_and_says_why(tmp_path, chat) -> None:
    # A wrong key gave 80 failed calls, "✅ passed" and exit 0, and no word of the 401 anywhere.
    repo = cli_repo(tmp_path, chat, graders=["exact_match"])
    run = eval_cli(repo, env={"OPENAI_API_KEY": "sk-wrong-key-0123456789abcdef"})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "eval: base: 60 of 60 answers failed; the commonest reason:" in run.stderr and "answered 401" in run.stderr
    assert "base: every answer failed (" in run.stderr and "✅ passed" not in run.stdout
    assert "sk-wrong-key-0123456789abcdef" not in run.stdout + run.stderr


def test_an_eval_of_no_held_out_examples_does_not_pass(tmp_path, chat) -> None:
    repo = cli_repo(tmp_path, chat, held_out=[], graders=["exact_match"])
    run = eval_cli(repo)
    assert run.returncode == 1 and "no held-out examples to evaluate on" in run.stderr and chat.calls == []


def test_a_cache_path_that_cannot_keep_answers_stops_the_eval_before_any_call(tmp_path, chat) -> None:
    # The cache being a file failed after the calls were paid for, and the rerun paid again.
    repo = cli_repo(tmp_path, chat, graders=["exact_match"])
    (repo / ".finetune-cache").mkdir()
    (repo / ".finetune-cache" / "eval").write_text("not a directory\n")
    run = eval_cli(repo)
    assert run.returncode == 2 and "eval.cache" in run.stderr and "cannot keep the answers" in run.stderr and "nothing was asked" in run.stderr
    assert chat.calls == []


def test_a_regex_grader_whose_pattern_is_not_a_string_is_a_config_error(tmp_path, chat) -> None:
    repo = cli_repo(tmp_path, chat, graders=[{"type": "regex", "pattern": 123}])
    run = eval_cli(repo)
    assert run.returncode == 2 and "pattern must be a regular expression as a string, got an integer" in run.stderr and chat.calls == []


def test_an_eval_cache_outside_the_repository_is_a_config_error_and_a_missing_key_says_evaluating(tmp_path, chat) -> None:
    repo = cli_repo(tmp_path, chat, graders=["exact_match"], cache="../../escaped-cache")
    run = eval_cli(repo)
    assert run.returncode == 2 and "eval.cache: must be a directory inside the repository" in run.stderr and not (tmp_path.parent / "escaped-cache").exists()
    keyless = eval_cli(cli_repo(tmp_path / "k", chat, graders=["exact_match"]), env={"OPENAI_API_KEY": ""})
    assert keyless.returncode == 2 and "OPENAI_API_KEY is not set: evaluating with" in keyless.stderr, keyless.stderr


def test_a_gateway_key_in_the_base_url_stays_out_of_the_output_and_the_record(tmp_path, chat) -> None:
    """eval.json named each model's base_url whole, and was written without the redaction every
    other record gets: a gateway's ?subscription-key=... went into the file and the messages."""
    gateway = f"{chat.base_url}?subscription-key=GatewayKey98765"
    repo = cli_repo(tmp_path, chat, HELD_OUT[:4], graders=["exact_match"], models=[  # 4: each unreachable call is retried with backoff
        {"model": BASE, "label": "base", "provider": {"type": "openai", "base_url": gateway}},
        {"model": TUNED, "label": "tuned", "provider": {"type": "openai", "base_url": "http://127.0.0.1:9/v1?subscription-key=GatewayKey98765"}},
    ])
    run = eval_cli(repo, "--models", "base", "tuned")
    assert run.returncode == 1 and "Traceback" not in run.stderr  # the unreachable one answered nothing
    assert "tuned: every answer failed (OpenAI (http://127.0.0.1:9/v1) could not be reached" in run.stderr, run.stderr
    record = (repo / "finetune-output/support-bot/eval.json").read_text()
    assert [m["base_url"] for m in json.loads(record)["models"]] == [chat.base_url, "http://127.0.0.1:9/v1"]
    assert "GatewayKey98765" not in run.stdout + run.stderr + record
