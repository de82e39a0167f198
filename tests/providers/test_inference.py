"""Chat completions for evaluation through the real openai SDK, against the chat stand-in."""
from __future__ import annotations

import pytest

from finetune_action.config import ProviderSettings
from finetune_action.errors import EnvironmentProblem
from finetune_action.providers import inference
from testing.chat_standin import Script, serve

KEY = "sk-inference-0123456789abcdef"
PROMPT = [{"role": "user", "content": "Capital of France?"}]


def settings(kind: str, **fields) -> ProviderSettings:
    return ProviderSettings(kind, fields.get("base_url"), fields.get("endpoint"), None, fields.get("api_key_env", "OPENAI_API_KEY"))


@pytest.mark.parametrize(("kind", "fields", "url", "seed"), [
    ("openai", {}, "https://api.openai.com/v1", True),
    ("openai", {"base_url": "https://gateway.example/v1"}, "https://gateway.example/v1", True),
    ("azure", {"endpoint": "https://res.openai.azure.com/"}, "https://res.openai.azure.com/openai/v1/", True),
    ("together", {}, "https://api.together.xyz/v1", True),
    ("fireworks", {}, "https://api.fireworks.ai/inference/v1", False),
])
def test_each_provider_has_its_chat_completions_url(kind, fields, url, seed) -> None:
    found = inference.endpoint(settings(kind, **fields), {})
    assert (found.base_url, found.seed) == (url, seed)


def test_azure_without_an_endpoint_says_where_to_set_it() -> None:
    with pytest.raises(EnvironmentProblem, match="provider.endpoint"):
        inference.endpoint(settings("azure"), {})


def test_answers_at_temperature_0_with_a_seed_and_retries_429_and_5xx() -> None:
    with serve({"Capital of France?": "Paris"}, api_key=KEY) as standin:
        standin.script("m", Script(accuracy=1.0))
        client = inference.Client(settings("openai", base_url=standin.base_url), {"OPENAI_API_KEY": KEY}, inference.Options(timeout=5, max_retries=3))
        standin.fail(429, 1)
        standin.fail(503, 1)
        answer = client.complete("m", PROMPT, tools=None, max_tokens=50, seed=7)
        assert answer.text == "Paris" and answer.prompt_tokens > 0
        sent = standin.answered[0].body
        assert sent["temperature"] == 0 and sent["seed"] == 7 and sent["max_tokens"] == 50
        assert len(standin.calls) == 3
        client.close()


def test_a_call_failing_after_retries_is_a_failure_not_an_exception_and_hides_the_key() -> None:
    with serve({}, api_key=KEY) as standin:
        client = inference.Client(settings("openai", base_url=standin.base_url), {"OPENAI_API_KEY": KEY}, inference.Options(timeout=5, max_retries=1))
        standin.fail(500, 2)
        failed = client.complete("m", PROMPT, tools=None, max_tokens=5, seed=0)
        assert isinstance(failed, inference.Failure) and "answered 500" in failed.message and KEY not in failed.message
        missing = client.complete("nope", PROMPT, tools=None, max_tokens=5, seed=0)
        assert isinstance(missing, inference.Failure) and "404" in missing.message
        client.close()


def test_azure_v1_through_the_sdk_and_a_slow_answer_times_out() -> None:
    with serve({"Capital of France?": "Paris"}, api_key=KEY) as standin:
        standin.script("deployment", Script(accuracy=1.0, latency=1.0))
        endpoint = standin.base_url.removesuffix("/v1")
        client = inference.Client(settings("azure", endpoint=endpoint, api_key_env="AZURE_OPENAI_API_KEY"), {"AZURE_OPENAI_API_KEY": KEY}, inference.Options(timeout=0.3, max_retries=0))
        slow = client.complete("deployment", PROMPT, tools=None, max_tokens=5, seed=0)
        assert isinstance(slow, inference.Failure) and "could not be reached" in slow.message
        assert standin.calls[0].path == "/openai/v1/chat/completions"
        client.close()


@pytest.mark.parametrize("body, content_type", [
    (b"<html><body>Bad gateway</body></html>", "text/html"), (b"", "application/json"), (b"[1, 2]", "application/json"),
    (b'{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": null}]}', "application/json"),
])
def test_a_200_that_is_not_a_chat_completion_is_a_failure_not_a_crash(body: bytes, content_type: str) -> None:
    # Each was an "unexpected AttributeError/JSONDecodeError" ending the eval after its calls.
    from testing.http import answering

    with answering(body, content_type) as url:
        client = inference.Client(settings("openai", base_url=f"{url}/v1"), {"OPENAI_API_KEY": KEY}, inference.Options(timeout=5, max_retries=0))
        failed = client.complete("m", PROMPT, tools=None, max_tokens=5, seed=0)
        client.close()
    assert isinstance(failed, inference.Failure) and ("for m" in failed.message or "answered m" in failed.message), failed


def test_null_token_counts_are_read_as_zero() -> None:
    from testing.http import answering

    body = b'{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}], "usage": {"prompt_tokens": null, "completion_tokens": null, "total_tokens": null}}'
    with answering(body) as url:
        client = inference.Client(settings("openai", base_url=f"{url}/v1"), {"OPENAI_API_KEY": KEY}, inference.Options(timeout=5, max_retries=0))
        answered = client.complete("m", PROMPT, tools=None, max_tokens=5, seed=0)
        client.close()
    assert answered == inference.Completion("hi", (), 0, 0)


def test_a_gateway_url_is_shown_without_its_credentials_or_query() -> None:
    """A gateway that takes its key in the URL (a token as the user, ?subscription-key=...): the
    failure's message named the whole URL, query and all; now scheme, host and path only, and the
    values are masked from any other output."""
    from finetune_action.redact import redact

    url = "http://TokenAsUser2468@127.0.0.1:9/v1?subscription-key=GatewayKey98765&region=eu#frag"
    client = inference.Client(settings("openai", base_url=url), {"OPENAI_API_KEY": KEY}, inference.Options(timeout=2, max_retries=0))
    failed = client.complete("m", PROMPT, tools=None, max_tokens=5, seed=0)
    client.close()
    assert isinstance(failed, inference.Failure) and "OpenAI (http://127.0.0.1:9/v1) could not be reached for m" in failed.message, failed.message
    for secret in ("TokenAsUser2468", "GatewayKey98765", "subscription-key", "region", "frag"):
        assert secret not in failed.message
    assert redact(f"seen {url}") == "seen http://***@127.0.0.1:9/v1?subscription-key=***&region=eu#frag"  # "eu" is too short to be a key
