"""The provider registry, key lookup, and the boundary: only providers import `openai`."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import finetune_action
from finetune_action import providers
from finetune_action.config import ProviderSettings
from finetune_action.errors import ConfigError, EnvironmentProblem
from finetune_action.providers import get_provider
from finetune_action.providers.base import ProviderOptions
from testing.openai_standin import StandIn

PACKAGE = Path(finetune_action.__file__).parent


def test_only_the_providers_package_imports_openai() -> None:
    importers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^\s*(import openai|from openai\b)", path.read_text(encoding="utf-8"), re.MULTILINE)
    )
    assert importers and all(name.startswith("providers/") for name in importers), importers


def test_provider_modules_load_only_when_chosen() -> None:
    code = "import sys, finetune_action.providers; print('openai' in sys.modules, 'finetune_action.providers.azure' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_a_third_provider_is_one_module_and_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    module = ModuleType("acme_provider")
    module.connect = lambda settings, env, options: ("acme", settings.kind, env["ACME_KEY"], options.max_retries)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "acme_provider", module)
    monkeypatch.setitem(providers.PROVIDERS, "acme", "acme_provider")
    settings = ProviderSettings("acme", None, None, None, "ACME_KEY")
    assert get_provider(settings, {"ACME_KEY": "k"}, ProviderOptions(max_retries=2)) == ("acme", "acme", "k", 2)


def test_an_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'bedrock' is not a supported provider. Use one of: openai, azure, together, fireworks"):
        get_provider(ProviderSettings("bedrock", None, None, None, "BEDROCK_API_KEY"), {})


def test_a_missing_key_says_how_to_pass_it_and_a_blank_one_counts_as_missing() -> None:
    settings = ProviderSettings("openai", None, None, None, "OPENAI_API_KEY")
    with pytest.raises(EnvironmentProblem, match=r"OPENAI_API_KEY is not set.*`openai-api-key: \$\{\{ secrets.OPENAI_API_KEY \}\}`.*export OPENAI_API_KEY"):
        get_provider(settings, {"OPENAI_API_KEY": "  "})
    custom = settings._replace(api_key_env="TEAM_OPENAI_KEY")
    with pytest.raises(EnvironmentProblem, match=r"TEAM_OPENAI_KEY is not set.*env: \{TEAM_OPENAI_KEY: \$\{\{ secrets.TEAM_OPENAI_KEY \}\}\}"):
        get_provider(custom, {"OPENAI_API_KEY": "sk-not-this-one"})


def test_the_key_variable_and_base_url_may_come_from_the_environment(standin: StandIn) -> None:
    settings = ProviderSettings("openai", None, None, None, "TEAM_OPENAI_KEY")
    provider = get_provider(settings, {"TEAM_OPENAI_KEY": standin.api_key, "OPENAI_BASE_URL": standin.base_url})
    assert provider.find_jobs({"fp": "x"}) == []
    assert standin.requests[0].path == "/v1/fine_tuning/jobs"


@pytest.mark.parametrize(("kind", "variable"), [("openai", "OPENAI_BASE_URL"), ("together", "TOGETHER_BASE_URL"), ("fireworks", "FIREWORKS_BASE_URL"), ("azure", "AZURE_OPENAI_ENDPOINT")])
def test_a_service_url_is_used_without_its_whitespace_and_shown_without_its_password(kind: str, variable: str) -> None:
    # A password in the URL was printed in every connection error, and a URL pasted with its
    # line end (a secret's value often has one) was an "unexpected InvalidURL".
    from finetune_action.errors import ProviderError
    from finetune_action.redact import redact

    url = "http://bob:UrlPassword4567@127.0.0.1:9" + ("" if kind == "azure" else "/v1") + "\n"
    env = {variable: url, "KEY": "sk-test-0123456789abcdef", "FIREWORKS_ACCOUNT_ID": "acme"}
    settings = ProviderSettings(kind, None, None, "2025-04-01-preview" if kind == "azure" else None, "KEY")
    provider = get_provider(settings, env, ProviderOptions(request_timeout=2, max_retries=0))
    with pytest.raises(ProviderError) as failed:
        provider.find_jobs({"finetune_fingerprint": "f" * 64})
    message = str(failed.value)
    assert "127.0.0.1:9" in message and ("could not be reached" in message or "could not connect" in message), message
    assert "UrlPassword4567" not in message and "bob:" not in message
    assert redact("at http://bob:UrlPassword4567@host") == "at http://bob:***@host"  # anywhere else it shows up
