"""Every catalogue file is held to catalogue.schema.json and refers only to things that exist."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from finetune_action import models

PACKAGE = Path(models.__file__).parent
SCHEMA = json.loads((PACKAGE / "catalogue.schema.json").read_text("utf-8"))
FILES = sorted((PACKAGE / "catalogue").glob("*.json"))
#: The tokenizer names agreed with tokens/ (its registry maps each to something the counter uses).
TOKENIZERS = {"o200k_base", "cl100k_base", "o200k_harmony", "qwen2", "qwen3", "llama3", "mistral-tekken"}


def test_one_file_per_provider() -> None:
    assert [f.stem for f in FILES] == sorted(["openai", "azure", "together", "fireworks"])
    assert set(models.providers()) == {f.stem for f in FILES} and models.providers()[0] == "openai"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_file_matches_the_schema_and_its_references(path: Path) -> None:
    table = json.loads(path.read_text("utf-8"))
    jsonschema.Draft202012Validator(SCHEMA).validate(table)
    assert table["provider"] == path.stem
    sources = set(table["sources"])
    brackets = table.get("price_brackets", {})
    referenced = {table["epochs"]["source"]} | {t["source"] for t in table.get("tiers", {}).values()}
    referenced |= {b["source"] for b in brackets.values()} | {p["source"] for b in brackets.values() for p in b["training_prices"]}
    names: list[str] = []
    for model in table["models"]:
        names += [model["id"], *model["aliases"]]
        assert model["tokenizer"] in TOKENIZERS, model["id"]
        referenced |= {model["example_token_limit"]["source"], model["lifecycle"]["source"]}
        referenced |= {p["source"] for p in model.get("training_prices", [])}
        if model.get("inference"):
            referenced.add(model["inference"]["source"])
        if model.get("price_bracket"):
            assert model["price_bracket"] in brackets, model["id"]
        assert not ("training_prices" in model and "price_bracket" in model), model["id"]
        for close in model.get("close", []):
            assert models.by_family(close), f"{model['id']}: no model of family {close}"
        life = model["lifecycle"]
        if life["training_ends"] and life["serving_ends"]:
            assert life["training_ends"] <= life["serving_ends"], model["id"]
    assert referenced <= sources, referenced - sources
    assert len(names) == len(set(names)), "a spelling names two models"


def test_the_schema_refuses_a_fact_without_its_source() -> None:
    table = json.loads((PACKAGE / "catalogue" / "openai.json").read_text("utf-8"))
    del table["models"][0]["lifecycle"]["source"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(table, SCHEMA)
