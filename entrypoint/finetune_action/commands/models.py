"""`finetune models`: the catalogue of fine-tunable models per provider, with prices, limits and dates."""
from __future__ import annotations

import json
from datetime import date

from finetune_action import lifecycle, models
from finetune_action.errors import EXIT_OK, ConfigError
from finetune_action.report.text import usd


def list_models(provider: str | None = None, output_format: str = "text", today: date | None = None) -> int:
    """Print the catalogue of one provider (or all): tokenizer, limit, methods, prices, lifecycle."""
    chosen = [provider] if provider else list(models.providers())
    for name in chosen:
        if name not in models.providers():
            raise ConfigError(f"--provider {name}: no catalogue for it. Known: {', '.join(models.providers())}.")
    on = today or lifecycle.today()
    entries = [entry(name, model_id, on) for name in chosen for model_id in models.known_models(name)]
    if output_format == "json":
        print(json.dumps({"today": on.isoformat(), "models": entries}, indent=2, ensure_ascii=False))
        return EXIT_OK
    for name in chosen:
        table = models.catalogue(name)
        print(f"{table['label']} ({name}): {table['billing']}")
        for e in (e for e in entries if e["provider"] == name):
            print("  " + line(e))
    print(f"\nJudged on {on.isoformat()} (--today or FINETUNE_TODAY to plan ahead). Prices in USD; '?' marks facts the catalogue could not confirm.")
    return EXIT_OK


def entry(provider: str, model_id: str, on: date) -> dict:
    """One model's facts as plain data."""
    facts = next(m for m in models.catalogue(provider)["models"] if m["id"] == model_id)
    prices = []
    for method in facts["methods"]:
        for lora in ((True, False) if facts.get("lora") == "both" else (None,)):
            info = models.resolve(model_id, provider=provider, method=method, lora=lora)
            if info.price:
                prices.append({"method": method, "lora": lora if lora is not None else (True if facts.get("lora") else None), **info.price._asdict()})
    info = models.resolve(model_id, provider=provider)
    return {
        "provider": provider,
        "model": model_id,
        "aliases": list(facts["aliases"]),
        "tokenizer": info.tokenizer,
        "example_token_limit": info.example_token_limit,
        "methods": list(info.methods),
        "lora": info.lora,
        "training_prices": prices,
        "inference": info.inference._asdict() if info.inference else None,
        "training_ends": info.training_ends,
        "last_training_day": lifecycle.last_training_day(info.training_ends),
        "serving_ends": info.serving_ends,
        "trainable": lifecycle.trainable(info, on),
        "serving": info.serving_ends is None or on < date.fromisoformat(info.serving_ends),  # serving_ends is the first day off
        "lifecycle_source": info.lifecycle_source,
    }


def line(e: dict) -> str:
    """One model for people: id, tokenizer, limit, methods, prices, dates."""
    limit = f"{e['example_token_limit']:,} tokens" if e["example_token_limit"] else "no limit known"
    prices = ", ".join(
        f"{p['method']}{'' if p['lora'] is None else (' LoRA' if p['lora'] else ' full')} {usd(p['usd'])}/{'1M' if p['per'] == models.PER_TOKEN else 'h'}{'' if p['verified'] else '?'}"
        for p in e["training_prices"]
    ) or "no price known"
    if not e["trainable"]:
        training = f"training CLOSED since {e['training_ends']}"
    elif e["training_ends"]:
        training = f"last day to train {e['last_training_day']}"
    else:
        training = "no end of training announced"
    # serving_ends is the first day a model no longer answers (as check's warnings read it).
    serving = (f", stops serving on {e['serving_ends']}" if e["serving"] else f", stopped serving on {e['serving_ends']}") if e["serving_ends"] else ""
    return f"{e['model']}: {e['tokenizer']}, {limit}, {'/'.join(e['methods'])}; {prices}; {training}{serving}"
