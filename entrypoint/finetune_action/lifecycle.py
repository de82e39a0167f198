"""A model's lifecycle judged against "today": is its training window open, does it still serve, where to go.

"Today" is the real date (UTC) unless `--today` or FINETUNE_TODAY sets it, for tests and for
planning ahead. Pure functions apart from reading that variable.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple

from finetune_action import models
from finetune_action.errors import EnvironmentProblem

TODAY_VARIABLE = "FINETUNE_TODAY"
TRAINING_WARNING_DAYS = 60  # warn when new training closes this soon
SERVING_WARNING_DAYS = 90  # warn when the base model (and its fine-tunes) stop serving this soon
OPTIONS_SHOWN = 3


class Judgement(NamedTuple):
    code: str  # model-not-trainable, training-closing or serving-ending (dataset/codes.py)
    message: str


class Option(NamedTuple):
    """Somewhere the same model, or a close one, still trains."""

    provider: str
    model: str
    training_ends: str | None
    same: bool  # the same model (family) rather than a close one
    training_type: str | None  # the Azure tier it must train on, when it trains on one only


def today(value: str | None = None, env: Mapping[str, str] | None = None) -> date:
    """`value` (from --today), else FINETUNE_TODAY, else the real date in UTC."""
    raw = value or (os.environ if env is None else env).get(TODAY_VARIABLE)
    if not raw:
        return datetime.now(timezone.utc).date()
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        where = "--today" if value else TODAY_VARIABLE
        raise EnvironmentProblem(f"{where} {raw!r} is not a date: write it as YYYY-MM-DD, e.g. 2027-01-07.") from None


def last_training_day(training_ends: str | None) -> str | None:
    """The last day a job can be created: the day before training ends."""
    if not training_ends:
        return None
    return (date.fromisoformat(training_ends) - timedelta(days=1)).isoformat()


def trainable(info: models.ModelInfo, on: date) -> bool:
    """Whether new training of `info` is still accepted on `on` (unknown models: assumed so)."""
    return not info.training_ends or on < date.fromisoformat(info.training_ends)


def judge(info: models.ModelInfo, on: date) -> list[Judgement]:
    """The lifecycle problems of `info` on `on`: training closed (error), closing or serving ending soon (warnings)."""
    if not info.known:
        return []
    found = []
    who = f"{models.label(info.provider)}: {info.training_source}"
    if info.training_ends:
        ends = date.fromisoformat(info.training_ends)
        days = (ends - on).days
        if days <= 0:
            found.append(Judgement("model-not-trainable", f"{info.base} cannot be fine-tuned any more: {models.label(info.provider)} stopped new training on {ends} ({info.training_source}). {migration(info, on)}"))
        elif days <= TRAINING_WARNING_DAYS:
            found.append(Judgement(
                "training-closing",
                f"{info.base}: new fine-tuning jobs stop on {ends}, in {days} days; the last day to train is {last_training_day(info.training_ends)} ({who}). {migration(info, on)}",
            ))
    if info.serving_ends:
        ends = date.fromisoformat(info.serving_ends)
        days = (ends - on).days
        if days <= 0:
            found.append(Judgement("serving-ending", f"{info.base} and every fine-tune of it stopped serving at {models.label(info.provider)} on {ends} ({info.lifecycle_source})."))
        elif days <= SERVING_WARNING_DAYS:
            found.append(Judgement(
                "serving-ending",
                f"{info.base} and every fine-tune of it stop serving at {models.label(info.provider)} on {ends}, in {days} days ({info.lifecycle_source}): retrain elsewhere before then.",
            ))
    return found


def where_to_train(info: models.ModelInfo, on: date, limit: int = OPTIONS_SHOWN) -> list[Option]:
    """Where the same model (first) or a close one (priced ones first) still trains on `on`, at other providers."""
    if not info.known:
        return []
    same = [(p, m) for p, m in models.by_family(info.family or "") if p != info.provider]
    close = [(p, m) for family in models.close_families(info.provider, info.base or "") for p, m in models.by_family(family)]
    found: list[Option] = []
    for group, is_same in ((same, True), (close, False)):
        options = []
        for provider, model in group:
            other = models.resolve(model, provider=provider)
            if trainable(other, on):
                options.append((other.price is None, Option(provider, model, other.training_ends, is_same, other.training_tiers[0] if other.training_tiers else None)))
        found += [option for _unpriced, option in sorted(options, key=lambda item: item[0])]
    return found[:limit]


def migration(info: models.ModelInfo, on: date) -> str:
    """What to change in finetune.yaml to train where the model (or a close one) still trains."""
    options = where_to_train(info, on)
    if not options:
        return "No other provider in the catalogue trains it or a close model: see `finetune models` for what still trains."
    lines = ["To train elsewhere, change these lines of finetune.yaml (and price them first under `compare:`):"]
    for option in options:
        kind = "the same model" if option.same else "a close model"
        until = f"last day to train {last_training_day(option.training_ends)}" if option.training_ends else "no end announced"
        provider_line = models.catalogue(option.provider).get("provider_yaml", f"provider: {option.provider}")
        if option.training_type:
            provider_line = provider_line.rstrip("}") + f", training_type: {option.training_type}}}"
        lines.append(f"- {kind} at {models.label(option.provider)} ({until}): `{provider_line}` and `model: {option.model}`")
    return "\n".join(lines)


def migration_for(model: str, provider: str = "openai", env: Mapping[str, str] | None = None) -> str:
    """The migration advice for a model name at a provider, judged today (for a provider's refusal)."""
    return migration(models.resolve(model, provider=provider), today(env=env))
