"""Real temporary git repositories and the `finetune` CLI run as a subprocess, as users meet it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import yaml


class Run(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def finetune_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m finetune_action`."""
    script = Path(sys.executable).parent / "finetune"
    return [str(script)] if script.exists() else [sys.executable, "-m", "finetune_action"]


def run_finetune(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """Run `finetune ARGS` in `cwd` with a clean environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "OPENAI_", "AZURE_", "TOGETHER_", "FIREWORKS_", "WANDB_"))}
    out = subprocess.run(
        [*finetune_command(), *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(out.returncode, out.stdout, out.stderr)


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity; return stdout."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def init_repo(path: Path, branch: str = "main") -> Path:
    """An empty git repository at `path`."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    return path


def write_files(repo: Path, files: dict[str, Any]) -> None:
    """Write files into `repo`: dicts become YAML, lists of dicts JSONL, str/bytes as is."""
    for name, content in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        elif isinstance(content, dict):
            target.write_text(yaml.safe_dump(content, sort_keys=False), "utf-8")
        elif isinstance(content, list):
            target.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in content), "utf-8")
        else:
            target.write_text(content, "utf-8")


def commit(repo: Path, files: dict[str, Any], message: str = "change") -> str:
    """Write `files`, commit everything, return the new commit SHA."""
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def chat_examples(count: int, topic: str = "notes") -> list[dict]:
    """`count` distinct, valid chat fine-tuning examples."""
    return [
        {
            "messages": [
                {"role": "system", "content": f"You answer questions about {topic}."},
                {"role": "user", "content": f"Question number {i} about {topic}?"},
                {"role": "assistant", "content": f"Answer number {i}: it depends on {topic}."},
            ]
        }
        for i in range(count)
    ]


def minimal_config(**overrides: Any) -> dict:
    """A valid finetune.yaml mapping for a repository with data/train.jsonl."""
    config = {
        "version": 1,
        "name": "support-bot",
        "model": "gpt-4.1-mini-2025-04-14",
        "data": {"train": "data/train.jsonl"},
    }
    config.update(overrides)
    return config
