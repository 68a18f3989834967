"""The guard between the model's streamed text and the chat: tool calls written as text are
held back (and dropped once the loop ran them); everything else reaches the chat intact,
however the stream is cut."""

from __future__ import annotations

import json

import pytest

from jupyterlab_codeinterp.agent.streamtext import CallTextGuard, names_a_tool

CALL = {"name": "run_code", "arguments": {"code": "print(6 * 7)"}}

CALLS = {
    "bare": ("I'll compute it.\n" + json.dumps(CALL), "I'll compute it."),
    "inline": ("Sure: " + json.dumps(CALL), "Sure:"),
    "json block": ("Let me run this:\n```json\n" + json.dumps(CALL, indent=2) + "\n```", "Let me run this:"),
    "bare fence": ("```\n" + json.dumps(CALL) + "\n```", ""),
    "multi-line": (json.dumps(CALL, indent=2), ""),
    "tool_call tags": ("<tool_call>\n" + json.dumps(CALL) + "\n</tool_call>", ""),
    "tools tags": ('<tools>\n{"name": "run_code", "arguments": {"code": """x"""}}\n</tools>', ""),
    "list": ("[" + json.dumps(CALL) + "]", ""),
}

PROSE = {
    "answer": "The mean is 2.5.\nDone {ok}.",
    "python with a dict": '```python\nd = {"name": 1}\nprint(d)\n```\nThat prints it.',
    "json data": '```json\n{"a": 1}\n```\nplain json',
    "bare json data": '{\n  "a": 1}\nok',
    "list": "[1, 2, 3] are values",
    "markdown": "Result:\n\n- a\n- b {x}\n\n| x | y |\n|---|---|\n| 1 | 2 |",
    "output fence": "```\nsome output\n```\nfine",
}


async def stream(text: str, size: int, *, was_call: bool) -> tuple[str, str]:
    """(what the chat showed while streaming, what it showed in the end)."""
    shown: list[str] = []

    async def emit(s: str) -> None:
        shown.append(s)

    guard = CallTextGuard(emit)
    for i in range(0, len(text), size):
        await guard.feed(text[i:i + size])
    live = "".join(shown)
    await guard.finish(was_call=was_call)
    return live, "".join(shown)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 1000])
@pytest.mark.parametrize("name", sorted(CALLS))
async def test_a_call_written_as_text_never_reaches_the_chat(name, size):
    text, before = CALLS[name]
    live, final = await stream(text, size, was_call=True)
    assert live.strip() == final.strip() == before


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 1000])
@pytest.mark.parametrize("name", sorted(PROSE))
async def test_other_text_reaches_the_chat_whole(name, size):
    text = PROSE[name]
    live, final = await stream(text, size, was_call=False)
    assert final == text
    assert text.startswith(live)


async def test_prose_streams_as_it_comes():
    live, _ = await stream("The mean price is 2.33 and the median 2.1", 4, was_call=False)
    assert live == "The mean price is 2.33 and the median 2.1"


def test_held_text_naming_a_tool_is_a_broken_call():
    assert names_a_tool('{"name": "run_code", "arguments": {"code": "x"', {"run_code"})
    assert not names_a_tool('{"name": "Alice", "age": 3}', {"run_code"})
