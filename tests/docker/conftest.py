"""One private dockerd and one image build per test session, shared by every container test."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.docker import build_image, daemon, docker, ensure_base_image, ensure_packages, unavailable_reason

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: builds the action's image and runs it in a private dockerd")


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    """DOCKER_HOST of a private daemon that has the local base image."""
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
