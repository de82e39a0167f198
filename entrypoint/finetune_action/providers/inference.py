"""Chat completions for evaluation, at every provider we train at: one openai SDK client per base URL.

OpenAI, Azure OpenAI (its v1 API under the resource endpoint), Together and Fireworks all
serve OpenAI-compatible chat completions. Answers are asked at temperature 0 with a seed where
the provider takes one. The SDK retries 429 and 5xx with backoff (honouring Retry-After) a
bounded number of times, each attempt under a bounded timeout; what still fails is returned as
an error for the grader to record, never raised mid-run.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import openai

from finetune_action.config import ProviderSettings
from finetune_action.errors import EnvironmentProblem
from finetune_action.providers.base import api_key, service_url, shown_url
from finetune_action.redact import redact

#: provider kind -> (default base URL, label, takes `seed`). Fireworks documents no seed for chat completions.
ENDPOINTS = {
    "openai": ("https://api.openai.com/v1", "OpenAI", True),
    "azure": ("", "Azure OpenAI", True),  # {endpoint}/openai/v1/
    "together": ("https://api.together.xyz/v1", "Together", True),
    "fireworks": ("https://api.fireworks.ai/inference/v1", "Fireworks", False),
}


class Endpoint(NamedTuple):
    """Where a model answers: part of every cache key, so two services never share answers."""

    kind: str
    base_url: str
    label: str
    seed: bool  # whether requests carry `seed`


class Options(NamedTuple):
    timeout: float = 120.0  # seconds per attempt
    max_retries: int = 4  # on 429, 5xx, timeouts and dropped connections


class Completion(NamedTuple):
    text: str
    tool_calls: tuple[tuple[str, str], ...]  # (name, arguments JSON)
    prompt_tokens: int
    completion_tokens: int


class Failure(NamedTuple):
    message: str  # why, for the record; never holds the key


def endpoint(settings: ProviderSettings, env: Mapping[str, str]) -> Endpoint:
    """The chat-completions base URL for a provider's settings."""
    default_url, label, seed = ENDPOINTS.get(settings.kind, ENDPOINTS["openai"])
    if settings.kind == "azure":
        resource = service_url(settings.endpoint, env.get("AZURE_OPENAI_ENDPOINT"))
        if not resource:
            raise EnvironmentProblem("Azure OpenAI needs an endpoint for evaluation: set `provider.endpoint: https://<resource>.openai.azure.com` or AZURE_OPENAI_ENDPOINT.")
        return Endpoint("azure", resource.rstrip("/") + "/openai/v1/", label, seed)
    base_url = service_url(settings.base_url, env.get("OPENAI_BASE_URL") if settings.kind == "openai" else None) or default_url
    if settings.base_url or base_url != default_url:
        label = f"{label} ({shown_url(base_url)})"
    return Endpoint(settings.kind, base_url, label, seed)


class Client:
    """Chat completions at one endpoint; safe to share between threads."""

    def __init__(self, settings: ProviderSettings, env: Mapping[str, str], options: Options = Options()) -> None:
        self.endpoint = endpoint(settings, env)
        key = api_key(settings, env, self.endpoint.label, "evaluating")
        self._key = key
        self._client = openai.OpenAI(base_url=self.endpoint.base_url, api_key=key, max_retries=options.max_retries, timeout=options.timeout)

    def complete(
        self, model: str, messages: Sequence[Mapping[str, Any]], *, tools: Sequence[Mapping[str, Any]] | None, max_tokens: int, seed: int
    ) -> Completion | Failure:
        """One answer at temperature 0, or a Failure once the retries are spent."""
        extra: dict[str, Any] = {"seed": seed} if self.endpoint.seed else {}
        if tools:
            extra["tools"] = list(tools)
        try:
            response = self._client.chat.completions.create(model=model, messages=list(messages), temperature=0, max_tokens=max_tokens, **extra)  # type: ignore[arg-type]
        except openai.APIStatusError as exc:
            return Failure(self._scrub(f"{self.endpoint.label} answered {exc.status_code} for {model}: {_detail(exc)}"))
        except openai.APIConnectionError as exc:
            return Failure(self._scrub(f"{self.endpoint.label} could not be reached for {model} ({type(exc).__name__}) after retries"))
        except openai.OpenAIError as exc:
            return Failure(self._scrub(f"{self.endpoint.label}: {type(exc).__name__} for {model}"))
        except ValueError as exc:  # a 200 whose body is not JSON (an HTML page, nothing)
            return Failure(self._scrub(f"{self.endpoint.label} answered {model} with something that is not JSON ({type(exc).__name__})"))
        try:
            result = _completion(response)
            return Failure(f"{self.endpoint.label} {result.message} for {model}") if isinstance(result, Failure) else result
        except (AttributeError, TypeError, IndexError, KeyError):
            # A 200 of another shape: a string, a list, `message: null`, tool calls without a function.
            return Failure(f"{self.endpoint.label} answered {model} with something that is not a chat completion")

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def close(self) -> None:
        self._client.close()


def _completion(response: Any) -> Completion | Failure:
    if isinstance(response, (str, list)) or not hasattr(response, "choices"):
        raise TypeError("not a completion")
    if not response.choices:
        return Failure("returned no choices")
    message = response.choices[0].message
    calls = tuple((str(c.function.name), str(c.function.arguments)) for c in (message.tool_calls or ()) if getattr(c, "function", None))
    usage = getattr(response, "usage", None)
    tokens = [getattr(usage, name, None) if usage is not None else None for name in ("prompt_tokens", "completion_tokens")]
    prompt, completion = (t if isinstance(t, int) and not isinstance(t, bool) and t >= 0 else 0 for t in tokens)  # null counts: 0
    content = message.content
    return Completion(content if isinstance(content, str) else "", calls, prompt, completion)


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return redact(str(error["message"]))[:200]  # redacted before the cut, which would leave a key unmatched
    return redact(str(exc.message))[:200]
