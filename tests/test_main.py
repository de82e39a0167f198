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


def test_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """`finetune check ... | head -1`: no bug message, no crash file, not exit 1 (141, as for SIGPIPE)."""
    import json
    import os
    import subprocess

    from testing.repo import chat_examples, finetune_command, init_repo, minimal_config, write_files

    repo = init_repo(tmp_path / "repo")
    bad = "".join(json.dumps(r) + "\n" for r in chat_examples(20)) + "{not json\n" * 3000
    write_files(repo, {"finetune.yaml": minimal_config(), "data/train.jsonl": bad})
    crashes = tmp_path / "tmp"
    crashes.mkdir()
    for _ in range(2):  # JSON output far beyond a pipe's buffer, so the closed end is always met
        process = subprocess.Popen([*finetune_command(), "check", "finetune.yaml", "--format", "json"], cwd=repo,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(crashes)})
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # what `head -1` does after its line
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 141, stderr
        assert "bug" not in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr
        assert list(crashes.iterdir()) == []
