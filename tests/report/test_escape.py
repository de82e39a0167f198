from __future__ import annotations

from finetune_action.report import escape


def test_text_defuses_mentions_html_markdown_and_commands() -> None:
    out = escape.text("@someone <img src=x onerror=alert(1)> </details> **bold** [x](http://e) #12 ::error::hi\nnext")
    assert "@someone" not in out and "@\u200dsomeone" in out
    assert "<" not in out and "&lt;/details&gt;" in out
    assert "\\*\\*bold\\*\\*" in out and "\\[x\\]\\(http://e\\)" in out
    assert "#12" not in out and "::" not in out and "\n" not in out


def test_text_is_bounded() -> None:
    assert len(escape.text("a" * 10_000, limit=50)) == 50


def test_code_cannot_be_closed_by_backticks() -> None:
    assert escape.code("a`b") == "`` a`b ``"
    assert escape.code("``x") == "``` ``x ```"
    assert escape.code("a|b", in_table=True) == "`a\\|b`"
    assert escape.code("") == "` `"


def test_url_path() -> None:
    assert escape.url_path("data/my file#1.jsonl") == "data/my%20file%231.jsonl"


def test_a_secret_is_redacted_before_it_is_escaped_or_cut(monkeypatch) -> None:
    # Escaped (`ghs\_write...`) a secret no longer matched the output's redaction, and GitHub
    # shows `\_` as `_`: an unknown key named like the token reached the PR comment whole.
    key = "sk-proj-SECRET_KEY-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    for shown in (escape.text(f"{key}: unknown key"), escape.code(f"model {key}"), escape.code(key, in_table=True)):
        assert "SECRET" not in shown and ("***" in shown or "\\*\\*\\*" in shown), shown  # escaped, *** shows as ***
    cut = escape.text("x" * 280 + key, limit=300)  # the cut falls inside the key
    assert "SECRET" not in cut and "sk\\-proj" not in cut
