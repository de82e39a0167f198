"""A GitHub stand-in with one repository and one fork pull request, and clients for it."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from finetune_action.github.api import GitHubClient
from testing.github_standin import READ_ONLY, GitHubStandIn, github_standin

REPO = "octo-org/octo-repo"
PR = 7
TOKEN = "ghs_standinWriteToken0123456789"
FORK_TOKEN = "ghs_standinForkToken0123456789"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with github_standin() as standin:
        standin.add_token(TOKEN)
        standin.add_token(FORK_TOKEN, READ_ONLY)
        standin.add_repo(REPO, default_branch="main")
        standin.add_pull(REPO, PR, head_sha="a" * 40)
        yield standin


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the client asked for, instead of waiting."""
    return []


@pytest.fixture
def client(github: GitHubStandIn, sleeps: list[float]) -> Iterator[GitHubClient]:
    made = GitHubClient(TOKEN, github.base_url, sleep=sleeps.append)
    yield made
    made.close()


@pytest.fixture
def fork_client(github: GitHubStandIn, sleeps: list[float]) -> Iterator[GitHubClient]:
    made = GitHubClient(FORK_TOKEN, github.base_url, sleep=sleeps.append)
    yield made
    made.close()
