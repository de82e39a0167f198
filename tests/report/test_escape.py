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
