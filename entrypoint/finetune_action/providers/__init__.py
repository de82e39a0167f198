"""Fine-tuning providers behind one interface (base.Provider); the only package importing `openai`.

A new provider is one module with `connect(settings, env, options) -> Provider` and one line
in registry.PROVIDERS; modules are imported only when chosen.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping

from finetune_action.config import ProviderSettings
from finetune_action.errors import ConfigError
from finetune_action.providers.base import Provider, ProviderOptions, options_from_env
from finetune_action.registry import PROVIDERS


def get_provider(settings: ProviderSettings, env: Mapping[str, str], options: ProviderOptions | None = None) -> Provider:
    """The provider `settings.kind` names, connected with the key from `env` (and its options, by default from `env`)."""
    if settings.kind not in PROVIDERS:
        raise ConfigError(f"provider: {settings.kind!r} is not a supported provider. Use one of: {', '.join(PROVIDERS)}.")
    return importlib.import_module(PROVIDERS[settings.kind]).connect(settings, env, options or options_from_env(env))
