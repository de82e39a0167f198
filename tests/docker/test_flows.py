"""Whole flows through the built image: the PR check and the push that trains, as GitHub runs them."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.action import pull_request_event, push_event
from testing.docker import DOCKER, run_action
from testing.github_standin import GitHubStandIn, github_standin
from testing.openai_standin import serve
from testing.repo import chat_examples, commit, git, init_repo, minimal_config

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "README.md"
REPOSITORY = "acme/bots"
PR = 7
TOKEN = "ghs_containerToken0123456789abcd"
KEY = "sk-proj-containerKEY0123456789abcdef"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with github_standin() as standin:
        standin.add_token(TOKEN)
        standin.add_repo(REPOSITORY)
        yield standin


def shown(stdout: str, stderr: str) -> str:
    """The log as GitHub shows it: the runner swallows ::add-mask:: lines and masks their values after."""
    return "\n".join(line for line in (stdout + stderr).splitlines() if not line.startswith("::add-mask::"))


def owned_by_runner(workspace: Path) -> None:
    """Hand the checkout to another user, as on GitHub: the runner checks out, the action runs as root."""
    for path in [workspace, *workspace.rglob("*")]:
        os.lchown(path, 1001, 1001)


def test_pull_request_check_comments_summarises_and_sets_outputs(
    docker_host: str, action_image: str, tmp_path: Path, github: GitHubStandIn
) -> None:
    workspace = init_repo(tmp_path / "workspace")
    base = commit(workspace, {"finetune.yaml": minimal_config(budget={"max_usd": 100}), "data/train.jsonl": chat_examples(20)}, "base")
    git(workspace, "checkout", "-q", "-b", "feature")
    head = commit(workspace, {"data/train.jsonl": chat_examples(25)}, "more data")
    # Both commits are in the clone: the container has no network to fetch the base.
    owned_by_runner(workspace)
    github.add_pull(REPOSITORY, PR, head_sha=head)

    run = run_action(
        docker_host,
        action_image,
        workspace,
        event_name="pull_request",
        event=pull_request_event(REPOSITORY, PR, base_sha=base, head_sha=head),
        action_yml=ROOT / "action.yml",
        github_token=TOKEN,
        env={
            "GITHUB_API_URL": github.base_url,
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_REPOSITORY_OWNER": "acme",
            "GITHUB_SHA": head,
            "GITHUB_REF": f"refs/pull/{PR}/merge",
        },
    )

    assert run.returncode == 0, run.stdout + run.stderr
    [comment] = github.comments(REPOSITORY, PR)
    body = comment["body"]
    assert "<!-- finetune-action: finetune.yaml -->" in body
    assert "| Training examples | 20 | 25 | +5 (+25%) |" in body
    assert "**5** added, **0** removed, **0** changed" in body
    assert head in body
    assert "Training examples" in run.summary
    assert run.outputs["examples"] == "25" and run.outputs["cost-delta-usd"]
    # Outputs name paths as the action sees them; the file is in the mounted checkout.
    assert run.outputs["report-path"] == "/github/workspace/finetune-output/finetune-report.json"
    report = json.loads((workspace / "finetune-output" / "finetune-report.json").read_text())
    assert report["configs"][0]["diff"]["examples_added"] == 5
    assert TOKEN not in shown(run.stdout, run.stderr) + run.summary


def test_push_to_main_trains_and_records_the_model_in_a_release(
    docker_host: str, action_image: str, tmp_path: Path, github: GitHubStandIn
) -> None:
    workspace = init_repo(tmp_path / "workspace")
    config = minimal_config(wait={"poll_interval": 0.05, "timeout": "10m"}, hyperparameters={"n_epochs": 2})
    sha = commit(workspace, {"finetune.yaml": config, "data/train.jsonl": chat_examples(20)}, "data")
    owned_by_runner(workspace)

    with serve(api_key=KEY) as openai_standin:
        run = run_action(
            docker_host,
            action_image,
            workspace,
            event_name="push",
            event=push_event(REPOSITORY, sha),
            inputs={"openai-api-key": KEY},
            action_yml=ROOT / "action.yml",
            github_token=TOKEN,
            env={
                "GITHUB_API_URL": github.base_url,
                "GITHUB_REPOSITORY": REPOSITORY,
                "GITHUB_REPOSITORY_OWNER": "acme",
                "GITHUB_SHA": sha,
                "GITHUB_REF": "refs/heads/main",
                "OPENAI_BASE_URL": openai_standin.base_url,
            },
        )
        jobs = openai_standin.jobs

    assert run.returncode == 0, run.stdout + run.stderr
    job_id = run.outputs["job-id"]
    assert run.outputs["status"] == "succeeded"
    assert run.outputs["model-id"] == jobs[job_id]["fine_tuned_model"]
    [release] = github.releases(REPOSITORY)
    assert release["tag_name"] == f"support-bot-2026-01-01-{sha[:7]}" and release["target_commitish"] == sha
    assert run.outputs["release-url"] == release["html_url"]
    assert run.outputs["model-json"] == "/github/workspace/finetune-output/support-bot/model.json"
    model_json = (workspace / "finetune-output" / "support-bot" / "model.json").read_bytes()
    assert github.asset_bytes(REPOSITORY, release["tag_name"], "model.json") == model_json
    model = json.loads(model_json)
    assert (model["job_id"], model["fine_tuned_model"], model["commit"]) == (job_id, run.outputs["model-id"], sha)
    assert "xychart-beta" in run.summary
    log = shown(run.stdout, run.stderr)
    assert KEY not in log and TOKEN not in log and "Traceback" not in log


# --- the command lines README.md gives, run as written -------------------------------


def documented(marker: str, image: str) -> str:
    """The one `sh` block of README.md containing `marker`, with the image name replaced by `image`."""
    blocks = [block for block in re.findall(r"```sh\n(.*?)```", DOCS.read_text(), re.S) if marker in block]
    assert len(blocks) == 1, f"README.md should have one sh block with {marker!r}"
    return re.sub(r"(?<= )finetune-action(?= |$)", image, blocks[0], flags=re.M)


def shell(command: str, cwd: Path, docker_host: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `command` with bash in `cwd` as a user would, the docker client talking to the test daemon."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "OPENAI_", "AZURE_"))}
    path = f"{Path(DOCKER).parent}:{base.get('PATH', '')}"
    return subprocess.run(["bash", "-c", command], cwd=cwd, env={**base, **(env or {}), "DOCKER_HOST": docker_host, "PATH": path},
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_documented_check(docker_host: str, action_image: str, tmp_path: Path) -> None:
    shutil.copy(ROOT / "finetune.yaml", tmp_path)
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "examples" / "data")
    command = documented("--entrypoint finetune finetune-action check", action_image)
    result = shell(command, tmp_path, docker_host)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "finetune.yaml" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["examples", "finetune.yaml"]

    with (tmp_path / "examples" / "data" / "train.jsonl").open("a") as data:
        data.write("{not json\n")
    assert shell(command, tmp_path, docker_host).returncode == 1


def test_documented_train(docker_host: str, action_image: str, tmp_path: Path) -> None:
    with serve(api_key=KEY) as openai_standin:
        workspace = init_repo(tmp_path / "workspace")
        config = minimal_config(provider={"type": "openai", "base_url": openai_standin.base_url}, wait={"poll_interval": 0.05, "timeout": "10m"})
        commit(workspace, {"finetune.yaml": config, "data/train.jsonl": chat_examples(20)}, "data")
        # The stand-in listens on the host's loopback, as a gateway on the user's machine would.
        command = documented("--entrypoint finetune finetune-action train", action_image).replace("docker run ", "docker run --network host ", 1)
        result = shell(command, workspace, docker_host, env={"OPENAI_API_KEY": KEY})
        jobs = list(openai_standin.jobs.values())
    assert result.returncode == 0, result.stdout + result.stderr
    model = json.loads((workspace / "finetune-output" / "support-bot" / "model.json").read_text())
    assert [job["id"] for job in jobs] == [model["job_id"]] and model["fine_tuned_model"] == jobs[0]["fine_tuned_model"]
    assert KEY not in command + result.stdout + result.stderr


def test_documented_pull_request_preview(docker_host: str, action_image: str, tmp_path: Path) -> None:
    workspace = init_repo(tmp_path / "workspace")
    commit(workspace, {"finetune.yaml": minimal_config(), "data/train.jsonl": chat_examples(20)}, "base")
    git(workspace, "checkout", "-q", "-b", "feature")
    commit(workspace, {"data/train.jsonl": chat_examples(23)}, "more data")
    result = shell(documented("GITHUB_EVENT_NAME=pull_request", action_image), workspace, docker_host)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| Training examples | 20 | 23 | +3 (+15%) |" in result.stdout
    report = json.loads((workspace / "finetune-output" / "finetune-report.json").read_text())
    assert report["configs"][0]["diff"]["examples_added"] == 3
