"""The action's container built and run for real: a private dockerd, a local base image, GitHub's `docker run`.

No registry is reachable here, so the Python base image is made with mmdebstrap from the
machine's own Debian mirror and the build installs from a host-made wheelhouse with no
network. The daemon's data (with the base image and build cache) lives under STATE_DIR and
is reused by later sessions; a daemon started for tests is stopped by the last session out.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from testing.action import parse_outputs

# Debian's client: it drives the daemon's own BuildKit. Another `docker` on PATH may lack
# buildx and fall back to the deprecated builder.
DOCKER = "/usr/bin/docker"
STATE_DIR = Path("/var/tmp/finetune-docker")
BASE_IMAGE = "finetune-base:bookworm"
# Debian bookworm's Python is 3.11, the same minor version as the host interpreter that
# builds the wheelhouse, so its compiled wheels (tiktoken, jiter, pydantic-core) fit.
BASE_SUITE = "bookworm"
BASE_PYTHON = (3, 11)
BASE_PACKAGES = ("python3", "python3-venv", "git", "ca-certificates")
# python:3.11-slim has no git, so on GitHub the Dockerfile's final stage apt-gets it: bench/startup.py
# builds on this base to pay that step too (the Debian mirror is reachable here, as on GitHub).
NO_GIT_BASE_IMAGE = "finetune-base:bookworm-no-git"
NO_GIT_BASE_PACKAGES = tuple(name for name in BASE_PACKAGES if name != "git")
HOST_DEBIAN_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class DockerProblem(RuntimeError):
    """Docker could have run here but a step failed; the message carries the step's output."""


class ActionRun(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]  # what the step wrote to $GITHUB_OUTPUT
    summary: str  # what it appended to $GITHUB_STEP_SUMMARY
    env: dict[str, str]  # what it wrote to $GITHUB_ENV


