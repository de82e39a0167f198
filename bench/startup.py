"""Cold start of each way to run the action, up to the check of the example repository done.

Run (root, Linux; it starts the private dockerd of testing/docker.py):
    python -m bench.startup [--rounds 3]

The ways, each from nothing on the machine but what a runner has:
- build: what `image: Dockerfile` makes every job do. The base image is loaded from a tarball
  (standing in for the pull of python:3.11-slim), the build cache is emptied, the Dockerfile is
  built from the wheelhouse (standing in for PyPI), then the check runs in it. The base has no
  git, as python:3.11-slim has none, so the build's final stage runs its `apt-get update` and
  `apt-get install git` against the Debian mirror, as on GitHub (`--base with-git`: the base of
  the tests, which ships git, so that step is skipped and the build needs no network at all).
- prebuilt: what `image: docker://ghcr.io/...@sha256:...` makes a job do. The whole image is
  loaded from a `docker save` tarball (standing in for the registry pull: no network here),
  then the check runs in it.
- composite: a composite action that makes a virtualenv and pip-installs the pinned wheel and
  its dependencies from local wheels (standing in for a warm pip cache restored by
  actions/cache; the restore itself is not counted), then runs `finetune check`.
Each way ends with `finetune check` of this repository's finetune.yaml (16 + 4 examples).
Ways run alternately, round after round, and the load average is printed with each figure: the
machine is shared. Not a test: read the ratios.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from testing.docker import BASE_IMAGE, NO_GIT_BASE_IMAGE, NO_GIT_BASE_PACKAGES, build_image, docker, ensure_base_image, image_size, make_wheelhouse, start_daemon

REPO = Path(__file__).resolve().parents[1]
IMAGE = "finetune-action:bench-startup"
EXAMPLE = ("finetune.yaml", "examples/data")


def example_repository(root: Path) -> Path:
    """A copy of the config and data the check reads (the checkout a runner would mount)."""
    shutil.copy(REPO / EXAMPLE[0], root / EXAMPLE[0])
    shutil.copytree(REPO / EXAMPLE[1], root / EXAMPLE[1])
    return root


def timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def check_in(host: str, image: str, workspace: Path, *env: str) -> None:
    env_args = [arg for name in env for arg in ("-e", name)]
    docker(host, "run", "--rm", "--network", "none", *env_args, "-v", f"{workspace}:/work:ro", "-w", "/work", "--entrypoint", "/opt/finetune/bin/finetune", image, "check")


def forget_images(host: str, base: str) -> None:
    """Nothing of ours left in the daemon: no image, no base, no build cache."""
    docker(host, "rmi", "--force", IMAGE, base, check=False)
    docker(host, "builder", "prune", "--all", "--force")
    docker(host, "image", "prune", "--force")


def build_network(base: str) -> str:
    """The tests' base ships git and builds with no network; on the other, apt-get reaches the Debian mirror."""
    return "none" if base == BASE_IMAGE else "host"


def way_build(host: str, base: str, saved_base: Path, workspace: Path) -> None:
    docker(host, "load", "--quiet", "--input", str(saved_base))
    docker(host, "build", "--quiet", "--no-cache", "--network", build_network(base), "--build-arg", f"PYTHON_IMAGE={base}", "--tag", IMAGE, str(REPO), timeout=1800)
    check_in(host, IMAGE, workspace)


def way_prebuilt(host: str, saved_image: Path, workspace: Path) -> None:
    docker(host, "load", "--quiet", "--input", str(saved_image))
    check_in(host, IMAGE, workspace)


