"""The fingerprint of a fine-tune: what identifies "this data, this config, this provider and model".

It is sent as job metadata, so a re-run finds its job instead of paying for a second one.
Settings that do not change what is trained (budget, wait, release tag, pricing, the key
variable) are left out, so changing them never starts a new job.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from finetune_action.config import Config

VERSION = 1
SHORT = 12
METADATA_KEY = "finetune_fingerprint"
_BLOCK = 1 << 20


def fingerprint(config: Config) -> str:
    """sha256 (hex) of the data bytes, the normalised config, and the provider and model."""
    digest = hashlib.sha256()
    digest.update(json.dumps(identity(config), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    for role, files in (("train", config.train), ("validation", config.validation)):
        for data in files:
            digest.update(f"\0{role}\0{data.display_path}\0{data.path.stat().st_size}\0".encode("utf-8"))
            with data.path.open("rb") as handle:
                for block in iter(lambda: handle.read(_BLOCK), b""):
                    digest.update(block)
    return digest.hexdigest()


def identity(config: Config) -> dict[str, Any]:
    """The parts of the config the fingerprint rests on, besides the data bytes."""
    trained = {k: v for k, v in config.normalised.items() if k not in ("provider", "pricing")}
    provider = config.provider
    return {
        "fingerprint_version": VERSION,
        "provider": {"type": provider.kind, "base_url": provider.base_url, "endpoint": provider.endpoint},
        "model": config.model,
        "config": trained,
    }


def short(value: str) -> str:
    """The fingerprint as shown in messages and file names."""
    return value[:SHORT]
