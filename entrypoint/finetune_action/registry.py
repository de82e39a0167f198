"""Which provider types in finetune.yaml have a module to train with, and which module that is.

Below both readers: config.py checks `provider.type` against it, providers/ imports the chosen
module (only when chosen). A new provider is one module and one line here.
"""
from __future__ import annotations

#: provider type in finetune.yaml -> module with `connect(settings, env, options) -> Provider`.
PROVIDERS = {
    "openai": "finetune_action.providers.openai",
    "azure": "finetune_action.providers.azure",
    "together": "finetune_action.providers.together",
    "fireworks": "finetune_action.providers.fireworks",
}
