"""The SSE decoder that reads streamed chat completions (llm/sse.py)."""

from __future__ import annotations

import pytest

from jupyterlab_codeinterp.llm.sse import MalformedEvent, json_chunks, sse_events


async def _lines(*lines: str):
    for line in lines:
        yield line


async def _events(*lines: str) -> list[tuple]:
    return [(e.event, e.data) async for e in sse_events(_lines(*lines))]


async def test_data_with_and_without_space_and_done_ends_the_stream():
    got = await _events('data: {"a": 1}', "", 'data:{"b": 2}', "", "data: [DONE]", "", 'data: {"late": 1}', "")
    assert got == [(None, '{"a": 1}'), (None, '{"b": 2}')]


async def test_comments_ids_and_multiline_data():
    got = await _events(": OPENROUTER PROCESSING", "", "id: 7", "retry: 100", "data: line one",
                        "data: line two", "", "event: ping", "")
    assert got == [(None, "line one\nline two")]


async def test_last_event_without_a_blank_line_is_kept():
    assert await _events('data: {"x": 1}') == [(None, '{"x": 1}')]
    assert await _events("data: [DONE]") == []


async def test_json_chunks_skips_non_objects_and_names_error_events():
    chunks = [c async for c in json_chunks(_lines("data: 3", "", "data: [1]", "",
                                                   'data: {"ok": 1}', "",
                                                   "event: error", 'data: {"message": "boom"}', ""))]
    assert chunks == [{"ok": 1}, {"error": {"message": "boom"}}]


async def test_json_chunks_raises_on_an_event_that_is_not_json():
    with pytest.raises(MalformedEvent) as info:
        [c async for c in json_chunks(_lines("data: <html>502 Bad Gateway</html>", ""))]
    assert "502 Bad Gateway" in info.value.data
