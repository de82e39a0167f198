"""gitleaks' rule set as shipped: every rule compiles on RE2, keywords gate them, entropy and allowlists apply."""
from __future__ import annotations

from importlib import resources

from finetune_action.dataset import secrets
from testing import planted


def test_shipped_rules_compile_and_name_their_source() -> None:
    rules = secrets.rule_set()
    assert len(rules.rules) >= 200
    assert {"github-pat", "aws-access-token", "openai-api-key", "anthropic-api-key", "stripe-access-token", "slack-bot-token", "private-key", "jwt", "generic-api-key", "uri-credentials"} <= {r.id for r in rules.rules}
    notice = resources.files("finetune_action.dataset").joinpath("gitleaks.NOTICE").read_text()
    assert "MIT License" in notice and "b58d3f102cf3a2c84cb7f923d05c25c9b1aed84b" in notice


def test_keywords_gate_the_rules() -> None:
    rules = secrets.rule_set()
    assert secrets.candidates("Plain prose about the weather in Paris today", rules) == []
    assert {rules.rules[i].id for i in secrets.candidates("ghp_", rules)} == {"github-pat"}


def test_entropy_and_allowlists() -> None:
    assert secrets.find("ghp_" + "X" * 36) == []  # entropy too low to be a token
    assert secrets.find("aws_access_key_id = AKIAIOSFODNN7EXAMPLE") == []  # gitleaks' allowlist
    assert secrets.find("postgres://user:${DB_PASSWORD}@db/app") == []
    text = planted.secrets()["github-pat"]
    [found] = secrets.find(text)
    assert found.rule == "github-pat" and text[found.start : found.end] == found.value
    assert round(secrets.entropy("aabb"), 3) == 1.0
