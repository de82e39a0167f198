from __future__ import annotations

from finetune_action.evaluation import cache


def test_key_covers_every_setting_and_entries_round_trip(tmp_path) -> None:
    request = {"provider": "openai", "base_url": "u", "model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0, "seed": 1}
    digest = cache.key(request)
    for change in ({"base_url": "v"}, {"model": "n"}, {"seed": 2}, {"messages": []}):
        assert cache.key({**request, **change}) != digest
    assert cache.get(tmp_path, digest) is None
    cache.put(tmp_path, digest, {"text": "hello"})
    assert cache.get(tmp_path, digest) == {"key": digest, "text": "hello"}
    assert not list(tmp_path.rglob(".tmp-*"))  # written through a temporary file, renamed into place


def test_a_corrupt_or_foreign_entry_is_ignored(tmp_path) -> None:
    digest = cache.key({"model": "m"})
    cache.put(tmp_path, digest, {"text": "x"})
    path = next(tmp_path.rglob(f"{digest}.json"))
    path.write_text('{"key": "other", "text": "y"}')
    assert cache.get(tmp_path, digest) is None
    path.write_bytes(b"\x00garbage")
    assert cache.get(tmp_path, digest) is None


def test_an_entry_of_another_shape_is_asked_again_and_one_that_cannot_be_written_is_left_out(tmp_path) -> None:
    # `"tool_calls": [["a"]]` with the right key was an unexpected ValueError; an entry whose
    # path is a directory failed the whole eval after its calls were paid for.
    digest = cache.key({"model": "m"})
    cache.put(tmp_path, digest, {"text": "x", "tool_calls": [], "prompt_tokens": 1, "completion_tokens": 1})
    path = next(tmp_path.rglob(f"{digest}.json"))
    for odd in ('{"tool_calls": [["a"]]}', '{"text": 5}', '{"prompt_tokens": "1"}', '{"tool_calls": "x"}'):
        path.write_text('{"key": "%s", %s' % (digest, odd[1:]))
        assert cache.get(tmp_path, digest) is None, odd
    path.unlink()
    path.mkdir()
    cache.put(tmp_path, digest, {"text": "x"})  # no exception: left out
    assert cache.get(tmp_path, digest) is None and path.is_dir()
