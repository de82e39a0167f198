"""tiktoken encodings built from rank files shipped inside the package: no network, no cache.

tiktoken.get_encoding would download the rank files on first use; runners without internet
(air-gapped, GHES, containers) could not count tokens. The constructors below mirror
tiktoken_ext/openai_public.py exactly (name, pattern, special tokens), and each rank file is
verified against the sha256 tiktoken itself expects.
"""
from __future__ import annotations

import binascii
import functools
import hashlib
from importlib import resources
from typing import NamedTuple

import tiktoken

from finetune_action.errors import EnvironmentProblem

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"


class EncodingSpec(NamedTuple):
    sha256: str  # of the uncompressed rank file, as in tiktoken's expected_hash
    pat_str: str
    special_tokens: dict[str, int]


SPECS: dict[str, EncodingSpec] = {
    "cl100k_base": EncodingSpec(
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        special_tokens={
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": EncodingSpec(
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    ),
    # Qwen 2.5 and 3.x (tokens/qwen.py): dashscope's resources/qwen.tiktoken (Apache-2.0, see
    # qwen.tiktoken.LICENSE), with the pattern of Qwen's tokenizer and its first special tokens.
    "qwen": EncodingSpec(
        sha256="b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186",
        pat_str=r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
        special_tokens={ENDOFTEXT: 151643, "<|im_start|>": 151644, "<|im_end|>": 151645},
    ),
}


def rank_file_bytes(name: str) -> bytes:
    """The rank file of encoding `name`, verified against its sha256.

    Shipped as is, not compressed: unzipping o200k_base would add 20 ms to every start.
    """
    spec = _spec(name)
    resource = resources.files("finetune_action.tokens").joinpath(f"{name}.tiktoken")
    try:
        data = resource.read_bytes()
    except OSError as exc:
        raise EnvironmentProblem(f"the bundled token rank file {name}.tiktoken cannot be read ({exc}). Reinstall finetune-action.") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise EnvironmentProblem(
            f"the bundled token rank file {name}.tiktoken is corrupt: sha256 {digest}, expected {spec.sha256}. Reinstall finetune-action."
        )
    return data


def parse_ranks(data: bytes, in_order: bool = False) -> dict[bytes, int]:
    """Mergeable ranks from the `<base64 token> <rank>` lines of a .tiktoken file.

    `in_order`: the ranks are known to be 0, 1, 2, ... line by line, as in every bundled file
    (its sha256 is checked first; tests/tokens proves the order), so they need not be parsed.
    """
    # map/zip keep the 200k-line loop in C: this runs at every start.
    fields = data.split()
    ranks = range(len(fields) // 2) if in_order else map(int, fields[1::2])
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), ranks))


@functools.lru_cache(maxsize=None)
def get(name: str) -> tiktoken.Encoding:
    """The tiktoken Encoding `name` (cl100k_base, o200k_base or qwen), built offline; cached per process."""
    spec = _spec(name)
    return tiktoken.Encoding(
        name=name,
        pat_str=spec.pat_str,
        mergeable_ranks=parse_ranks(rank_file_bytes(name), in_order=True),
        special_tokens=dict(spec.special_tokens),
    )


def special_tokens(name: str) -> tuple[str, ...]:
    """The special-token strings of encoding `name`: text the provider rejects in training data."""
    return tuple(_spec(name).special_tokens)


def _spec(name: str) -> EncodingSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise EnvironmentProblem(f"no bundled token rank file for encoding {name!r}; known: {', '.join(SPECS)}.") from None
