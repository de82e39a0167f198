"""action.yml and the entrypoint agree on every input, default and output."""
from __future__ import annotations

from pathlib import Path

import yaml

from finetune_action.github import context

ACTION = yaml.safe_load((Path(__file__).resolve().parent.parent / "action.yml").read_text("utf-8"))


def test_inputs_match_the_code() -> None:
    assert set(ACTION["inputs"]) == set(context.INPUTS)
    for name, spec in ACTION["inputs"].items():
        assert spec.get("description"), name
        expected = "${{ github.token }}" if name == "github-token" else context.INPUTS[name]
        assert str(spec.get("default", "")) == expected, name


def test_outputs_match_the_code() -> None:
    assert set(ACTION["outputs"]) == set(context.OUTPUTS)
    assert all(spec.get("description") for spec in ACTION["outputs"].values())


def test_docker_action_built_from_the_dockerfile() -> None:
    assert ACTION["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert ACTION["branding"]["icon"] and ACTION["branding"]["color"]
