"""A stand-in OpenAI server per test and providers connected to it over real HTTP."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from finetune_action.config import ProviderSettings
from finetune_action.providers import get_provider
from finetune_action.providers.base import Provider, ProviderOptions
from testing.openai_standin import StandIn, serve

#: Small parts and no waiting, so a 3 MB file goes through the Uploads API in a blink.
FAST = ProviderOptions(max_retries=1, poll_interval=0, upload_threshold=1024 * 1024, part_size=1024 * 1024, parallel_parts=3)

Connect = Callable[..., Provider]


@pytest.fixture
def standin() -> Iterator[StandIn]:
    # A distinctive key, so a test can assert it never shows up in a message.
    with serve(api_key="sk-proj-SECRETvalue0123456789abcdefSECRET") as server:
        yield server


@pytest.fixture
def connect(standin: StandIn) -> Connect:
    """connect(kind="openai", options=FAST, key=<the stand-in's>) -> a provider talking to the stand-in."""

    def make(kind: str = "openai", options: ProviderOptions = FAST, key: str | None = None) -> Provider:
        if kind == "azure":
            settings = ProviderSettings("azure", None, standin.azure_endpoint, "2025-04-01-preview", "AZURE_OPENAI_API_KEY")
        else:
            settings = ProviderSettings("openai", standin.base_url, None, None, "OPENAI_API_KEY")
        return get_provider(settings, {settings.api_key_env: key or standin.api_key}, options)

    return make


@pytest.fixture
def provider(connect: Connect) -> Provider:
    return connect()
