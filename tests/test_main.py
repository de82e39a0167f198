from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

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


def _big_data(examples: int = 40_000) -> str:
    """About 30 MB of distinct chat lines: over PARALLEL_MIN_BYTES, so a pool of workers checks it."""
    import json

    padding = "word " * 120
    return "".join(
        json.dumps({"messages": [{"role": "user", "content": f"Question {i}: {padding}"}, {"role": "assistant", "content": f"Answer {i}."}]}) + "\n"
        for i in range(examples)
    )


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _stop_midway(command: list[str], cwd: Path, env: dict[str, str], signum: int, ready: Callable[[int], bool]) -> tuple[int, str]:
    """Start `command` in a process group of its own, send `signum` to the whole group (as a
    terminal's Ctrl-C reaches every process) once `ready(pid)`; its exit code and stderr, once
    no process of the group is left."""
    import os
    import subprocess
    import time

    def as_at_a_terminal() -> None:  # a shell without job control starts background commands with SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=as_at_a_terminal)
    deadline = time.monotonic() + 60
    while not ready(process.pid):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before the moment to stop it"
        time.sleep(0.01)
    os.killpg(process.pid, signum)
    _out, stderr = process.communicate(timeout=60)
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("processes of the run's group are still running")
    return process.returncode, stderr


@pytest.mark.parametrize("cached", [False, True], ids=["plain", "results-cache"])
def test_ctrl_c_during_a_check_says_interrupted_once_and_leaves_no_worker(tmp_path: Path, cached: bool) -> None:
    """A terminal's Ctrl-C reaches every process of the group: each worker used to raise
    KeyboardInterrupt too and print its traceback ("Process ForkPoolWorker-1: ..."), and the
    run could hang for good in the pool's end (a worker had died holding its task queue)."""
    import os

    from testing.repo import finetune_command, init_repo, minimal_config, write_files

    repo = init_repo(tmp_path / "repo")
    write_files(repo, {"finetune.yaml": minimal_config(), "data/train.jsonl": _big_data()})
    env = {**os.environ, "FINETUNE_CACHE": str(tmp_path / "results.cache")} if cached else dict(os.environ)
    returncode, stderr = _stop_midway([*finetune_command(), "check", "finetune.yaml"], repo, env, signal.SIGINT, lambda pid: len(_children(pid)) >= 2)
    assert returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted" and stderr.count("interrupted") == 1, stderr
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr
