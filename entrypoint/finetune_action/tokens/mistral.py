"""Mistral (tekken, v3): the tekken_240911.json shipped in mistral-common (Apache-2.0; 19 MB, so used from
the package) and the instruct format of its encode_chat_completion.

<s>, then [INST]{user}[/INST]{assistant}</s> per turn; the system message goes before the last
user message, joined by "\n\n"; assistant text loses its trailing spaces. Without mistral-common, o200k_base stands in.
"""
from __future__ import annotations

import binascii
import json
import re

import tiktoken

from finetune_action.tokens.count import Template
from finetune_action.tokens.tokenizers import EXTRA, Tokenizer, approximate, package_file, release_ranks

SPECIAL_TOKENS = ("<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]")
FILE = "tekken_240911.json"
PACKAGE_FILE = ("mistral_common", f"data/{FILE}")  # what we read of mistral-common (tokens/package_files.py)


def template(encoding: tiktoken.Encoding) -> Template:
    return Template(
        per_example=1,  # <s>
        fixed={"system": 0, "user": 2, "assistant": 1, "tool": 2},  # [INST] [/INST]; </s>; approximate: [TOOL_RESULTS] [/TOOL_RESULTS]
        unknown_role=0,
        leads={},
        no_system=0,
        final_answer=0,
        system_into_last_user="\n\n",
        answer_rstrip=" ",
    )


def _tekken(data: bytes) -> dict:
    """The pattern and ranks of a tekken file, as mistral-common's Tekkenizer takes them.

    Its 150,000 vocabulary entries are read with two regular expressions rather than json:
    a full parse costs 0.5 s and 90 MB more at every start. The file's config comes first.
    """
    config = json.loads(data[: data.index(b'"vocab"')].rstrip().rstrip(b",") + b"}")["config"]
    tokens = re.findall(rb'"token_bytes":\s*"([^"]*)"', data)
    ranks = re.findall(rb'"rank":\s*(\d+)', data)
    if ranks != [str(i).encode() for i in range(len(tokens))]:
        raise ValueError(f"{FILE}: vocabulary entries are not in rank order")
    # The first vocab_size - num_special entries are the vocabulary (mistral-common's Tekkenizer).
    size = config["default_vocab_size"] - config["default_num_special_tokens"]
    return {"pat_str": config["pattern"], "mergeable_ranks": dict(zip(map(binascii.a2b_base64, tokens[:size]), range(size)))}


def load() -> Tokenizer:
    path = package_file(*PACKAGE_FILE)
    if path is None:
        return approximate("mistral-tekken", "o200k_base", template, SPECIAL_TOKENS, f"mistral-common is not installed ({EXTRA})")
    encoding = tiktoken.Encoding(name="mistral-tekken", special_tokens={}, **_tekken(path.read_bytes()))
    release_ranks(encoding)
    return Tokenizer(
        name="mistral-tekken",
        encoding=encoding,
        template=template(encoding),
        special_tokens=SPECIAL_TOKENS,
        exact=True,
        rests_on=f"mistral-tekken: {FILE} from mistral-common (installed) with its v3 instruct format, exact for text messages; "
        "tool calls and definitions approximate",
        counter="mistral-tekken",
    )
