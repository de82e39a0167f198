"""Llama 3.x: the tokenizer.model shipped in llama-models (Llama licence: used from the package, never
vendored) and the chat format of its ChatFormat.

<|begin_of_text|>, then per message <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>
(tool answers under the role ipython). Without llama-models, cl100k_base stands in: Llama 3's
vocabulary is cl100k's 100k tokens plus 28k more.
"""
from __future__ import annotations


import tiktoken

from finetune_action.tokens import encodings
from finetune_action.tokens.count import Template
from finetune_action.tokens.tokenizers import EXTRA, Tokenizer, approximate, package_file, release_ranks

# llama_models/llama3/tokenizer.py
PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
PACKAGE_FILE = ("llama_models", "llama3/tokenizer.model")  # what we read of llama-models (tokens/package_files.py)
SPECIAL_TOKENS = ("<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>", "<|image|>")


def template(encoding: tiktoken.Encoding) -> Template:
    def header(role: str) -> int:  # <|start_header_id|>, role, <|end_header_id|>, "\n\n"
        return 2 + len(encoding.encode_ordinary(role)) + len(encoding.encode_ordinary("\n\n"))

    eot = 1
    return Template(
        per_example=1,  # <|begin_of_text|>
        fixed={role: header("ipython" if role == "tool" else role) + eot for role in ("system", "user", "assistant", "tool")},
        unknown_role=2 + len(encoding.encode_ordinary("\n\n")) + eot,
        leads={},
        no_system=0,
        final_answer=0,
    )


def load() -> Tokenizer:
    path = package_file(*PACKAGE_FILE)
    if path is None:
        return approximate("llama3", "cl100k_base", template, SPECIAL_TOKENS, f"llama-models is not installed ({EXTRA})")
    ranks = encodings.parse_ranks(path.read_bytes())
    specials = {token: len(ranks) + i for i, token in enumerate(SPECIAL_TOKENS)}
    encoding = tiktoken.Encoding(name="llama3", pat_str=PATTERN, mergeable_ranks=ranks, special_tokens=specials)
    del ranks
    release_ranks(encoding)
    return Tokenizer(
        name="llama3",
        encoding=encoding,
        template=template(encoding),
        special_tokens=SPECIAL_TOKENS,
        exact=True,
        rests_on="llama3: tokenizer.model from llama-models (installed) with its ChatFormat template, exact for text messages; "
        "tool calls and definitions approximate; no default system prompt (Hugging Face's Llama 3.1 template adds a dated one)",
        counter="llama3",
    )
