"""One evaluation from config to record: which models, the held-out examples, the run, the verdict.

Shared by `finetune eval` and the train flow (after a job succeeds). A signal stops asking
new questions; the answers in flight are kept in the cache, so the next run resumes there.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from finetune_action.config import Config, EvalModel, ProviderSettings
from finetune_action.errors import ConfigError, EnvironmentProblem, FinetuneError
from finetune_action.evaluation import dataset, verdict
from finetune_action.evaluation.run import Target, evaluate
from finetune_action.providers import inference
from finetune_action.training import wait

Log = Callable[[str], None]


class Outcome(NamedTuple):
    block: dict[str, Any]  # model.json's `eval`
    notes: str  # markdown for the release and job summary
    passed: bool  # the gate


class Stopped(FinetuneError):
    """A signal arrived mid-eval; what was answered is cached."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def azure_deployment_needed(entry: EvalModel, config: Config) -> str | None:
    """Why `entry` cannot be asked as it stands: Azure OpenAI answers deployments by their name,
    and a fine-tune (`fine_tuned`, `checkpoints`: `<base>.ft-<job id>`) is deployed by a
    management-plane step finetune-action does not take (a deployment's hosting is billed by the
    hour). Each call would answer 404, the eval fail after all of them."""
    provider = entry.provider or config.provider
    if provider.kind != "azure" or entry.model not in ("fine_tuned", "checkpoints"):
        return None
    return (
        f"eval.models {entry.model} is a fine-tune at Azure OpenAI, which answers a fine-tune only once it is deployed "
        "(finetune-action does not deploy: hosting is billed by the hour). Deploy it, then evaluate it by its deployment name: "
        f"`finetune eval {config.display_path} --models base <deployment>` (base is asked as the deployment of that name too)."
    )


def _entry_targets(entry: EvalModel, config: Config, record: Mapping[str, Any] | None) -> list[Target]:
    provider = entry.provider or config.provider
    needed = azure_deployment_needed(entry, config)
    if needed:
        raise EnvironmentProblem(f"{config.display_path}: {needed}")
    if entry.model == "base":
        return [Target(entry.label, (record or {}).get("base_model") or config.model, provider)]
    if entry.model == "fine_tuned":
        model = (record or {}).get("fine_tuned_model")
        if not model:
            raise EnvironmentProblem(
                f"{config.display_path}: eval.models names fine_tuned, but no fine-tuned model is recorded for {config.name} "
                f"(finetune-output/{config.name}/model.json). Train first, or name the models: `finetune eval --models base ft:...`."
            )
        return [Target(entry.label, model, provider)]
    if entry.model == "checkpoints":
        kept = [c for c in (record or {}).get("checkpoints", []) if c.get("model") and c["model"] != record.get("fine_tuned_model")]  # type: ignore[union-attr]
        last = max((c["step"] for c in kept), default=None)
        # The last checkpoint holds the final model's weights: asking it again would pay twice for one model.
        return [Target(f"checkpoint-{c['step']}", c["model"], provider) for c in kept if c["step"] != last]
    return [Target(entry.label, entry.model, provider)]


def targets(config: Config, record: Mapping[str, Any] | None, selected: Sequence[str] | None) -> list[Target]:
    """The models to ask: eval.models (or `selected`: labels of eval.models, roles, or model ids), baseline first."""
    assert config.eval is not None
    entries = list(config.eval.models)
    if selected:
        by_name = {e.label: e for e in entries} | {e.model: e for e in entries}
        entries = [by_name.get(name) or EvalModel(name, None, name) for name in selected]
        if len(entries) < 2:
            raise ConfigError("--models needs at least two models: the baseline first, then the candidate.")
    found = [t for entry in entries for t in _entry_targets(entry, config, record)]
    if len(found) < 2:
        raise ConfigError(f"{config.display_path}: eval needs a baseline and a candidate; found {len(found)} model(s) to ask.")
    # Answers, grades and spend are kept by label: two models of one label overwrote each other
    # (the same model id at two providers compared with itself), and "judge" is the judge's.
    labels = [t.label for t in found]
    for label in dict.fromkeys(labels):
        if label == "judge" or labels.count(label) > 1:
            why = "is the judge's label" if label == "judge" else f"names {labels.count(label)} of the models to ask"
            raise ConfigError(f"{config.display_path}: eval.models: the label {label!r} {why}; give each model its own `label` (for example base-openai and base-azure). Nothing was asked.")
    return found


def _judge(config: Config) -> Target | None:
    judge = config.eval.judge if config.eval else None
    return Target("judge", judge.model, judge.provider or config.provider) if judge else None


def run(config: Config, record: Mapping[str, Any] | None, env: Mapping[str, str], *, log: Log, selected: Sequence[str] | None = None, previous: Mapping[str, Any] | None = None, previous_release: str | None = None) -> Outcome:
    """Evaluate, gate and render; raises Stopped after a signal (answers so far are cached)."""
    assert config.eval is not None
    settings = config.eval
    chosen = targets(config, record, selected)
    judge = _judge(config)
    held = dataset.held_out(config)
    if held.problems:
        first = held.problems[0]
        raise ConfigError(f"{first.path}:{first.line}: {first.message} ({len(held.problems)} problem(s) in the held-out data; `finetune check` lists them).")
    log(f"{config.display_path}: evaluating {', '.join(f'{t.label} ({t.model})' for t in chosen)} on {len(held.examples):,} held-out examples; cache {settings.cache}")
    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        got.append(signum)
        stop.set()

    with wait.on_signals(on_signal):
        results = evaluate(held.examples, chosen, judge, settings, lambda provider: _client(provider, env), log, stop)
    if got:
        raise Stopped(f"{config.display_path}: eval stopped by {signal.Signals(got[0]).name}; every answer received is cached in {settings.cache}: run `finetune eval {config.display_path}` again to finish, paying only for what is missing.", got[0])
    best = verdict.best_model(results, settings)
    outcome = verdict.gate(results, settings, previous)
    source = {"path": [f.display_path for f in settings.data]} if settings.data else {"split": settings.split._asdict() if settings.split else None}
    block = verdict.eval_block(results, settings, data={"sha256": held.sha256, "examples": len(held.examples), **source}, outcome=outcome, best=best, previous_release=previous_release)
    log(f"{config.display_path}: {verdict.headline(block)}")
    return Outcome(block, verdict.notes(block), outcome.passed)


def _client(provider: ProviderSettings, env: Mapping[str, str]) -> inference.Client:
    return inference.Client(provider, env)
