from __future__ import annotations

from pathlib import Path

from finetune_action import __version__
from testing.repo import run_finetune


def test_version(tmp_path: Path) -> None:
    result = run_finetune("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"finetune {__version__}"


def test_help_lists_exit_codes(tmp_path: Path) -> None:
    for args in (["--help"], ["check", "--help"]):
        result = run_finetune(*args, cwd=tmp_path)
        assert result.returncode == 0
        assert "exit codes" in result.stdout and "2  usage" in result.stdout


def test_usage_error_exits_2_without_traceback(tmp_path: Path) -> None:
    result = run_finetune("check", "--format", "yaml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--help" in result.stderr


def test_unexpected_error_is_one_clear_line_with_secrets_removed(monkeypatch, capsys, tmp_path: Path) -> None:
    from finetune_action import main as main_module
    from finetune_action.commands import schema as schema_module

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def broken() -> int:
        raise RuntimeError("boom with sk-secret-value-123 inside")

    monkeypatch.setattr(schema_module, "schema", broken)
    assert main_module.main(["schema"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected RuntimeError" in err and "sk-secret" not in err
    [log] = tmp_path.glob("finetune-error-*.log")
    details = log.read_text()
    assert "Traceback" in details and "sk-secret-value-123" not in details and "***" in details
