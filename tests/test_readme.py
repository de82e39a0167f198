"""The README's Quick start is what CI runs."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_has_two_commands_and_ci_runs_them() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert "finetune check finetune.yaml" in commands[0]
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    for command in commands:
        assert command in ci


def test_docker_tests_are_opt_in_locally_and_ci_opts_in() -> None:
    from tests.docker.conftest import OPT_IN, opt_in_missing

    assert "apt-get" in (opt_in_missing({}) or "") and opt_in_missing({"HOME": "/root", "USER": "root"})
    assert opt_in_missing({OPT_IN: "1"}) is None and opt_in_missing({"CI": "true"}) is None
    assert f"export {OPT_IN}=1" in (ROOT / ".ci" / "run").read_text("utf-8")
    quick_start = (ROOT / "README.md").read_text("utf-8").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert f"`{OPT_IN}=1`" in quick_start and "apt-get" in quick_start and "Docker daemon" in quick_start


def test_schema_comment_points_at_something_a_user_has() -> None:
    """The $schema URL names this repository's schema file at the tag the README tells users to use."""
    readme = (ROOT / "README.md").read_text("utf-8")
    config = (ROOT / "finetune.yaml").read_text("utf-8")
    url = re.search(r"\$schema=(\S+)", config).group(1)
    assert f"$schema={url}" in readme
    match = re.fullmatch(r"https://raw\.githubusercontent\.com/([^/]+/[^/]+)/([^/]+)/(.+)", url)
    assert match, url
    repository, tag, path = match.groups()
    assert f"uses: {repository}@{tag}" in readme
    assert (ROOT / path).is_file() and path == "entrypoint/finetune_action/finetune.schema.json"
    assert "finetune schema > finetune.schema.json" in config


def test_readme_pr_workflow_is_the_linted_example() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Pull-request check", 1)[1]
    shown = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    example = (ROOT / "examples" / "workflows" / "finetune-check.yml").read_text("utf-8")
    body = "".join(line for line in example.splitlines(keepends=True) if not line.startswith("#"))
    assert shown == body


def test_readme_documents_every_action_input_and_output() -> None:
    import yaml

    readme = (ROOT / "README.md").read_text("utf-8")
    action = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
    for name in [*action["inputs"], *action["outputs"]]:
        assert f"| `{name}` |" in readme, name


def test_readme_lists_every_example_workflow() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for path in (ROOT / "examples" / "workflows").glob("*.yml"):
        assert f"`{path.name}`" in readme, path.name


def test_readme_finetune_yaml_block_is_a_valid_config_after_openais_cut_off(tmp_path: Path) -> None:
    """The annotated finetune.yaml (gpt-oss-20b at Together) checks clean, also once OpenAI takes no new jobs."""
    import shutil

    from testing.repo import init_repo, run_finetune

    readme = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"## finetune.yaml\n.*?```yaml\n(.*?)```", readme, re.S).group(1)
    assert "provider: together " in block and "model: openai/gpt-oss-20b " in block
    assert "sha256: af611ec8...}" in block  # shortened for the page: a real entry has 64 hex digits
    repo = init_repo(tmp_path / "repo")
    (repo / "finetune.yaml").write_text(block.replace("af611ec8...", "af611ec8" + "0" * 56), "utf-8")
    shutil.copytree(ROOT / "examples" / "data", repo / "data")
    for today in ("2026-12-01", "2027-01-07"):
        checked = run_finetune("check", "finetune.yaml", cwd=repo, env={"FINETUNE_TODAY": today})
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "model openai/gpt-oss-20b at Together AI" in checked.stdout


def test_the_development_table_names_every_module_and_only_modules_that_exist() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme.split("## Development", 1)[1].split("\nTests mirror", 1)[0]
    package = ROOT / "entrypoint" / "finetune_action"
    named = set(re.findall(r"`([\w/<>.-]+\.(?:py|json|toml))`", table))
    modules = {p.relative_to(package).as_posix() for p in package.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    commands = {m for m in modules if m.startswith("commands/")}  # `commands/*.py`, one per command
    assert sorted(modules - commands - named) == []
    assert sorted(n for n in named if "<" not in n and not (package / n).exists()) == []


def test_readme_retiring_fine_tune_block_in_a_config_moved_to_together(tmp_path: Path) -> None:
    """The eval block of "Replacing a retiring OpenAI fine-tune", as written, in a config whose
    provider moved to Together AI: it loads, and it warns of the retiring models by date."""
    import json

    import yaml

    from testing.repo import chat_examples, init_repo, minimal_config, run_finetune, write_files

    readme = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"### Replacing a retiring OpenAI fine-tune\n.*?```yaml\n(.*?)```", readme, re.S).group(1)
    evaluation = yaml.safe_load(block)["eval"]
    repo = init_repo(tmp_path / "repo")
    moved = minimal_config(provider="together", model="openai/gpt-oss-20b", eval=evaluation)
    write_files(repo, {"finetune.yaml": moved, "data/train.jsonl": chat_examples(60), "data/golden.jsonl": chat_examples(30, "held-out tea")})
    found = {}
    for today in ("2026-07-01", "2026-12-05", "2027-01-20"):
        checked = run_finetune("check", "--format", "json", cwd=repo, env={"FINETUNE_TODAY": today})
        assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr
        found[today] = [w["message"].split(" serving")[0] for w in json.loads(checked.stdout)["configs"][0]["warnings"] if w["code"] == "eval-model-retiring"]
    assert found == {
        "2026-07-01": [],
        "2026-12-05": ["eval model retiring ft:gpt-4o-mini-2024-07-18:acme:support:abc123 stops", "eval judge gpt-4.1-2025-04-14 stops"],
        "2027-01-20": ["eval model retiring ft:gpt-4o-mini-2024-07-18:acme:support:abc123 stopped", "eval judge gpt-4.1-2025-04-14 stopped"],
    }
    # Without `provider: openai` the retiring fine-tune and the judge would be asked at Together.
    evaluation["judge"] = evaluation["judge"]["model"]
    del evaluation["models"][0]["provider"]
    write_files(repo, {"finetune.yaml": minimal_config(provider="together", model="openai/gpt-oss-20b", eval=evaluation)})
    refused = run_finetune("check", cwd=repo)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "eval.models[0]: ft:gpt-4o-mini-2024-07-18:acme:support:abc123 is an OpenAI fine-tune, but this entry names no provider" in refused.stderr
    assert "eval.judge: gpt-4.1-2025-04-14 is an OpenAI model" in refused.stderr