def unavailable_reason() -> str | None:
    """Why a real Docker cannot run on this machine at all, or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"Docker tests need Linux to run dockerd; this is {sys.platform}"
    if os.geteuid() != 0:
        return "Docker tests need root to start a private dockerd (uid is %d)" % os.geteuid()
    missing = [tool for tool in (DOCKER, "/usr/sbin/dockerd", "/usr/bin/mmdebstrap") if not Path(tool).exists()]
    if missing and shutil.which("apt-get") is None:
        return f"{', '.join(missing)} missing and no apt-get to install docker.io and mmdebstrap"
    return None


def ensure_packages() -> None:
    """Install Debian's docker.io and mmdebstrap unless they are there already."""
    if all(Path(tool).exists() for tool in (DOCKER, "/usr/sbin/dockerd", "/usr/bin/mmdebstrap")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _locked("setup"):
        _check(["apt-get", "update", "-q"], env=env, timeout=600)
        _check(
            ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", "docker.io", "mmdebstrap"],
            env=env,
            timeout=900,
        )


def docker(host: str, *args: str, timeout: float = 600, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run Debian's docker client against the daemon at `host` (a DOCKER_HOST value)."""
    env = {**os.environ, **kwargs.pop("env", {}), "DOCKER_HOST": host, "DOCKER_BUILDKIT": "1"}
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    out = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and out.returncode != 0:
        raise DockerProblem(f"`docker {' '.join(args)}` exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


@contextlib.contextmanager
def daemon(root: Path = STATE_DIR, wait: float = 60) -> Iterator[str]:
    """Yield the DOCKER_HOST of a private dockerd under `root`, starting one if none answers.

    A daemon started here is stopped by the last session using it (each holds the users lock
    shared); one started by `start_daemon` is left running.
    """
    root.mkdir(parents=True, exist_ok=True)
    host = f"unix://{root}/docker.sock"
    started_for_tests = root / "started-for-tests"
    with open(root / "users.lock", "a") as users:
        with _locked("setup", root):
            fcntl.flock(users, fcntl.LOCK_SH)
            if not _answers(host):
                _start_daemon(root, host, wait)
                started_for_tests.touch()
        try:
            yield host
        finally:
            with _locked("setup", root):
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # another session still uses it and will stop it when done
                else:
                    if started_for_tests.exists():
                        stop_daemon(root)
                        started_for_tests.unlink()


def start_daemon(root: Path = STATE_DIR, wait: float = 60) -> str:
    """Start a private dockerd under `root` (or keep the one answering) and leave it running; return DOCKER_HOST."""
    root.mkdir(parents=True, exist_ok=True)
    host = f"unix://{root}/docker.sock"
    with _locked("setup", root):
        if not _answers(host):
            _start_daemon(root, host, wait)
        (root / "started-for-tests").unlink(missing_ok=True)
    return host


def stop_daemon(root: Path = STATE_DIR, wait: float = 60) -> None:
    """Stop the dockerd under `root` and unmount the network namespace it leaves behind."""
    pid = _daemon_pid(root)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while _daemon_pid(root) == pid:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.2)
    (root / "dockerd.pid").unlink(missing_ok=True)
    # It bind-mounts its default network namespace here and does not unmount it on exit.
    for netns in sorted((root / "exec" / "netns").glob("*")):
        subprocess.run(["umount", str(netns)], capture_output=True, check=False)


def ensure_base_image(host: str, tag: str = BASE_IMAGE, packages: Sequence[str] = BASE_PACKAGES) -> str:
    """Make the minimal Debian base image of `packages` with mmdebstrap + `docker import` unless `tag` exists."""
    with _locked("base"):
        if docker(host, "image", "inspect", tag, check=False).returncode == 0:
            return tag
        mirrors = [str(path) for path in HOST_DEBIAN_SOURCES if path.is_file() and BASE_SUITE in path.read_text()][:1]
        with tempfile.TemporaryFile() as strap_log:
            strap = subprocess.Popen(
                [
                    "mmdebstrap",
                    "--quiet",
                    "--variant=minbase",
                    f"--include={','.join(packages)}",
                    # Documentation and translations are dead weight in an action's image.
                    "--dpkgopt=path-exclude=/usr/share/doc/*",
                    "--dpkgopt=path-exclude=/usr/share/man/*",
                    "--dpkgopt=path-exclude=/usr/share/locale/*",
                    BASE_SUITE,
                    "-",
                    *mirrors,
                ],
                stdout=subprocess.PIPE,
                stderr=strap_log,
            )
            assert strap.stdout is not None
            # An imported tarball has no ENV; give it the PATH and locale official Python images have.
            imported = docker(
                host,
                "import",
                "--change",
                f"ENV PATH={STANDARD_PATH}",
                "--change",
                "ENV LANG=C.UTF-8",
                "-",
                tag,
                stdin=strap.stdout,
                check=False,
            )
            strap.stdout.close()
            if strap.wait() != 0 or imported.returncode != 0:
                strap_log.seek(0)
                strap_err = strap_log.read().decode(errors="replace")[-3000:]
                raise DockerProblem(f"making {tag} failed:\nmmdebstrap: {strap_err}\ndocker import: {imported.stderr}")
    return tag


def make_wheelhouse(repo: Path) -> Path:
    """Fill `repo`/wheels with wheels of the package's build and run-time requirements, made by this interpreter."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    # The image installs the open-models extra too (Dockerfile).
    requirements = [*project["build-system"]["requires"], *project["project"]["dependencies"], *project["project"]["optional-dependencies"]["open-models"]]
    wheels = repo / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    _check([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), *requirements], timeout=600)
    return wheels


def build_image(host: str, repo: Path, tag: str, base_image: str = BASE_IMAGE, network: str = "none") -> str:
    """Build the repository's Dockerfile on `base_image` from a fresh wheelhouse (no network unless
    `network` is "host": then apt-get in the build reaches the Debian mirror); return `tag`."""
    if base_image in (BASE_IMAGE, NO_GIT_BASE_IMAGE) and sys.version_info[:2] != BASE_PYTHON:
        raise DockerProblem(
            f"the wheelhouse is made by this Python {sys.version_info[0]}.{sys.version_info[1]} but {base_image} has "
            f"Python {BASE_PYTHON[0]}.{BASE_PYTHON[1]}: compiled wheels would not fit; run the tests with Python 3.11"
        )
    # Sessions in the same clone share its wheels/ directory: one builds at a time.
    with _locked("build"):
        make_wheelhouse(repo)
        docker(host, "build", "--network", network, "--build-arg", f"PYTHON_IMAGE={base_image}", "--tag", tag, str(repo), timeout=900)
    return tag


def image_size(host: str, tag: str) -> int:
    """The image's size in bytes as Docker reports it."""
    return int(docker(host, "image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def run_action(
    host: str,
    image: str,
    workspace: Path,
    *,
    event_name: str = "pull_request",
    event: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    action_yml: Path | None = None,
    github_token: str = "",
    entrypoint: str | None = None,
    args: Sequence[str] = (),
    network: str = "host",
    timeout: float = 300,
) -> ActionRun:
    """Run `image` the way GitHub's runner runs a Docker action (ContainerActionHandler + DockerRun).

    Mirrored: the /github/{home,workflow,file_commands,workspace} mounts, --workdir, --rm, env
    passed by name (`-e NAME`, so secrets stay off the command line), INPUT_<NAME> with
    defaults from `action_yml`, GITHUB_ACTIONS=true and CI=true. Different on purpose:
    `--network host` by default (no bridge here; stand-in servers listen on 127.0.0.1; "none"
    proves a command needs no network) and no /var/run/docker.sock mount (the action never
    talks to Docker).
    """
    with tempfile.TemporaryDirectory(prefix="runner-temp-") as temp:
        runner_temp = Path(temp)
        mounts = {
            runner_temp / "_github_home": "/github/home",
            runner_temp / "_github_workflow": "/github/workflow",
            runner_temp / "_runner_file_commands": "/github/file_commands",
        }
        for directory in mounts:
            directory.mkdir()
        (runner_temp / "_github_workflow" / "event.json").write_text(json.dumps(event or {}))
        suffix = uuid.uuid4()
        file_commands = {
            "GITHUB_OUTPUT": f"set_output_{suffix}",
            "GITHUB_STEP_SUMMARY": f"step_summary_{suffix}",
            "GITHUB_ENV": f"set_env_{suffix}",
            "GITHUB_PATH": f"add_path_{suffix}",
            "GITHUB_STATE": f"save_state_{suffix}",
        }
        for name in file_commands.values():
            (runner_temp / "_runner_file_commands" / name).touch()
        container_env = {
            **_github_env(event_name),
            **{name: f"/github/file_commands/{file}" for name, file in file_commands.items()},
            "GITHUB_EVENT_PATH": "/github/workflow/event.json",
            "HOME": "/github/home",
            "RUNNER_TEMP": str(runner_temp),
            **input_env(action_yml, inputs or {}, {"github.token": github_token}),
            **(env or {}),
        }
        name = f"finetune-test-{suffix.hex[:12]}"
        command = ["run", "--name", name, "--workdir", "/github/workspace", "--rm"]
        for key in container_env:
            command += ["-e", key]
        command += ["-e", "GITHUB_ACTIONS=true"]
        if "CI" not in container_env:
            command += ["-e", "CI=true"]
        if entrypoint:
            command += ["--entrypoint", entrypoint]
        command += ["--network", network]
        for source, target in {**mounts, workspace: "/github/workspace"}.items():
            command += ["-v", f"{source}:{target}"]
        command += [image, *args]
        try:
            out = docker(host, *command, timeout=timeout, check=False, env=container_env)
        except subprocess.TimeoutExpired:
            docker(host, "rm", "--force", name, check=False)
            raise
        commands_dir = runner_temp / "_runner_file_commands"
        return ActionRun(
            out.returncode,
            out.stdout,
            out.stderr,
            parse_outputs((commands_dir / file_commands["GITHUB_OUTPUT"]).read_text()),
            (commands_dir / file_commands["GITHUB_STEP_SUMMARY"]).read_text(),
            parse_outputs((commands_dir / file_commands["GITHUB_ENV"]).read_text()),
        )


def input_env(action_yml: Path | None, inputs: Mapping[str, str], contexts: Mapping[str, str]) -> dict[str, str]:
    """INPUT_<NAME> variables as the runner sets them: action.yml defaults, then the step's `with:`.

    A default that is a whole expression (`${{ github.token }}`) is looked up in `contexts`.
    """
    declared = ((yaml.safe_load(action_yml.read_text()) or {}).get("inputs") or {}) if action_yml else {}
    values = {name: str(spec["default"]) for name, spec in declared.items() if spec and "default" in spec}
    for name, default in values.items():
        expression = re.fullmatch(r"\$\{\{\s*([\w.-]+)\s*\}\}", default)
        if expression:
            values[name] = contexts[expression.group(1)]
    values.update(inputs)
    # The runner upper-cases names and turns spaces into underscores; hyphens are kept.
    return {"INPUT_" + name.replace(" ", "_").upper(): value for name, value in values.items()}


def _github_env(event_name: str) -> dict[str, str]:
    """The GITHUB_* context a hosted runner exposes, with stand-in values tests override via `env`."""
    return {
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_REPOSITORY": "octo-org/finetune-data",
        "GITHUB_REPOSITORY_OWNER": "octo-org",
        "GITHUB_SHA": "0" * 40,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_RUN_ID": "1",
        "GITHUB_RUN_NUMBER": "1",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "finetune",
        "GITHUB_ACTION": "__run",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_WORKFLOW": "finetune",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_GRAPHQL_URL": "https://api.github.com/graphql",
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
    }


def _daemon_pid(root: Path) -> int | None:
    """The pid in dockerd's pidfile while that process is a dockerd (it removes the file on exit)."""
    try:
        pid = int((root / "dockerd.pid").read_text().strip())
        # A pidfile left by a killed daemon may name a process that reused the number.
        return pid if Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd" else None
    except (OSError, ValueError):
        return None


def _answers(host: str) -> bool:
    return subprocess.run([DOCKER, "-H", host, "version"], capture_output=True, check=False, timeout=30).returncode == 0


def _start_daemon(root: Path, host: str, wait: float) -> None:
    """Start dockerd with overlay2 (vfs makes every run take seconds), no bridge and no iptables."""
    stop_daemon(root)  # a daemon that died uncleanly leaves a pidfile and a mounted netns
    log = open(root / "dockerd.log", "wb")
    process = subprocess.Popen(
        [
            "dockerd",
            "--host",
            host,
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "dockerd.pid"),
            "--storage-driver",
            "overlay2",
            "--bridge",
            "none",
            "--iptables=false",
            "--ip6tables=false",
            # Its own containerd namespaces keep its containers apart from any other engine's.
            "--containerd-namespace",
            "finetune",
            "--containerd-plugins-namespace",
            "finetune-plugins",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + wait
    while not _answers(host):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            stop_daemon(root)
            tail = (root / "dockerd.log").read_text(errors="replace")[-3000:]
            raise DockerProblem(f"dockerd did not answer on {host} within {wait:.0f}s:\n{tail}")
        time.sleep(0.2)


@contextlib.contextmanager
def _locked(name: str, root: Path = STATE_DIR) -> Iterator[None]:
    """Serialise a setup step across test sessions (other clones and helpers share this machine)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _check(command: Sequence[str], timeout: float, **kwargs: Any) -> None:
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    if out.returncode != 0:
        raise DockerProblem(f"`{' '.join(command)}` exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
