"""examples/workflows/release.yml: the tags it pushes run the image it pushed, by digest."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from testing.repo import git, init_repo

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = yaml.safe_load((ROOT / "examples" / "workflows" / "release.yml").read_text())
STEPS = WORKFLOW["jobs"]["release"]["steps"]
IMAGE = "ghcr.io/octo-org/finetune-action"
DIGEST = "sha256:" + "ab12" * 16


def step_script(index: int | str) -> str:
    step = next(s for s in STEPS if s.get("id") == index) if isinstance(index, str) else STEPS[index]
    return step["run"]


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # How the runner runs a `run:` step on Linux.
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)


def test_the_release_commit_runs_the_pushed_image_by_digest(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "action")
    shutil.copy(ROOT / "action.yml", repo / "action.yml")
    git(repo, "add", "action.yml")
    git(repo, "commit", "-q", "-m", "the action")
    main = git(repo, "rev-parse", "HEAD")
    remote = tmp_path / "server" / "octo-org" / "finetune-action.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)

    pin = run_step(step_script("pin"), repo, {"IMAGE": IMAGE, "DIGEST": DIGEST})
    assert pin.returncode == 0, pin.stderr
    pinned = yaml.safe_load((repo / "action.yml").read_text())
    assert pinned["runs"] == {"using": "docker", "image": f"docker://{IMAGE}@{DIGEST}"}
    original = yaml.safe_load((ROOT / "action.yml").read_text())
    assert {k: v for k, v in pinned.items() if k != "runs"} == {k: v for k, v in original.items() if k != "runs"}

    tag = run_step(step_script(-1), repo, {
        "TAG": "v1.2.3", "MAJOR": "v1", "IMAGE": IMAGE, "DIGEST": DIGEST, "GITHUB_TOKEN": "t0ken",
        "REPOSITORY": "octo-org/finetune-action", "SERVER": f"file://{tmp_path / 'server'}",
    })
    assert tag.returncode == 0, tag.stderr
    release = git(remote, "rev-parse", "v1.2.3^{commit}")
    assert git(remote, "rev-parse", "v1^{commit}") == release
    assert git(remote, "rev-parse", f"{release}^") == main  # one commit on top of what was released
    shown = yaml.safe_load(git(remote, "show", f"{release}:action.yml"))
    assert shown["runs"]["image"] == f"docker://{IMAGE}@{DIGEST}"
    assert git(remote, "cat-file", "-t", "v1.2.3") == "tag"  # annotated, naming the image
    assert DIGEST in git(remote, "tag", "-l", "--format=%(contents)", "v1.2.3")
    assert git(remote, "branch", "--list") == ""  # no branch moves: main keeps `image: Dockerfile`


def test_a_missing_digest_stops_the_release(tmp_path: Path) -> None:
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    pin = run_step(step_script("pin"), tmp_path, {"IMAGE": IMAGE, "DIGEST": ""})
    assert pin.returncode != 0 and "no image digest" in pin.stdout
    assert (tmp_path / "action.yml").read_text() == (ROOT / "action.yml").read_text()


def test_the_version_must_be_x_y_z() -> None:
    script = step_script("version")
    for good, major in (("1.2.3", "v1"), ("10.0.12", "v10")):
        out = run_step(script, ROOT, {"VERSION": good, "GITHUB_OUTPUT": "/dev/stdout"})
        assert out.returncode == 0 and f"major={major}" in out.stdout
    for bad in ("v1.2.3", "1.2", "1.2.3; rm -rf /", ""):
        assert run_step(script, ROOT, {"VERSION": bad, "GITHUB_OUTPUT": "/dev/null"}).returncode != 0


def test_the_image_is_built_for_the_x64_and_the_arm64_runners() -> None:
    # The digest names an index of both: an arm64 runner pulls its own image, as it built its
    # own from `image: Dockerfile` before releases were prebuilt.
    uses = [step.get("uses", "").split("@")[0] for step in STEPS]
    build = next(step for step in STEPS if step.get("id") == "build")
    assert build["with"]["platforms"].split(",") == ["linux/amd64", "linux/arm64"]
    assert uses.index("docker/setup-qemu-action") < uses.index("docker/setup-buildx-action") < uses.index("docker/build-push-action")
    assert "arm64" in next(step for step in STEPS if step.get("uses", "").startswith("docker/setup-qemu-action"))["with"]["platforms"]
