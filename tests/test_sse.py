"""The SSE decoder that reads streamed chat completions (llm/sse.py)."""

from __future__ import annotations

import pytest

from jupyterlab_codeinterp.llm.sse import MalformedEvent, SSEDecoder


def decode(*reads: bytes) -> list:
    dec = SSEDecoder()
    out = []
    for data in reads:
        out.extend(dec.feed(data))
    out.extend(dec.end())
    return out


def test_data_with_and_without_space_and_done_ends_the_stream():
    body = b'data: {"a": 1}\n\ndata:{"b": 2}\n\ndata: [DONE]\n\ndata: {"late": 1}\n\n'
    assert decode(body) == [{"a": 1}, {"b": 2}]


def test_any_split_between_reads_gives_the_same_events():
    body = ('data: {"t": "caf\u00e9 \u2603"}\r\n\r\n: keep-alive\r\n\r\n'
            'data: {"n": 2}\r\rdata: {"n": 3}\n\ndata: [DONE]\n\n').encode()
    whole = decode(body)
    assert whole == [{"t": "caf\u00e9 \u2603"}, {"n": 2}, {"n": 3}]
    for cut in range(1, len(body)):  # \r\n, and UTF-8 characters, cut between two reads
        assert decode(body[:cut], body[cut:]) == whole, cut
    assert decode(*[bytes([b]) for b in body]) == whole  # one byte per read


def test_comments_ids_and_multiline_data():
    body = b': OPENROUTER PROCESSING\n\nid: 7\nretry: 100\ndata: ["x",\ndata: 1]\n\nevent: ping\n\n'
    assert decode(body) == []  # a list is not a chunk
    assert decode(b'data: {"a":\ndata: 1}\n\n') == [{"a": 1}]


def test_last_event_without_a_blank_line_is_kept():
    assert decode(b'data: {"x": 1}') == [{"x": 1}]
    assert decode(b'data: {"x": 1}\n') == [{"x": 1}]
    assert decode(b"data: [DONE]") == []


def test_error_events_are_named_and_non_objects_skipped():
    body = b'data: 3\n\ndata: {"ok": 1}\n\nevent: error\ndata: {"message": "boom"}\n\n'
    assert decode(body) == [{"ok": 1}, {"error": {"message": "boom"}}]


def test_an_event_that_is_not_json_raises():
    with pytest.raises(MalformedEvent) as info:
        decode(b"data: <html>502 Bad Gateway</html>\n\n")
    assert "502 Bad Gateway" in info.value.data


def test_nothing_after_done_or_end():
    dec = SSEDecoder()
    assert dec.feed(b"data: [DONE]\n\n") == [] and dec.done
    assert dec.feed(b'data: {"a": 1}\n\n') == []
    dec = SSEDecoder()
    dec.end()
    assert dec.done and dec.feed(b'data: {"a": 1}\n\n') == []
