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
