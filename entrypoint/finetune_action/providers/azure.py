"""Azure OpenAI: the same fine-tuning API as OpenAI, under an endpoint with an api-version."""
from __future__ import annotations

from collections.abc import Mapping

import openai

from finetune_action.config import ProviderSettings
from finetune_action.errors import EnvironmentProblem
from finetune_action.providers.base import ProviderOptions, api_key
from finetune_action.providers.openai import SDKProvider, Wording

LABEL = "Azure OpenAI"


def connect(settings: ProviderSettings, env: Mapping[str, str], options: ProviderOptions) -> SDKProvider:
    """An Azure OpenAI provider from the settings, falling back to AZURE_OPENAI_ENDPOINT."""
    endpoint = settings.endpoint or env.get("AZURE_OPENAI_ENDPOINT")
    if not endpoint:
        raise EnvironmentProblem(
            "Azure OpenAI needs an endpoint: set `provider.endpoint: https://<resource>.openai.azure.com` in finetune.yaml, "
            "or the AZURE_OPENAI_ENDPOINT variable."
        )
    if not settings.api_version:
        raise EnvironmentProblem("Azure OpenAI needs an API version: set `provider.api_version` in finetune.yaml, e.g. 2025-04-01-preview.")
    key = api_key(settings, env, LABEL)
    client = openai.AzureOpenAI(azure_endpoint=endpoint, api_version=settings.api_version, api_key=key, max_retries=options.max_retries)
    forbidden = (
        f"the resource at {endpoint} does not allow this fine-tuning job. Check that the model can be fine-tuned in the "
        "resource's region and that the key belongs to this resource; or train with `provider: openai` (with base_url "
        "for an OpenAI-compatible service) in finetune.yaml."
    )
    return SDKProvider(client, Wording(LABEL, settings.api_key_env, endpoint, forbidden), options, key)
