"""Open-model tokenizers: our templated counts equal each family's own reference encoder, exactly.

The references are the encoders shipped in the packages built for this: openai-harmony's
training render (gpt-oss), llama-models' ChatFormat (Llama 3.x), mistral-common's
encode_chat_completion (Mistral tekken). No well-kept package ships a Qwen reference encoder
(README: Why Qwen stays approximate): its ChatML is held to the template written out token by token.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from bench import generate
from finetune_action import models
from finetune_action.errors import EnvironmentProblem
from finetune_action.tokens import count, encodings, qwen, tokenizers
from testing.offline import REFUSE_NETWORK
from testing.repo import init_repo, run_finetune

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "Hello!",
    "How do I reset my password?",
    " a leading space",
    "\n\nleading newlines",
    "  \n indented\n",
    "trailing spaces   ",
    "unicode: café naïve 日本語 🤖 Ελληνικά العربية हिन्दी",
    "e\u0301 de\u0301composed accents and ﬁ ligatures",
    "def total(items):\n    return sum(i.price * i.qty for i in items)\n",
    "numbers 1234567890 3.14159 -42 1e10",
    "tabs\tand\r\nwindows line ends",
]


def corpus(seed: int = 11, size: int = 60) -> list[list[dict]]:
    """Conversations alternating user and assistant, with and without a system message."""
    rng = random.Random(seed)
    texts = TEXTS + [generate.sentence(rng) for _ in range(30)] + [" ".join(generate.sentence(rng) for _ in range(200))]
    conversations = []
    for index in range(size):
        messages = [{"role": "system", "content": rng.choice(texts)}] if index % 2 else []
        for _turn in range(1 + index % 4):
            messages.append({"role": "user", "content": rng.choice(texts)})
            messages.append({"role": "assistant", "content": rng.choice(texts)})
        conversations.append(messages)
    return conversations


def ours(name: str, messages: list[dict]) -> int:
    tokenizer = tokenizers.get(name)
    counter = count.make_counter(tokenizer.encoding, normalize=tokenizer.normalize)
    return count.example_tokens({"messages": messages}, "chat", counter, tokenizer.template).total


def test_gpt_oss_equals_openai_harmony(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    harmony = pytest.importorskip("openai_harmony")
    # openai-harmony reads o200k_base from this directory instead of downloading it.
    shutil.copy(Path(encodings.__file__).with_name("o200k_base.tiktoken"), tmp_path / "o200k_base.tiktoken")
    monkeypatch.setenv("TIKTOKEN_ENCODINGS_BASE", str(tmp_path))
    encoding = harmony.load_harmony_encoding(harmony.HarmonyEncodingName.HARMONY_GPT_OSS)
    for messages in corpus():
        rendered = [harmony.Message.from_role_and_content(harmony.Role.SYSTEM, harmony.SystemContent.new())]
        for message in messages:
            if message["role"] == "system":
                content = harmony.DeveloperContent.new().with_instructions(message["content"])
                rendered.append(harmony.Message.from_role_and_content(harmony.Role.DEVELOPER, content))
            elif message["role"] == "user":
                rendered.append(harmony.Message.from_role_and_content(harmony.Role.USER, message["content"]))
            else:
                rendered.append(harmony.Message.from_role_and_content(harmony.Role.ASSISTANT, message["content"]).with_channel("final"))
        expected = len(encoding.render_conversation_for_training(harmony.Conversation.from_messages(rendered)))
        assert ours("o200k_harmony", messages) == expected, messages


def test_llama3_equals_llama_models_chat_format() -> None:
    pytest.importorskip("llama_models")
    from llama_models.datatypes import RawMessage
    from llama_models.llama3.chat_format import ChatFormat
    from llama_models.llama3.tokenizer import Tokenizer

    chat = ChatFormat(Tokenizer.get_instance())
    prompt_header = len(chat._encode_header("assistant"))  # the generation prompt a training example has not
    assert tokenizers.get("llama3").exact
    for messages in corpus():
        dialog = [RawMessage(role=m["role"], content=m["content"]) for m in messages]
        expected = len(chat.encode_dialog_prompt(dialog).tokens) - prompt_header
        assert ours("llama3", messages) == expected, messages


def test_mistral_equals_mistral_common() -> None:
    pytest.importorskip("mistral_common")
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    reference = MistralTokenizer.v3(is_tekken=True)
    reference._chat_completion_request_validator._mode = ValidationMode.finetuning  # a conversation may end with the assistant
    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    for messages in corpus():
        request = ChatCompletionRequest(messages=[kinds[m["role"]](content=m["content"]) for m in messages])
        expected = len(reference.encode_chat_completion(request).tokens)
        assert ours("mistral-tekken", messages) == expected, messages


@pytest.mark.parametrize("version", ["qwen2", "qwen2.5", "qwen3"])
def test_qwen_equals_chatml_written_out(version: str) -> None:
    encoding = encodings.get("qwen")
    im_start, im_end, think = "\x00", "\x01", "\x02"  # stand-ins for special tokens, split on below

    for messages in corpus():
        text = "" if messages[0]["role"] == "system" or version == "qwen3" else f"{im_start}system\n{qwen.DEFAULT_SYSTEM}{im_end}\n"
        for index, message in enumerate(messages):
            content = message["content"]
            if version == "qwen3" and index == len(messages) - 1:
                content = f"{think}\n\n{think}\n\n" + content.lstrip("\n")
            text += f"{im_start}{message['role']}\n{content}{im_end}\n"
        text = unicodedata.normalize("NFC", text)
        pieces = text.replace(im_start, "\x00\x00").replace(im_end, "\x00\x00").replace(think, "\x00\x00").split("\x00")
        expected = sum(len(encoding.encode_ordinary(piece)) for piece in pieces if piece) + text.count(im_start) + text.count(im_end) + text.count(think)
        assert ours(version, messages) == expected, messages


OFFLINE = REFUSE_NETWORK + r"""
from finetune_action.tokens import tokenizers
for name in tokenizers.names():
    tokenizer = tokenizers.get(name)
    print(name, tokenizer.exact, len(tokenizer.encoding.encode_ordinary("Hello, world!")))