def way_composite(wheels: Path, wheel: str, venv: Path, workspace: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--no-index", "--find-links", str(wheels)]
    subprocess.run([*pip, wheel], check=True)
    subprocess.run([str(venv / "bin" / "finetune"), "check"], cwd=workspace, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", choices=("no-git", "with-git"), default="no-git", help="no-git (default): like python:3.11-slim, the build apt-gets git")
    args = parser.parse_args()
    host = start_daemon()
    ensure_base_image(host)  # the tests' base, loaded again at the end
    base = BASE_IMAGE if args.base == "with-git" else ensure_base_image(host, NO_GIT_BASE_IMAGE, NO_GIT_BASE_PACKAGES)
    with tempfile.TemporaryDirectory(prefix="finetune-startup-") as tmp:
        work = Path(tmp)
        workspace = example_repository(Path(tempfile.mkdtemp(dir=work)))
        print("preparing: the image, its tarballs and the wheelhouse ...", file=sys.stderr)
        build_image(host, REPO, IMAGE, base, network=build_network(base))
        size = image_size(host, IMAGE)
        base_size = image_size(host, base)
        saved_image, saved_base, saved_tests_base = work / "image.tar", work / "base.tar", work / "tests-base.tar"
        docker(host, "save", "--output", str(saved_image), IMAGE)
        docker(host, "save", "--output", str(saved_base), base)
        docker(host, "save", "--output", str(saved_tests_base), BASE_IMAGE)
        wheels = make_wheelhouse(REPO)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index", "--find-links", str(wheels), "--wheel-dir", str(wheels), str(REPO)], check=True)
        [wheel] = sorted(wheels.glob("finetune_action-*.whl"))
        print(f"base {base} ({base_size / 1e6:.0f} MB; the image holds none of its layers: FROM scratch); image {size / 1e6:.0f} MB; image tarball {saved_image.stat().st_size / 1e6:.0f} MB; wheels {sum(p.stat().st_size for p in wheels.iterdir()) / 1e6:.0f} MB")

        # Warm figures: the check alone, with and without the image's bytecode.
        warm = {
            "check in a present image": lambda: check_in(host, IMAGE, workspace),
            "the same, bytecode ignored": lambda: check_in(host, IMAGE, workspace, "PYTHONPYCACHEPREFIX=/tmp/no-bytecode"),
        }
        best: dict[str, float] = {}
        try:
            rounds(args.rounds, host, base, warm, best, work, saved_image, saved_base, wheels, str(wheel), workspace)
        finally:
            docker(host, "load", "--quiet", "--input", str(saved_tests_base))  # tests find their base again
            docker(host, "rmi", IMAGE, check=False)
            shutil.rmtree(wheels, ignore_errors=True)
        print("\nbest of the rounds:")
        for name, seconds in best.items():
            print(f"  {name:32s} {seconds:6.2f} s  build / this {best['build'] / seconds:5.1f}x")


def rounds(count: int, host: str, base: str, warm: dict, best: dict[str, float], work: Path, saved_image: Path, saved_base: Path, wheels: Path, wheel: str, workspace: Path) -> None:
    """Every way once per round, in turn, so the machine's drift touches all of them alike."""
    for round_number in range(1, count + 1):
        for name, step in warm.items():
            seconds = timed(step)
            best[name] = min(best.get(name, seconds), seconds)
            print(f"round {round_number}  {name:32s} {seconds:6.2f} s  load {os.getloadavg()[0]:.1f}")
        for name in ("build", "prebuilt", "composite"):
            forget_images(host, base)
            venv = work / "venv"
            shutil.rmtree(venv, ignore_errors=True)
            if name == "build":
                seconds = timed(lambda: way_build(host, base, saved_base, workspace))
            elif name == "prebuilt":
                seconds = timed(lambda: way_prebuilt(host, saved_image, workspace))
            else:
                seconds = timed(lambda: way_composite(wheels, wheel, venv, workspace))
            best[name] = min(best.get(name, seconds), seconds)
            print(f"round {round_number}  {name:32s} {seconds:6.2f} s  load {os.getloadavg()[0]:.1f}")
        docker(host, "load", "--quiet", "--input", str(saved_image))  # for the warm figures


if __name__ == "__main__":
    main()
