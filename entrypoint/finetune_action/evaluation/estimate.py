"""What an eval will ask and cost, offline, for the PR check: nothing is sent anywhere.

Prompt tokens are counted with each model's tokenizer; answer tokens are estimated from the
reference answers (a fine-tune learns their length); judge calls are counted per grader (a
rubric score per model and example, a pairwise comparison twice per candidate and example).
Prices are inference prices, a fine-tuned model at its fine-tuned rate.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from finetune_action import check, lifecycle, models
from finetune_action.config import EVAL_ROLES, Config, EvalModel
from finetune_action.dataset.codes import Problem
from finetune_action.evaluation import dataset, graders, prices
from finetune_action.evaluation.dataset import Example
from finetune_action.evaluation.session import azure_deployment_needed
from finetune_action.tokens import count as token_count
from finetune_action.tokens import tokenizers

#: Checkpoints asked besides the final model: OpenAI keeps those of the last three epochs, the last
#: of which is the final model itself (not asked twice).
CHECKPOINTS_ESTIMATE = 2
#: Tokens of a judge's one-line reply (a SCORE or WINNER and a sentence).
JUDGE_REPLY_TOKENS = 40


class Planned(NamedTuple):
    """One model as the check prices it."""

    label: str
    model: str  # the model id, or what it will be (the fine-tune of config.model)
    provider: str
    fine_tuned: bool
    copies: int  # checkpoints: how many models the one entry stands for


def planned_models(config: Config) -> list[Planned]:
    """The eval's models before training: base and fine_tuned stand for the config's model."""
    assert config.eval is not None
    kind = config.provider.kind
    out = []
    for entry in config.eval.models:
        provider = entry.provider.kind if entry.provider else kind
        if entry.model == "base":
            out.append(Planned(entry.label, config.model, provider, False, 1))
        elif entry.model in ("fine_tuned", "checkpoints"):
            out.append(Planned(entry.label, config.model, provider, True, CHECKPOINTS_ESTIMATE if entry.model == "checkpoints" else 1))
        else:
            out.append(Planned(entry.label, entry.model, provider, prices.fine_tuned(entry.model), 1))
    return out


class Counter(NamedTuple):
    count: token_count.Count
    tokenizer: str  # its name, as the report shows it
    template: token_count.Template | None  # the family's chat template; None: OpenAI's chat rule

    def prompt(self, messages: Any, tools: Any) -> int:
        if self.template is None:
            return token_count.chat_tokens(messages, tools, self.count).total
        return token_count.templated_chat_tokens(messages, tools, self.count, self.template).total


def _counter(model: str, provider: str) -> Counter:
    """A counter with the model's own tokenizer (an open model's chat template too), or the
    approximation the training check uses. A tokenizer name is not an encoding name: looked up
    as one, every eval of a Together or Fireworks open model (o200k_harmony, qwen3, llama3)
    stopped the check with "no bundled token rank file"."""
    name = check.counting_tokenizer(models.resolve(model, None, provider).tokenizer)
    tokenizer = tokenizers.get(name)
    return Counter(token_count.make_counter(tokenizer.encoding, normalize=tokenizer.normalize), name, tokenizer.template)


def _answer_tokens(answer: graders.Answer, count: token_count.Count) -> int:
    return count(answer.text) + sum(count(c.name) + count(c.arguments) for c in answer.tool_calls)


def estimate(config: Config, examples: Sequence[Example]) -> dict[str, Any]:
    """Calls, tokens and USD per model and for the judge; `estimated_cost_usd` None when any price is unknown."""
    assert config.eval is not None
    rows = []
    unknown = []
    answer_tokens: dict[str, int] = {}
    for plan in planned_models(config):
        counter = _counter(plan.model, plan.provider)
        count, tokenizer = counter.count, counter.tokenizer
        prompt = sum(counter.prompt(e.prompt, e.tools) for e in examples) * plan.copies
        answers = sum(_answer_tokens(e.reference, count) for e in examples) * plan.copies
        answer_tokens[plan.label] = answers
        price = prices.price(plan.model, plan.provider, plan.fine_tuned)
        if price is None:
            unknown.append(plan.label)
        rows.append({"label": plan.label, "model": plan.model, "fine_tuned": plan.fine_tuned, "calls": len(examples) * plan.copies, "prompt_tokens": prompt, "completion_tokens": answers, "tokenizer": tokenizer, "estimated_cost_usd": prices.usd(prompt, answers, price), "price": price._asdict() if price else None})
    judge = _judge_row(config, examples, rows)
    if judge:
        rows.append(judge)
        if judge["price"] is None:
            unknown.append("judge")
    costs = [r["estimated_cost_usd"] for r in rows]
    return {
        "examples": len(examples),
        "models": rows,
        "calls": sum(r["calls"] for r in rows),
        "estimated_cost_usd": round(sum(costs), 6) if None not in costs else None,
        "unpriced": unknown,
    }


def _judge_row(config: Config, examples: Sequence[Example], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    evaluation = config.eval
    assert evaluation is not None
    judged = [g for g in evaluation.graders if g.type.startswith("judge_")]
    if not judged or evaluation.judge is None:
        return None
    judge: EvalModel = evaluation.judge
    provider = judge.provider.kind if judge.provider else config.provider.kind
    counter = _counter(judge.model, provider)
    tokenizer = counter.tokenizer
    calls = prompt = 0
    candidates = rows[1:]
    for spec in judged:
        for example in examples:
            if spec.type == "judge_rubric":
                messages = graders.rubric_messages(spec.options["rubric"], int(spec.options.get("scale", graders.DEFAULT_SCALE)), example.prompt, example.reference, example.reference)
                times = sum(r["calls"] // max(1, len(examples)) for r in rows)
            else:
                messages = graders.pairwise_messages(spec.options.get("rubric", graders.DEFAULT_PAIRWISE_RUBRIC), example.prompt, example.reference, example.reference)
                times = 2 * sum(r["calls"] // max(1, len(examples)) for r in candidates)
            calls += times
            prompt += times * counter.prompt(messages, None)
    price = prices.price(judge.model, provider)
    completion = calls * JUDGE_REPLY_TOKENS
    return {"label": "judge", "model": judge.model, "fine_tuned": prices.fine_tuned(judge.model), "calls": calls, "prompt_tokens": prompt, "completion_tokens": completion, "tokenizer": tokenizer, "estimated_cost_usd": prices.usd(prompt, completion, price), "price": price._asdict() if price else None}


def retiring(config: Config, on: date) -> list[Problem]:
    """A warning for each model the eval names by id (and its judge, if a grader asks it) that
    stops serving within lifecycle.SERVING_WARNING_DAYS of `on`, or has stopped: a retiring
    model can be compared with its replacement only while it still answers. `base`,
    `fine_tuned` and `checkpoints` are the config's model, judged with it; a model behind a
    `base_url` is someone else's deployment, whose dates the catalogue does not know."""
    evaluation = config.eval
    assert evaluation is not None
    named = [(f"eval model {entry.label}" if entry.label != entry.model else "eval model", entry) for entry in evaluation.models if entry.model not in EVAL_ROLES]
    if evaluation.judge is not None and any(g.type.startswith("judge_") for g in evaluation.graders):
        named.append(("eval judge", evaluation.judge))
    found = []
    for who, entry in named:
        settings = entry.provider or config.provider
        if settings.base_url:
            continue
        info = models.resolve(entry.model, None, settings.kind)
        if not info.known or not info.serving_ends:
            continue
        ends = date.fromisoformat(info.serving_ends)
        days = (ends - on).days
        if days > lifecycle.SERVING_WARNING_DAYS:
            continue
        at = f"{who} {entry.model} {'stopped' if days <= 0 else 'stops'} serving at {models.label(settings.kind)} on {ends}" + (f", in {days} days" if days > 0 else "")
        at += f" ({info.lifecycle_source})"
        if who == "eval judge":
            after = "its verdicts on answers it has not judged yet are errors" if days <= 0 else "after that, its verdicts on answers it has not judged yet are errors"
            message = f"{at}: {after}; choose another eval.judge{'' if days <= 0 else ' before then'}"
        elif days <= 0:
            message = f"{at}: the eval has only the answers it gave before then, kept in the eval cache ({_shown(evaluation.cache, config.root)}); every other one is an error"
        else:
            message = f"{at}: only until then can the eval compare it with its replacement; run `finetune eval` before {ends} (its answers stay in the eval cache)"
        found.append(Problem(config.display_path, None, None, "eval-model-retiring", message))
    return found


