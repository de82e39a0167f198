from __future__ import annotations

import random

import pytest
from rapidfuzz.distance import LCSseq, Levenshtein

from finetune_action.evaluation import graders as g
from finetune_action.evaluation.graders import Answer, Grade, ToolCall

REF = Answer("Paris")


def grade(name, answer, reference=REF, **options):
    return g.GRADERS[name].grade(answer, reference, options)


def test_string_checks():
    assert grade("exact_match", Answer("Paris")).passed
    assert not grade("exact_match", Answer("paris ")).passed
    assert grade("normalised_match", Answer("  PARIS\n")).passed
    assert grade("contains", Answer("It is paris, of course")).passed
    assert not grade("contains", Answer("It is paris"), case_sensitive=True).passed
    assert grade("contains", Answer("order #123 shipped"), value="shipped").passed
    assert grade("regex", Answer("order #123"), pattern=r"#\d+").passed
    assert not grade("regex", Answer("order"), pattern=r"#\d+").passed


def test_json_graders():
    assert grade("valid_json", Answer('{"a": 1}')).passed
    assert not grade("valid_json", Answer("{a: 1}")).passed
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    assert grade("json_schema", Answer('{"city": "Paris"}'), schema=schema).passed
    assert not grade("json_schema", Answer('{"city": 3}'), schema=schema).passed
    assert not grade("json_schema", Answer("nope"), schema=schema).passed
    ref = Answer('{"order": {"id": 7, "items": [{"sku": "A"}]}, "note": "x"}')
    same = Answer('{"note": "different", "order": {"items": [{"sku": "A"}], "id": 7}}')
    assert grade("json_field_match", same, ref, fields=["order.id", "order.items.0.sku"]).passed
    assert not grade("json_field_match", same, ref, fields=["note"]).passed
    assert not grade("json_field_match", Answer('{"order": {}}'), ref, fields=["order.id"]).passed
    unreadable = grade("json_field_match", same, Answer("not json"), fields=["note"])
    assert unreadable.score is None and "reference" in unreadable.error


def test_tool_call_match_compares_arguments_as_json():
    ref = Answer("", (ToolCall("get_weather", '{"city": "Paris", "unit": "c"}'),))
    assert grade("tool_call_match", Answer("", (ToolCall("get_weather", '{"unit":"c","city":"Paris"}'),)), ref).passed
    assert not grade("tool_call_match", Answer("", (ToolCall("get_weather", '{"city": "Lyon", "unit": "c"}'),)), ref).passed
    assert not grade("tool_call_match", Answer("", (ToolCall("get_time", '{"city": "Paris", "unit": "c"}'),)), ref).passed
    assert not grade("tool_call_match", Answer("Paris is sunny"), ref).passed
    assert not grade("tool_call_match", Answer("", (ToolCall("get_weather", "{broken"),)), ref).passed


@pytest.mark.parametrize("seed", range(20))
def test_similarity_matches_rapidfuzz(seed):
    rng = random.Random(seed)
    words = ["the", "cat", "sat", "on", "mat", "a", "dog"]
    answer = " ".join(rng.choices(words, k=rng.randint(0, 12)))
    reference = " ".join(rng.choices(words, k=rng.randint(1, 12)))
    common = LCSseq.similarity(answer.split(), reference.split())
    expected = 0.0 if common == 0 else 2 * common / (len(answer.split()) + len(reference.split()))
    assert grade("rouge_l", Answer(answer), Answer(reference)).score == pytest.approx(expected)
    assert g.levenshtein(answer, reference) == Levenshtein.distance(answer, reference)
    assert grade("edit_similarity", Answer(answer), Answer(reference)).score == pytest.approx(Levenshtein.normalized_similarity(answer, reference))


def test_rubric_reply_is_read_or_is_an_error():
    assert g.parse_rubric("SCORE: 5\nGood.", 5) == Grade(1.0)
    assert g.parse_rubric("score = 3 because", 5) == Grade(0.5)
    assert g.parse_rubric("I'd say 4", 5).error
    assert g.parse_rubric("SCORE: 9", 5).error
    messages = g.rubric_messages("Be right.", 5, [{"role": "user", "content": "Capital of France?"}], Answer("Lyon"), REF)
    assert "1 to 5" in messages[0]["content"] and "Lyon" in messages[1]["content"] and "Paris" in messages[1]["content"]


def test_pairwise_both_orders_and_flip_is_a_tie():
    assert g.parse_pairwise("WINNER: A\nbetter") == "A"
    assert g.parse_pairwise("winner: **b**") == "B"
    assert g.parse_pairwise("WINNER: TIE") == "tie"
    assert g.parse_pairwise("I like the first") is None
    assert g.pairwise_outcome("A", "B") == Grade(1.0)  # candidate preferred in both positions
    assert g.pairwise_outcome("B", "A") == Grade(0.0)
    assert g.pairwise_outcome("A", "A") == Grade(0.5)  # a flip: position A won both times
    assert g.pairwise_outcome("B", "B") == Grade(0.5)
    assert g.pairwise_outcome("A", "tie") == Grade(0.75)
    assert g.pairwise_outcome(None, "A").error


def test_answer_rendering_for_judges():
    answer = Answer("", (ToolCall("lookup", '{"id": 1}'),))
    assert g.render_answer(answer) == '[tool call] lookup({"id": 1})'
    assert g.render_answer(Answer("")) == "(empty answer)"
