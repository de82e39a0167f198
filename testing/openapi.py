"""OpenAPI schemas as JSON Schema 2020-12, for the stand-ins' honesty checks.

Both official descriptions carry OpenAPI 3.0 leftovers (GitHub's is 3.0; OpenAI's is 3.1 with
3.0 habits) that jsonschema would misread: `nullable: true` and boolean exclusive bounds.
"""
from __future__ import annotations

from typing import Any


def as_json_schema(node: Any) -> Any:
    """`node` with `nullable` and boolean `exclusiveMinimum`/`exclusiveMaximum` rewritten."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: as_json_schema(value) for key, value in node.items()}
    for bound in ("Minimum", "Maximum"):
        exclusive = node.get(f"exclusive{bound}")
        if isinstance(exclusive, bool):
            del node[f"exclusive{bound}"]
            if exclusive:
                node[f"exclusive{bound}"] = node.pop(bound.lower())
    # Inside allOf, `nullable` on one branch means the whole may be null.
    if any(isinstance(branch, dict) and branch.get("nullable") is True for branch in node.get("allOf", ())):
        branches = [{k: v for k, v in branch.items() if k != "nullable"} for branch in node.pop("allOf")]
        node["anyOf"] = [{"allOf": branches}, {"type": "null"}]
    if node.pop("nullable", None) is not True:
        return node
    if isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        return node
    return {"anyOf": [node, {"type": "null"}]}
