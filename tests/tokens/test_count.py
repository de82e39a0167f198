"""Token maths: hand-checked values per format, and equality with OpenAI's data-prep notebook."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_action import check, config, models
from finetune_action.tokens import count, encodings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "cookbook.jsonl"


@pytest.fixture(scope="module", params=["cl100k_base", "o200k_base"])
def counter(request: pytest.FixtureRequest) -> count.Count:
    return count.make_counter(encodings.get(request.param))


def test_role_shortcut_matches_both_encodings() -> None:
    for name in ("cl100k_base", "o200k_base"):
        encoding = encodings.get(name)
        assert {role: len(encoding.encode_ordinary(role)) for role in count.ROLE_TOKENS} == count.ROLE_TOKENS


def test_chat_rule_by_hand(counter: count.Count) -> None:
    # 3 per example; user: 3 + user 1 + hello 1; assistant: 3 + assistant 1 + hi 1 + bot 1 + 1 for name
    messages = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi", "name": "bot"}]
    assert count.example_tokens({"messages": messages}, "chat", counter) == (15, 1, 2)


def test_tool_calls_by_hand(counter: count.Count) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    messages = [
        {"role": "user", "content": "Paris"},  # 3 + 1 + 1
        {"role": "assistant", "content": None, "tool_calls": [call]},  # 3 + 1 + (call_1 3, function 1, get_weather 2, arguments 5)
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},  # 3 + 1 + 3 + 2
    ]
    assert count.example_tokens({"messages": messages}, "chat", counter) == (3 + 5 + 15 + 9, 11, 3)
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    with_tools = count.example_tokens({"messages": messages, "tools": tools}, "chat", counter)
    assert with_tools.total == 32 + counter(json.dumps(tools, separators=(",", ":")))


def test_content_parts_count_their_text_not_images(counter: count.Count) -> None:
    parts = [{"type": "text", "text": "hello"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    messages = [{"role": "user", "content": parts}, {"role": "assistant", "content": [{"type": "text", "text": "hi"}]}]
    assert count.example_tokens({"messages": messages}, "chat", counter) == (3 + 5 + 5, 1, 2)


def test_preference_rule_by_hand(counter: count.Count) -> None:
    example = {
        "input": {"messages": [{"role": "user", "content": "hello"}]},  # 5
        "preferred_output": [{"role": "assistant", "content": "hi"}],  # 5
        "non_preferred_output": [{"role": "assistant", "content": "Hello, world!"}],  # 3 + 1 + 4
    }
    assert count.example_tokens(example, "preference", counter) == (3 + 5 + 5 + 8, 1 + 4, 3)


def test_completion_rule_by_hand(counter: count.Count) -> None:
    assert count.example_tokens({"prompt": "Hello, world!", "completion": "hi"}, "completion", counter) == (5, 1, 2)


def test_cache_gives_the_same_counts() -> None:
    encoding = encodings.get("o200k_base")
    counter = count.make_counter(encoding)
    long = "A long system prompt that every example repeats. " * 20
    assert counter(long) == counter(long) == len(encoding.encode_ordinary(long))


def test_a_reader_counts_alike_and_remembers_and_flags_nothing() -> None:
    # A second template over the same vocabulary reads what the configured counter remembers.
    seen: list[str] = []
    counter = count.make_counter(encodings.get("o200k_base"), inspect=lambda text: seen.append(text))
    texts = ["a long enough string to be remembered by the counter, surely", "short", "x <|endoftext|> y", "mid-sized string of 30 chars"]
    expected = [len(encodings.get("o200k_base").encode_ordinary(t)) for t in texts]
    assert [counter(t) for t in texts] == expected
    reader = count.reader(counter)
    before = (len(seen), list(counter.flagged))
    assert [reader(t) for t in texts + ["never seen before by the configured counter at all"]] == expected + [9]
    assert (len(seen), list(counter.flagged)) == before and reader.flagged == []
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert count.json_tokens(tools, reader) == count.json_tokens(tools, counter)


def test_tool_definitions_counted_as_json_writes_them_even_when_remembered(counter: count.Count) -> None:
    # The definitions' count is remembered under orjson's bytes, but the text counted is
    # json's compact dump, which spells some floats and NaN differently from orjson.
    values = [
        [{"type": "function", "function": {"name": "f", "parameters": {"maximum": 1e16, "minimum": 1e-07, "default": 0.5}}}],
        [{"type": "function", "function": {"name": "f", "parameters": {"default": float("nan")}}}],
        [{"type": "function", "function": {"name": "f", "parameters": {"default": None}}}],
        [{"type": "function", "function": {"name": "f", "parameters": {"big": 2**70}}}],
        [{"type": "function", "function": {"name": "é\ud800", "parameters": {}}}],
    ]
    for _ in range(2):  # the second round is answered from what was remembered
        for value in values:
            expected = counter(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
            assert count.chat_tokens([], value, counter).total == count.TOKENS_PER_EXAMPLE + expected


def test_lone_surrogates_are_counted(counter: count.Count) -> None:
    assert counter("a\ud800b") == 3


# --- OpenAI cookbook, examples/Chat_finetuning_data_prep.ipynb, reimplemented --------------------
# The notebook uses cl100k_base and a 4096-token limit: gpt-3.5-turbo-0613 in our model table.


def notebook(path: Path) -> dict:
    import numpy as np
    encoding = encodings.get("cl100k_base")  # the notebook's tiktoken.get_encoding("cl100k_base"), offline
    with open(path, encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]

    def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):
        num_tokens = 0
        for message in messages:
            num_tokens += tokens_per_message
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += tokens_per_name
        num_tokens += 3
        return num_tokens

    def num_assistant_tokens_from_messages(messages):
        return sum(len(encoding.encode(m["content"])) for m in messages if m["role"] == "assistant")

    def distribution(values):
        # the notebook labels quantile(0.1) and quantile(0.9) "p5 / p95"
        return {"min": min(values), "max": max(values), "mean": np.mean(values), "median": np.median(values),
                "q10": np.quantile(values, 0.1), "q90": np.quantile(values, 0.9)}

    n_messages, convo_lens, assistant_message_lens = [], [], []
    n_missing_system = n_missing_user = 0
    for ex in dataset:
        messages = ex["messages"]
        n_missing_system += not any(m["role"] == "system" for m in messages)
        n_missing_user += not any(m["role"] == "user" for m in messages)
        n_messages.append(len(messages))
        convo_lens.append(num_tokens_from_messages(messages))
        assistant_message_lens.append(num_assistant_tokens_from_messages(messages))
    max_tokens_per_example = 4096
    n_epochs = 3
    n_train_examples = len(dataset)
    if n_train_examples * 3 < 100:
        n_epochs = min(25, 100 // n_train_examples)
    elif n_train_examples * 3 > 25000:
        n_epochs = max(1, 25000 // n_train_examples)
    n_billing_tokens_in_dataset = sum(min(max_tokens_per_example, length) for length in convo_lens)
    return {
        "missing_system": n_missing_system,
        "missing_user": n_missing_user,
        "messages": distribution(n_messages),
        "tokens": distribution(convo_lens),
        "assistant": distribution(assistant_message_lens),
        "too_long": sum(length > 4096 for length in convo_lens),
        "billing_tokens": n_billing_tokens_in_dataset,
        "epochs": n_epochs,
        "charged": n_epochs * n_billing_tokens_in_dataset,
        "values": {"messages": sorted(n_messages), "tokens": sorted(convo_lens), "assistant": sorted(assistant_message_lens)},
    }


def test_numbers_equal_the_cookbook_notebook() -> None:
    expected = notebook(FIXTURE)
    report = check.check_data(
        config="",
        name="cookbook",
        model=models.resolve("gpt-3.5-turbo-0613"),
        method="supervised",
        train=(config.DataFile(FIXTURE, "cookbook.jsonl"),),
        workers=1,
    )
    assert (report.encoding, report.example_token_limit) == ("cl100k_base", 4096)
    assert report.billed_tokens_per_epoch == expected["billing_tokens"]
    assert report.n_epochs == expected["epochs"]
    assert report.billed_tokens == expected["charged"]
    assert report.files[0].truncated_examples == expected["too_long"] == 1
    assert report.problem_counts.get("missing-system", 0) == expected["missing_system"] == 2
    assert report.problem_counts.get("missing-user", 0) == expected["missing_user"] == 1
    for ours, theirs in (("messages_per_example", "messages"), ("tokens_per_example", "tokens"), ("assistant_tokens_per_example", "assistant")):
        got = report.distributions[ours]
        want = expected[theirs]
        assert (got.min, got.max) == (want["min"], want["max"])
        assert got.mean == pytest.approx(want["mean"], rel=1e-12)
        assert got.median == pytest.approx(want["median"], rel=1e-12)
        # our quantile is numpy's: at the notebook's 0.1 / 0.9 it gives the notebook's figures
        values = expected["values"][theirs]
        assert check.quantile(values, 0.1) == pytest.approx(want["q10"], rel=1e-12)
        assert check.quantile(values, 0.9) == pytest.approx(want["q90"], rel=1e-12)
