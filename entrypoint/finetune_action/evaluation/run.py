"""Run an evaluation: ask every model every held-out prompt, grade the answers, compare with the baseline.

The calls go through providers/inference.py on a bounded pool of threads; each answer is kept
in the response cache the moment it arrives, so a killed run resumes paying only for what is
missing. Everything after the answers (grading, statistics) is pure.
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from finetune_action.config import Eval, GraderSpec, ProviderSettings
from finetune_action.evaluation import cache, graders, stats
from finetune_action.evaluation.dataset import Example
from finetune_action.evaluation.graders import Answer, Grade, ToolCall
from finetune_action.providers import inference

JUDGE_MAX_TOKENS = 200


class Target(NamedTuple):
    """One model being evaluated."""

    label: str  # as tables name it: base, fine_tuned, a checkpoint, or the label given
    model: str  # the model id sent to the provider
    provider: ProviderSettings


class Asked(NamedTuple):
    answer: Answer | None  # None when the call failed after retries
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool


class Spend(NamedTuple):
    calls: int  # made in this run (cache hits excluded)
    cached: int
    prompt_tokens: int  # of the calls made in this run
    completion_tokens: int


class Results(NamedTuple):
    examples: tuple[Example, ...]
    targets: tuple[Target, ...]  # [0] is the baseline
    judge: Target | None
    grades: dict[str, dict[str, list[Grade]]]  # grader -> target label -> per example
    comparisons: dict[str, dict[str, stats.Comparison]]  # grader -> candidate label -> against the baseline
    spend: dict[str, Spend]  # target label (and "judge") -> what was spent
    answer_errors: dict[str, int]  # target label -> examples without an answer
    error_reasons: dict[str, str] = {}  # target label -> the commonest reason its answers failed (with how many)


Log = Callable[[str], None]
Request = tuple[list[dict[str, Any]], "list[dict[str, Any]] | None", int]  # messages, tools, max_tokens
ClientFor = Callable[[ProviderSettings], inference.Client]


class _Asker:
    """Asks through the cache on a bounded pool; counts what each label spent."""

    def __init__(self, client_for: ClientFor, directory: Path, concurrency: int, seed: int, stop: threading.Event) -> None:
        self._client_for = client_for
        self._stop = stop
        self._clients: dict[ProviderSettings, inference.Client] = {}
        self._directory = directory
        self._concurrency = concurrency
        self._seed = seed
        self._lock = threading.Lock()
        self.spend: dict[str, list[int]] = {}

    def _client(self, provider: ProviderSettings) -> inference.Client:
        with self._lock:
            if provider not in self._clients:
                self._clients[provider] = self._client_for(provider)
            return self._clients[provider]

    def ask(self, items: Sequence[tuple[str, Target, Request]]) -> list[Asked]:
        """One answer per (label, target, request), in order, on one pool; identical requests asked once."""
        keyed = [(self._digest(target, request), label, target, request) for label, target, request in items]
        unique: dict[str, tuple[str, Target, Request]] = {}
        for digest, label, target, request in keyed:
            unique.setdefault(digest, (label, target, request))
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            answered = dict(zip(unique, pool.map(lambda digest: self._one(digest, *unique[digest]), unique)))
        return [answered[digest] for digest, *_rest in keyed]

    def _digest(self, target: Target, request: Request) -> str:
        messages, tools, max_tokens = request
        endpoint = self._client(target.provider).endpoint
        settings = {"temperature": 0, "max_tokens": max_tokens, "seed": self._seed if endpoint.seed else None}
        return cache.key({"provider": endpoint.kind, "base_url": endpoint.base_url, "model": target.model, "messages": messages, "tools": tools, **settings})

    def _one(self, digest: str, label: str, target: Target, request: Request) -> Asked:
        with self._lock:
            totals = self.spend.setdefault(label, [0, 0, 0, 0])
        hit = cache.get(self._directory, digest)
        if hit is not None:
            with self._lock:
                totals[1] += 1
            return Asked(_answer(hit), None, hit.get("prompt_tokens", 0), hit.get("completion_tokens", 0), True)
        if self._stop.is_set():  # a signal: ask nothing new; calls in flight finish and are cached
            return Asked(None, "stopped before asking", 0, 0, False)
        messages, tools, max_tokens = request
        result = self._client(target.provider).complete(target.model, messages, tools=tools, max_tokens=max_tokens, seed=self._seed)
        if isinstance(result, inference.Failure):
            with self._lock:
                totals[0] += 1
            return Asked(None, result.message, 0, 0, False)
        cache.put(self._directory, digest, {"model": target.model, "text": result.text, "tool_calls": [list(c) for c in result.tool_calls], "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens})
        with self._lock:
            totals[0] += 1
            totals[2] += result.prompt_tokens
            totals[3] += result.completion_tokens
        return Asked(Answer(result.text, tuple(ToolCall(*c) for c in result.tool_calls)), None, result.prompt_tokens, result.completion_tokens, False)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _answer(entry: Mapping[str, Any]) -> Answer:
    return Answer(str(entry.get("text", "")), tuple(ToolCall(str(n), str(a)) for n, a in entry.get("tool_calls", [])))


def evaluate(examples: Sequence[Example], targets: Sequence[Target], judge: Target | None, settings: Eval, client_for: ClientFor, log: Log, stop: threading.Event | None = None) -> Results:
    """Answers from every target, every grader's grades, and each candidate compared with the baseline.

    Once `stop` is set nothing new is asked (the results are then incomplete: the caller reports a stop).
    """
    cache.ready(settings.cache)  # before anything is paid for
    asker = _Asker(client_for, settings.cache, settings.concurrency, settings.seed, stop or threading.Event())
    try:
        log(f"eval: asking {', '.join(t.label for t in targets)} {len(examples):,} prompts each, {settings.concurrency} at a time")
        # One pool for every model: no drain between models, the concurrency stays full.
        asked = asker.ask([(t.label, t, (e.prompt, e.tools, settings.max_tokens)) for t in targets for e in examples])
        answers = {t.label: asked[i * len(examples) : (i + 1) * len(examples)] for i, t in enumerate(targets)}
        grades = {spec.name: _grade(spec, examples, targets, answers, judge, asker) for spec in settings.graders}
    finally:
        asker.close()
    statistics = stats.Settings(settings.confidence, settings.min_examples, settings.max_error_rate, seed=settings.seed)
    baseline = targets[0].label
    comparisons: dict[str, dict[str, stats.Comparison]] = {}
    for spec in settings.graders:
        kind = graders.GRADERS[spec.type].kind
        per = comparisons.setdefault(spec.name, {})
        for target in targets[1:]:
            scores = [g.score for g in grades[spec.name][target.label]]
            if kind == graders.PAIRWISE:
                per[target.label] = stats.compare_pairwise(scores, statistics)
            else:
                base = [g.score for g in grades[spec.name][baseline]]
                compare = stats.compare_pass_fail if kind == graders.PASS_FAIL else stats.compare_scores
                per[target.label] = compare(base, scores, statistics)
    spend = {label: Spend(*totals) for label, totals in asker.spend.items()}
    errors = {label: sum(1 for a in asked if a.answer is None) for label, asked in answers.items()}
    reasons: dict[str, str] = {}
    for label, asked in answers.items():
        failed = Counter(a.error or "no answer" for a in asked if a.answer is None)
        if failed:
            reason, times = failed.most_common(1)[0]
            reasons[label] = f"{reason} ({times} of {len(asked)})"
            log(f"eval: {label}: {errors[label]} of {len(asked)} answers failed; the commonest reason: {reasons[label]}")
    return Results(tuple(examples), tuple(targets), judge, grades, comparisons, spend, errors, reasons)


def _grade(spec: GraderSpec, examples: Sequence[Example], targets: Sequence[Target], answers: dict[str, list[Asked]], judge: Target | None, asker: _Asker) -> dict[str, list[Grade]]:
    kind = graders.GRADERS[spec.type]
    if kind.grade is not None:
        return {
            t.label: [kind.grade(a.answer, e.reference, spec.options) if a.answer is not None else Grade(None, a.error) for a, e in zip(answers[t.label], examples)]
            for t in targets
        }
    assert judge is not None  # the config demands a judge for judge graders
    if spec.type == "judge_rubric":
        scale = int(spec.options.get("scale", graders.DEFAULT_SCALE))
        result = {}
        for target in targets:
            asked = answers[target.label]
            replies = _judge(asker, judge, [graders.rubric_messages(spec.options["rubric"], scale, e.prompt, a.answer, e.reference) if a.answer else None for a, e in zip(asked, examples)])
            result[target.label] = [
                Grade(None, a.error) if a.answer is None else Grade(None, r.error) if r.answer is None else graders.parse_rubric(r.answer.text, scale)  # type: ignore[union-attr]
                for a, r in zip(asked, replies)
            ]
        return result
    rubric = spec.options.get("rubric", graders.DEFAULT_PAIRWISE_RUBRIC)
    baseline = answers[targets[0].label]
    result = {}
    for target in targets[1:]:
        pairs = list(zip(answers[target.label], baseline, examples))
        # Both orders: the candidate as A, then as B; a judge that prefers a position flips.
        first = _judge(asker, judge, [graders.pairwise_messages(rubric, e.prompt, c.answer, b.answer) if c.answer and b.answer else None for c, b, e in pairs])
        second = _judge(asker, judge, [graders.pairwise_messages(rubric, e.prompt, b.answer, c.answer) if c.answer and b.answer else None for c, b, e in pairs])
        outcomes = []
        for (c, b, _e), one, two in zip(pairs, first, second):
            if one is None or two is None:
                outcomes.append(Grade(None, c.error or b.error))
            elif one.answer is None or two.answer is None:
                outcomes.append(Grade(None, one.error or two.error))
            else:
                outcomes.append(graders.pairwise_outcome(graders.parse_pairwise(one.answer.text), graders.parse_pairwise(two.answer.text)))
        result[target.label] = outcomes
    return result


def _judge(asker: _Asker, judge: Target, requests: Sequence[graders.Messages | None]) -> list[Asked | None]:
    """The judge's replies, None where there was nothing to judge (the answer itself failed)."""
    wanted = [("judge", judge, (messages, None, JUDGE_MAX_TOKENS)) for messages in requests if messages is not None]
    replies = iter(asker.ask(wanted))
    return [next(replies) if messages is not None else None for messages in requests]
