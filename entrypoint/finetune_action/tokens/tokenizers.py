"""Tokenizers by name: the encoding, chat template and special tokens the counter needs, per model family.

A name comes from the model table or a provider catalogue (`o200k_base`, `o200k_harmony`,
`qwen2.5`, `llama3`, ...). Each family lives in its own module; a family whose tokenizer file
comes with an optional package falls back to a close encoding when the package is missing,
and says so in `rests_on` instead of failing.
"""
from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import tiktoken

from finetune_action.errors import EnvironmentProblem
from finetune_action.tokens import encodings
from finetune_action.tokens.count import Template

#: What to install for the exact counts of every open-model family.
EXTRA = "pip install 'finetune-action[open-models]'"

#: Installed packages a count can depend on (their code, or the tokenizer files read from them):
#: the results cache keys its records on their versions, so an upgrade, an install or a removal
#: of one never reuses counts made with another (dataset/results.py).
PACKAGES = ("tiktoken", "llama-models", "mistral-common")


def package_versions() -> tuple[str, ...]:
    """`name==version` of each of PACKAGES, `name absent` for one not installed."""
    from importlib import metadata

    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    return tuple(found)


class Tokenizer(NamedTuple):
    name: str
    encoding: tiktoken.Encoding
    template: Template | None  # None: OpenAI's chat rule (count.chat_tokens)
    special_tokens: tuple[str, ...]  # text the provider rejects in training data
    exact: bool  # whether counts equal the family's own templated token count
    rests_on: str  # what the counts rest on, quoted in reports
    counter: str  # tokenizers with the same `counter` tokenize alike and share one counter
    normalize: Callable[[str], str] | None = None  # applied to text before it is tokenized


def openai(name: str) -> Tokenizer:
    """An OpenAI encoding, counted by the chat rule of OpenAI's data-prep notebook."""
    encoding = encodings.get(name)
    release_ranks(encoding)
    return Tokenizer(
        name=name,
        encoding=encoding,
        template=None,
        special_tokens=encodings.special_tokens(name),
        exact=False,
        rests_on=f"{name}, tiktoken with the rank files bundled in finetune-action (offline)",
        counter=name,
    )


def _families() -> dict[str, Callable[[], Tokenizer]]:
    # Imported here: each family module imports this one for Tokenizer.
    from finetune_action.tokens import harmony, llama3, mistral, qwen

    return {
        "cl100k_base": lambda: openai("cl100k_base"),
        "o200k_base": lambda: openai("o200k_base"),
        "o200k_harmony": harmony.load,
        "qwen2": lambda: qwen.load("qwen2"),  # the catalogue's name for the Qwen 2 vocabulary: Qwen2.5's template
        "qwen2.5": lambda: qwen.load("qwen2.5"),
        "qwen3": lambda: qwen.load("qwen3"),
        "llama3": llama3.load,
        "mistral-tekken": mistral.load,
    }


def names() -> tuple[str, ...]:
    """Every tokenizer name `get` knows."""
    return tuple(_families())


@functools.lru_cache(maxsize=None)
def get(name: str) -> Tokenizer:
    """The tokenizer `name`, built offline; cached per process."""
    families = _families()
    if name not in families:
        raise EnvironmentProblem(f"no tokenizer named {name!r}; known: {', '.join(families)}.")
    return families[name]()


def package_file(package: str, relative: str) -> Path | None:
    """A data file of an installed package, located without importing it (imports cost); None when absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def release_ranks(encoding: tiktoken.Encoding) -> None:
    """Free the Python copy of an encoding's ranks: counting uses only the Rust core's own copy.

    18-25 MB per vocabulary, held by the parent and every worker: with three compare:
    alternatives a worker would otherwise pass 200 MB.
    """
    encoding._mergeable_ranks = {}


def approximate(name: str, fallback: str, template: Callable[[tiktoken.Encoding], Template], specials: tuple[str, ...], why: str) -> Tokenizer:
    """`name` counted with the bundled encoding `fallback` and the family's template, saying why."""
    encoding = encodings.get(fallback)
    return Tokenizer(name, encoding, template(encoding), specials, False, f"approximate: counted with {fallback} and {name}'s chat template because {why}", fallback)