def deployments(config: Config) -> list[Problem]:
    """A warning for each fine-tune the eval would ask at Azure OpenAI, which answers deployments only."""
    assert config.eval is not None
    found = []
    for entry in config.eval.models:
        needed = azure_deployment_needed(entry, config)
        if needed:
            found.append(Problem(config.display_path, None, None, "eval-needs-deployment", f"the eval after training will not run: {needed}"))
    return found


def _shown(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def check_eval(config: Config, on: date | None = None) -> tuple[list[Problem], dict[str, Any]]:
    """The PR check's part: problems in the held-out data (leakage among them), the models that
    stop serving before it can ask them, and the offline estimate."""
    held = dataset.held_out(config)
    problems = list(held.problems) + dataset.leaks(config, held.examples) + retiring(config, on or lifecycle.today()) + deployments(config)
    assert config.eval is not None
    if len(held.examples) < config.eval.min_examples:
        where = config.eval.data[0].display_path if config.eval.data else config.display_path
        problems.append(Problem(where, None, None, "eval-too-few-examples", f"{len(held.examples)} held-out examples; a verdict needs at least eval.min_examples ({config.eval.min_examples}), else the eval says \"insufficient evidence\""))
    summary = estimate(config, held.examples)
    summary["sha256"] = held.sha256
    return problems, summary
