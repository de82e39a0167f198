"""The action's image, built from the Dockerfile and run the way GitHub's runner runs it."""
from __future__ import annotations

import json
import os
import shutil
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from finetune_action import __version__
from testing.docker import docker, run_action
from testing.repo import git, init_repo

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


def python_in(docker_host: str, action_image: str, tmp_path: Path, script: str) -> str:
    """What `script` prints, run by the image's Python (which must exit 0)."""
    run = run_action(docker_host, action_image, tmp_path, entrypoint="/opt/finetune/bin/python", args=["-c", script])
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_version_is_the_package_version(docker_host: str, action_image: str, tmp_path: Path) -> None:
    run = run_action(docker_host, action_image, tmp_path, entrypoint="finetune", args=["--version"])
    assert (run.returncode, run.stdout.strip()) == (0, f"finetune {__version__}"), run.stderr


def test_schema_is_the_packaged_one(docker_host: str, action_image: str, tmp_path: Path) -> None:
    run = run_action(docker_host, action_image, tmp_path, entrypoint="finetune", args=["schema"])
    assert run.returncode == 0, run.stderr
    packaged = REPO / "entrypoint" / "finetune_action" / "finetune.schema.json"
    assert json.loads(run.stdout) == json.loads(packaged.read_text())


def test_image_runs_finetune_action_as_root_wherever_the_runner_says(docker_host: str, action_image: str) -> None:
    config = json.loads(docker(docker_host, "image", "inspect", "--format", "{{json .Config}}", action_image).stdout)
    assert config["Entrypoint"] == ["/opt/finetune/bin/finetune", "action"]
    assert not config["User"] and config["WorkingDir"] in ("", "/")  # "/": what a FROM scratch image records without WORKDIR


def test_image_holds_only_what_runs(docker_host: str, action_image: str, tmp_path: Path) -> None:
    # No pip, setuptools or shipped test suites; the bytecode pip wrote is kept (it starts faster).
    script = (
        "import importlib.util, pathlib, sys; site = pathlib.Path(sys.prefix, 'lib', 'python3.11', 'site-packages'); "
        "print(sorted(p.name for p in site.rglob('tests') if p.is_dir()), "
        "[m for m in ('pip', 'setuptools') if importlib.util.find_spec(m)], "
        "any(site.joinpath('finetune_action').rglob('*.pyc')))"
    )
    assert python_in(docker_host, action_image, tmp_path, script) == "[] [] True"


def test_image_has_no_package_manager_and_a_compiled_pruned_standard_library(docker_host: str, action_image: str, tmp_path: Path) -> None:
    # image/rootfs.py: the final stage is FROM scratch with only what runs copied in.
    script = (
        "import importlib.util, os, pathlib, shutil, sysconfig; stdlib = pathlib.Path(sysconfig.get_paths()['stdlib']); "
        "print([p for p in ('apt-get', 'dpkg', 'perl', 'ls', 'pip') if shutil.which(p)], [p for p in ('git', 'sh') if not shutil.which(p)], "
        "[d for d in ('test', 'idlelib', 'tkinter', 'lib2to3', 'ensurepip') if (stdlib / d).exists()], "
        "os.path.exists(importlib.util.cache_from_source(os.__file__)), os.path.exists(importlib.util.cache_from_source(shutil.__file__)))"
    )
    assert python_in(docker_host, action_image, tmp_path, script) == "[] [] [] True True"


def test_image_counts_open_models_exactly_without_their_dependencies(docker_host: str, action_image: str, tmp_path: Path) -> None:
    # The open-models extra is installed for its tokenizer files only (--no-deps): exact counts,
    # and none of the heavy packages those libraries themselves import.
    script = (
        "import importlib.util; from finetune_action.tokens import tokenizers; "
        "print([tokenizers.get(n).exact for n in ('llama3', 'mistral-tekken')], "
        "[m for m in ('numpy', 'PIL', 'huggingface_hub', 'jinja2', 'pycountry') if importlib.util.find_spec(m)], "
        "sorted(p.name for m in ('llama_models', 'mistral_common') for p in __import__('pathlib').Path(importlib.util.find_spec(m).origin).parent.rglob('*') if p.is_file()))"
    )
    # Of those packages only the files counting reads are left (tokens/package_files.py).
    kept = "['__init__.py', '__init__.py', 'tekken_240911.json', 'tokenizer.model']"
    assert python_in(docker_host, action_image, tmp_path, script) == f"[True, True] [] {kept}"


def test_check_needs_no_network(docker_host: str, action_image: str, tmp_path: Path) -> None:
    # Token counting must use the rank files inside the package, never a download.
    shutil.copy(REPO / "finetune.yaml", tmp_path)
    shutil.copytree(REPO / "examples" / "data", tmp_path / "examples" / "data")
    run = run_action(docker_host, action_image, tmp_path, entrypoint="finetune", args=["check"], network="none")
    assert run.returncode == 0, run.stdout + run.stderr


