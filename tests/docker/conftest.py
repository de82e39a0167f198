"""One private dockerd and one image build per test session, shared by every container test."""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from testing.docker import build_image, daemon, docker, ensure_base_image, ensure_packages, unavailable_reason

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: builds the action's image and runs it in a private dockerd")


#: Opting in: these tests install packages with apt-get and start a daemon as root.
OPT_IN = "FINETUNE_DOCKER_TESTS"


def opt_in_missing(env: Mapping[str, str]) -> str | None:
    """Why the Docker tests do not run here: they run only when asked (or in CI), never by surprise."""
    if env.get(OPT_IN) == "1" or env.get("CI") == "true":
        return None
    return (
        f"CONTAINER NOT TESTED: opt-in locally, because they install docker.io and mmdebstrap with apt-get when missing "
        f"and start a private dockerd as root; set {OPT_IN}=1 to run them (.ci/run and CI do)"
    )


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    """DOCKER_HOST of a private daemon that has the local base image."""
    missing = opt_in_missing(os.environ)
    if missing:
        pytest.skip(missing)
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"CONTAINER NOT TESTED: {reason}")
    ensure_packages()
    with daemon() as host:
        ensure_base_image(host)
        yield host


@pytest.fixture(scope="session")
def action_image(docker_host: str) -> Iterator[str]:
    """The repository's Dockerfile built offline; removed after the session (its build cache stays)."""
    tag = build_image(docker_host, REPO, f"finetune-action:test-{os.getpid()}")
    yield tag
    docker(docker_host, "rmi", tag, check=False)
