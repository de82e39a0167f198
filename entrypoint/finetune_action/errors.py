"""The one exception family for failures a user must act on.

Every message says what went wrong, where (file:line or config key) and what to do.
`main` turns these into a message on stderr and an exit code; a traceback is a bug.
"""
from __future__ import annotations

from typing import NamedTuple

#: Exit codes shared by every command.
EXIT_OK = 0
EXIT_PROBLEMS = 1  # the check found problems, or a job failed
EXIT_USAGE = 2  # bad usage, config or environment


class FinetuneError(Exception):
    """A failure the user can fix; `str()` is the whole message."""

    exit_code = EXIT_USAGE


class ConfigProblem(NamedTuple):
    """One problem in a finetune.yaml, at the YAML node it is about (line and column from 1)."""

    key: str  # the key path, e.g. hyperparameters.n_epochs ("" for the whole file)
    message: str
    line: int | None
    column: int | None


class ConfigError(FinetuneError):
    """finetune.yaml is missing, malformed or invalid.

    `problems` holds one entry per problem, with its place in the file, for annotations and
    the JSON report; the message says them all in text.
    """

    def __init__(self, message: str, problems: tuple[ConfigProblem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class EnvironmentProblem(FinetuneError):
    """The process environment (GitHub variables, inputs, keys) is missing or contradictory."""


class GitError(FinetuneError):
    """A git command needed for the base-branch diff failed."""


class GitHubError(FinetuneError):
    """The GitHub API refused or failed a request."""

    exit_code = EXIT_PROBLEMS

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderError(FinetuneError):
    """The fine-tuning provider refused or failed a request.

    `ambiguous` means the provider may have acted on a creating call (a 5xx, a timeout, a
    connection dropped after the request was sent): look for what it made before retrying.
    """

    exit_code = EXIT_PROBLEMS

    def __init__(self, message: str, status: int | None = None, code: str | None = None, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.ambiguous = ambiguous