def test_stand_in_servers_on_the_host_loopback_are_reachable(docker_host: str, action_image: str, tmp_path: Path) -> None:
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello from the host")

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Hello) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        script = "import os, urllib.request; print(urllib.request.urlopen(os.environ['GITHUB_API_URL']).read().decode())"
        run = run_action(docker_host, action_image, tmp_path, env={"GITHUB_API_URL": url}, entrypoint="python", args=["-c", script])
        server.shutdown()
    assert (run.returncode, run.stdout.strip()) == (0, "hello from the host"), run.stderr


def test_git_trusts_a_workspace_owned_by_another_user(docker_host: str, action_image: str, tmp_path: Path) -> None:
    # On GitHub the workspace belongs to the runner user while the action runs as root.
    workspace = init_repo(tmp_path / "workspace")
    (workspace / "finetune.yaml").write_text("version: 1\n")
    git(workspace, "add", "finetune.yaml")
    git(workspace, "commit", "-q", "-m", "Add the fine-tune")
    for path in [workspace, *workspace.rglob("*")]:
        os.lchown(path, 1001, 1001)
    run = run_action(docker_host, action_image, workspace, entrypoint="git", args=["log", "--format=%s"])
    assert (run.returncode, run.stdout.strip()) == (0, "Add the fine-tune"), run.stderr


def test_git_fetches_the_history_a_shallow_clone_lacks(docker_host: str, action_image: str, tmp_path: Path) -> None:
    # The review fetches the base commit when the checkout is shallow. A local remote runs
    # git-upload-pack through /bin/sh: the image keeps sh and git's builtins under their dashed names.
    workspace = tmp_path / "workspace"
    origin = init_repo(workspace / "origin")
    for message in ("Add the fine-tune", "Tune it"):
        (origin / "finetune.yaml").write_text(f"# {message}\nversion: 1\n")
        git(origin, "add", "finetune.yaml")
        git(origin, "commit", "-q", "-m", message)
    git(workspace, "clone", "-q", "--depth", "1", f"file://{origin}", "clone")
    git(workspace / "clone", "remote", "set-url", "origin", "/github/workspace/origin")  # the path inside the container
    run = run_action(docker_host, action_image, workspace, entrypoint="git", args=["-C", "clone", "fetch", "--quiet", "--unshallow", "origin"])
    assert run.returncode == 0, run.stderr
    assert git(workspace / "clone", "rev-list", "--count", "HEAD").strip() == "2"


def test_the_https_clients_load_in_the_image(docker_host: str, action_image: str, tmp_path: Path) -> None:
    # No registry or GitHub is reachable here, so no real TLS handshake: what can break offline is
    # a shared library or a certificate bundle the FROM scratch stage did not copy.
    helper = run_action(docker_host, action_image, tmp_path, entrypoint="git", args=["remote-https"])
    assert (helper.returncode, helper.stderr.strip()) == (1, "error: remote-curl: usage: git remote-curl <remote> [<url>]")
    script = (
        "import os, ssl, certifi, openai, requests; ssl.create_default_context(cafile=certifi.where()); openai.OpenAI(api_key='none'); "
        "print(os.path.getsize('/etc/ssl/certs/ca-certificates.crt') > 100_000)"
    )
    assert python_in(docker_host, action_image, tmp_path, script) == "True"


def test_runner_files_inputs_and_env_arrive_as_on_github(docker_host: str, action_image: str, tmp_path: Path) -> None:
    # Python, not sh: dash drops variables whose names are not identifiers (INPUT_GITHUB-TOKEN).
    script = textwrap.dedent(
        """
        import json, os
        env = os.environ
        assert os.getcwd() == "/github/workspace" and env["HOME"] == "/github/home"
        print(json.load(open(env["GITHUB_EVENT_PATH"])))
        for name in ("INPUT_CONFIG", "INPUT_MODE", "INPUT_GITHUB-TOKEN", "GITHUB_ACTIONS", "CI"):
            print(name, env[name])
        with open(env["GITHUB_OUTPUT"], "a") as out:
            out.write("model=ft:gpt-4.1-mini:octo::abc123\\n")
            out.write("report<<ghadelimiter_1\\nline 1\\nline 2\\nghadelimiter_1\\n")
        with open(env["GITHUB_STEP_SUMMARY"], "a") as summary:
            summary.write("## Fine-tune\\n")
        """
    )
    run = run_action(
        docker_host,
        action_image,
        tmp_path,
        event_name="pull_request",
        event={"number": 7},
        inputs={"mode": "check"},
        action_yml=REPO / "action.yml",
        github_token="ghs_standin",
        entrypoint="python",
        args=["-c", script],
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "{'number': 7}",
        "INPUT_CONFIG finetune.yaml",
        "INPUT_MODE check",
        "INPUT_GITHUB-TOKEN ghs_standin",
        "GITHUB_ACTIONS true",
        "CI true",
    ]
    assert run.outputs == {"model": "ft:gpt-4.1-mini:octo::abc123", "report": "line 1\nline 2"}
    assert run.summary == "## Fine-tune\n"
