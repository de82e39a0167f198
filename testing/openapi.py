"""OpenAPI schemas as JSON Schema 2020-12, for the stand-ins' honesty checks, and a
Description that checks bodies against a document's operations.

Both official descriptions carry OpenAPI 3.0 leftovers (GitHub's is 3.0; OpenAI's is 3.1 with
3.0 habits) that jsonschema would misread: `nullable: true` and boolean exclusive bounds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import referencing
import referencing.jsonschema
import yaml


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


class Description:
    """An OpenAPI document on disk, checking JSON bodies against its operations' schemas."""

    def __init__(self, path: Path, uri: str) -> None:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        self.document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        resource = referencing.Resource.from_contents(as_json_schema(self.document), default_specification=referencing.jsonschema.DRAFT202012)
        self._uri = uri
        self._registry = referencing.Registry().with_resource(uri, resource)
        self._validators: dict[tuple[str, ...], jsonschema.Draft202012Validator] = {}

    def errors(self, spec_path: str, method: str, body: Any, *, request: bool) -> list[str]:
        """Where `body` breaks the JSON (or multipart) request schema, or the 200 response schema, of an operation."""
        operation = self.document["paths"][spec_path][method.lower()]
        where: tuple[str, ...] = ("paths", spec_path, method.lower())
        if request:
            content = operation.get("requestBody", {}).get("content", {})
            where += ("requestBody", "content")
        else:
            content = operation["responses"]["200"].get("content", {})
            where += ("responses", "200", "content")
        media = next((m for m in ("application/json", "multipart/form-data") if m in content), None)
        if media is None or "schema" not in content[media]:
            return []
        key = (*where, media, "schema")
        if key not in self._validators:
            pointer = "".join("/" + quote(p.replace("~", "~0").replace("/", "~1"), safe="") for p in key)
            self._validators[key] = jsonschema.Draft202012Validator({"$ref": f"{self._uri}#{pointer}"}, registry=self._registry)
        return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in self._validators[key].iter_errors(body)]
