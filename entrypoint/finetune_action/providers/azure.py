"""Azure OpenAI: the OpenAI fine-tuning API under a resource endpoint.

By default the GA v1 surface (`{endpoint}/openai/v1/`, no api-version), through a plain
`openai.OpenAI` client. `api_version` picks the older dated surface for preview-only
features; `training_type` (Azure's trainingType tiers) needs it, so a tier without a version
gets 2025-04-01-preview (config.py).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import openai

from finetune_action.config import ProviderSettings
from finetune_action.errors import EnvironmentProblem, ProviderError
from finetune_action.providers.base import Job, ProviderOptions, api_key, service_url
from finetune_action.providers.openai import SDKProvider, Wording

LABEL = "Azure OpenAI"
#: finetune.yaml's training tiers as Azure's trainingType names them.
TRAINING_TYPES = {"standard": "standard", "global": "globalstandard", "developer": "developerTier"}
#: Words in Azure's refusal when the resource already runs its one job.
_BUSY = re.compile(r"concurren|running|active|at a time|at once|quota", re.IGNORECASE)


def connect(settings: ProviderSettings, env: Mapping[str, str], options: ProviderOptions) -> AzureProvider:
    """An Azure OpenAI provider from the settings, falling back to AZURE_OPENAI_ENDPOINT."""
    endpoint = service_url(settings.endpoint, env.get("AZURE_OPENAI_ENDPOINT"))
    if not endpoint:
        raise EnvironmentProblem(
            "Azure OpenAI needs an endpoint: set `provider.endpoint: https://<resource>.openai.azure.com` in finetune.yaml, "
            "or the AZURE_OPENAI_ENDPOINT variable."
        )
    key = api_key(settings, env, LABEL)
    timeout = options.request_timeout
    if settings.api_version:
        client: openai.OpenAI = openai.AzureOpenAI(azure_endpoint=endpoint, api_version=settings.api_version, api_key=key, max_retries=options.max_retries, timeout=timeout)
        where = f"{endpoint} (api-version {settings.api_version})"
    else:
        # The v1 surface takes the key as `api-key` like every Azure surface; the SDK also sends it as a bearer token.
        base_url = endpoint.rstrip("/") + "/openai/v1/"
        client = openai.OpenAI(base_url=base_url, api_key=key, default_headers={"api-key": key}, max_retries=options.max_retries, timeout=timeout)
        where = base_url
    forbidden = (
        f"the resource at {endpoint} does not allow this fine-tuning job. Check that the model can be fine-tuned in the "
        "resource's region (open models train on the Global tier only: `training_type: global`) and that the key belongs to "
        "this resource; or train with `provider: together` or `provider: fireworks` (README: Moving off OpenAI)."
    )
    fields = {"trainingType": TRAINING_TYPES[settings.training_type]} if settings.training_type else None
    return AzureProvider(client, Wording(LABEL, settings.api_key_env, where, forbidden), options, fields)


class AzureProvider(SDKProvider):
    """The OpenAI provider with Azure's one-running-job-per-resource refusal explained."""

    def create_job(self, **request: Any) -> Job:
        try:
            return super().create_job(**request)
        except ProviderError as exc:
            if exc.status in (400, 409, 429) and _BUSY.search(str(exc)):
                raise ProviderError(
                    f"{exc} Azure OpenAI runs one fine-tuning job per resource at a time (up to 20 more may queue): nothing was "
                    "created. Wait until the running job finishes (`finetune status`), then re-run: the files already uploaded "
                    "are reused. To train in parallel, point `provider.endpoint` at another resource.",
                    status=exc.status, code=exc.code or "resource_busy",
                ) from exc
            raise