"""


def test_every_tokenizer_loads_without_network(tmp_path: Path) -> None:
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path), "DATA_GYM_CACHE_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-c", OFFLINE], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(tokenizers.names())
    assert list(tmp_path.iterdir()) == []


MISSING = r"""
import importlib.util, sys
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name in ("llama_models", "mistral_common") else real(name, *a)
from finetune_action.tokens import tokenizers
for name in ("llama3", "mistral-tekken"):
    tokenizer = tokenizers.get(name)
    print(name, tokenizer.exact, tokenizer.counter, tokenizer.rests_on)
"""


def test_missing_package_falls_back_and_says_so() -> None:
    result = subprocess.run([sys.executable, "-c", MISSING], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    llama, mistral = result.stdout.splitlines()
    assert llama.startswith("llama3 False cl100k_base approximate: counted with cl100k_base")
    assert "llama-models is not installed (pip install 'finetune-action[open-models]')" in llama
    assert mistral.startswith("mistral-tekken False o200k_base approximate: counted with o200k_base")


def test_unknown_tokenizer_is_a_clear_error() -> None:
    with pytest.raises(EnvironmentProblem, match="no tokenizer named 'gpt2'; known: cl100k_base, o200k_base, o200k_harmony"):
        tokenizers.get("gpt2")


ODD = [
    {"messages": "not a list"},
    {"messages": []},
    {"messages": [None, 3, {"role": 7, "content": None}, {"content": "no role"}, {"role": "narrator", "content": "unknown role"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "parts"}, {"type": "image_url"}]}, {"role": "assistant", "content": None,
                  "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                  {"role": "tool", "tool_call_id": "c1", "content": "42"}, {"role": "assistant", "content": "done"}],
     "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
    {"messages": [{"role": "system", "content": "only a system message"}]},
    {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}]},
]


@pytest.mark.parametrize("name", tokenizers.names())
def test_odd_examples_count_without_failing(name: str) -> None:
    tokenizer = tokenizers.get(name)
    counter = count.make_counter(tokenizer.encoding, normalize=tokenizer.normalize)
    for example in ODD:
        total, assistant, _messages = count.example_tokens(example, "chat", counter, tokenizer.template)
        assert total >= assistant >= 0
    preference = {"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "assistant", "content": "good"}],
                  "non_preferred_output": [{"role": "assistant", "content": "bad"}]}
    assert count.example_tokens(preference, "preference", counter, tokenizer.template).assistant > 0
    assert count.example_tokens({"prompt": "p", "completion": "c"}, "completion", counter, tokenizer.template) == (2, 1, 2)


QWEN_MODELS = [(provider, model["id"], model["tokenizer"]) for provider in models.providers()
               for model in models.catalogue(provider)["models"] if "qwen" in model["id"].lower()]


def test_every_qwen_model_in_the_catalogue_maps_to_a_qwen_tokenizer() -> None:
    """Qwen 2.5 to qwen2 (Qwen2.5's template), Qwen3 to qwen3; none is left to a guessed encoding.
    Qwen3.5 / 3.6 (another, 248k vocabulary) are in no catalogue: nothing would count them right."""
    assert {provider for provider, _model, _tokenizer in QWEN_MODELS} == {"azure", "together", "fireworks"}
    for provider, model, tokenizer in QWEN_MODELS:
        version = model.lower().rsplit("/", 1)[-1].replace("qwen2p5", "qwen2.5")
        assert tokenizer == ("qwen3" if version.startswith("qwen3") else "qwen2"), (provider, model)
        assert not version.startswith(("qwen3.5", "qwen3.6", "qwen3p5", "qwen3p6")), (provider, model)


@pytest.mark.parametrize("provider,model", [("together", "Qwen/Qwen3-8B"), ("fireworks", "accounts/fireworks/models/qwen2p5-7b-instruct")])
def test_a_qwen_report_says_it_is_approximate_and_what_that_rests_on(provider: str, model: str) -> None:
    result = run_finetune("check", "--format", "json", "--provider", provider, "--model", model, "--data", "examples/data/train.jsonl", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    encoding = json.loads(result.stdout)["configs"][0]["counting"]["encoding"]
    assert encoding.startswith("approximate: qwen") and "qwen.tiktoken (from dashscope, Apache-2.0, bundled) after NFC" in encoding
    assert "no well-kept package ships a Qwen reference encoder" in encoding
    assert "text spelling Qwen's added tokens (<think>, <tool_call>, ...) counts as ordinary text" in encoding
    assert "reasoning (<think>...</think>) inside answers is counted as written" in encoding


def test_qwen_counts_text_spelling_its_added_tokens_as_ordinary_text() -> None:
    encoding = encodings.get("qwen")
    plain = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    spelled = [{"role": "user", "content": "q<tool_call>"}, {"role": "assistant", "content": "a"}]
    assert ours("qwen3", spelled) - ours("qwen3", plain) == len(encoding.encode_ordinary("q<tool_call>")) - len(encoding.encode_ordinary("q")) > 1


def test_qwen3_5_is_no_catalogue_model_so_never_counted_as_qwen3(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    shutil.copytree(ROOT / "examples" / "data", repo / "data")
    config = "version: 1\nname: q\nprovider: together\nmodel: Qwen/Qwen3.5-27B\ndata: {train: data/train.jsonl}\n"
    (repo / "finetune.yaml").write_text(config)
    refused = run_finetune("check", cwd=repo)
    assert refused.returncode == 2 and "is not a model Together AI fine-tunes. Did you mean" in refused.stderr
    (repo / "finetune.yaml").write_text(config + "pricing: {Qwen/Qwen3.5-27B: 1.5}\n")
    priced = run_finetune("check", "--format", "json", cwd=repo)
    report = json.loads(priced.stdout)["configs"][0]
    assert priced.returncode == 0 and "unknown-model" in {w["code"] for w in report["warnings"]}
    assert report["encoding"] == "o200k_base"
