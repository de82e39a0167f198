"""The shipped action.yml and example workflows pass GitHub's schemas, actionlint and zizmor."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted(str(p) for p in (ROOT / "examples" / "workflows").glob("*.yml"))


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install '.[test]'"
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_there_are_example_workflows() -> None:
    names = {Path(p).name for p in WORKFLOWS}
    assert {"finetune-check.yml", "finetune-train.yml", "finetune-resume.yml", "finetune-matrix.yml",
            "finetune-fork-report.yml", "finetune-fork-comment.yml"} <= names


def test_actionlint() -> None:
    result = run(tool("actionlint"), *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline() -> None:
    result = run(tool("zizmor"), "--offline", "--config", "zizmor.yml", *WORKFLOWS, "action.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("schema, files", [("vendor.github-actions", ["action.yml"]), ("vendor.github-workflows", WORKFLOWS)])
def test_github_schemas(schema: str, files: list[str]) -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", schema, *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_least_privilege_permissions_everywhere() -> None:
    import yaml

    for path in WORKFLOWS:
        workflow = yaml.safe_load(Path(path).read_text())
        permissions = workflow.get("permissions")
        assert isinstance(permissions, dict) and permissions, path
        assert "write-all" not in str(permissions)
        assert set(permissions.values()) <= {"read", "write"}
