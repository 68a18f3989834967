"""Model streams read on the model I/O thread (llm/io_loop.py), through the real openai SDK
against the scripted server: same answers, same errors, pieces delivered in order on the
caller's loop, and cancelling the caller ends the HTTP stream."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from scripted_model import hang, run_code, server_error, text

from jupyterlab_codeinterp.llm.client import ModelClient
from jupyterlab_codeinterp.llm.io_loop import ModelIOLoop, OffLoopModel, _Relay
from jupyterlab_codeinterp.llm.types import ProviderError

MSGS = [{"role": "user", "content": "hello"}]
TOOLS = [{"type": "function", "function": {
    "name": "run_code", "description": "Run code.",
    "parameters": {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}}}]


@pytest.fixture
def io_loop():
    io = ModelIOLoop(name="test-model-io")
    yield io
    io.stop()


@pytest.fixture
async def offloop(scripted_config, io_loop):
    model = OffLoopModel(ModelClient(scripted_config), io_loop)
    yield model
    await model.close()


async def test_text_arrives_in_order_on_the_callers_thread(scripted_model, offloop):
    answer = " ".join(f"word{i}" for i in range(200))
    scripted_model.set_script(text(answer, chunk_size=3))
    pieces: list[str] = []
    threads: set[str] = set()

    def on_text(piece: str) -> None:
        pieces.append(piece)
        threads.add(threading.current_thread().name)

    reply = await offloop.stream(MSGS, on_text=on_text)
    assert reply.text == answer
    assert "".join(pieces) == answer
    assert threads == {threading.current_thread().name}  # never called from the model thread
    assert len(pieces) < len(answer) // 3  # coalesced: fewer callbacks than streamed chunks


async def test_tool_call_previews_and_the_call(scripted_model, offloop):
    scripted_model.set_script(run_code("import pandas as pd\nprint(pd.__version__)"))
    seen: list[tuple[str, str]] = []

    async def on_tool_delta(name: str, args: str) -> None:
        seen.append((name, args))

    reply = await offloop.stream(MSGS, tools=TOOLS, on_tool_delta=on_tool_delta)
    assert [c.name for c in reply.tool_calls] == ["run_code"]
    assert seen and seen[-1][0] == "run_code"
    assert seen[-1][1] == reply.tool_calls[0].arguments


async def test_errors_and_retry_notices_cross_over(scripted_model, offloop):
    scripted_model.set_script(server_error(503), text("fine now"))
    notices = []
    reply = await offloop.stream(MSGS, on_retry=notices.append)
    assert reply.text == "fine now" and len(notices) == 1
    scripted_model.set_script(*[server_error(500)] * 5)
    with pytest.raises(ProviderError) as info:
        await offloop.stream(MSGS)
    assert info.value.kind == "server_error"


async def test_cancelling_the_caller_ends_the_model_stream(scripted_model, offloop):
    scripted_model.set_script(hang(10, after_chunks=2))
    got: list[str] = []
    task = asyncio.ensure_future(offloop.stream(MSGS, on_text=got.append))
    while not got:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 5
    entry = [e for e in scripted_model.log if e["path"].endswith("/chat/completions")][-1]
    while "disconnected_at" not in entry and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert "disconnected_at" in entry  # the HTTP stream was closed, not left running


async def test_models_list_and_attributes_pass_through(scripted_model, offloop):
    assert "scripted-model" in await offloop.list_models(timeout=2)
    assert offloop.model == "scripted-model"
    assert offloop.protocol in ("tools", "codeblocks")


async def test_relay_merges_neighbouring_pieces_and_keeps_order():
    relay = _Relay(asyncio.get_running_loop())
    relay._queue = [("text", "a"), ("text", "b"), ("tool", ("run_code", "{")),
                    ("tool", ("run_code", '{"code"')), ("retry", 1), ("text", "c")]
    assert relay.take() == [("text", "ab"), ("tool", ("run_code", '{"code"')), ("retry", 1), ("text", "c")]


def test_the_loop_thread_starts_on_first_use_and_stops(io_loop):
    before = {t.name for t in threading.enumerate()}
    assert "test-model-io" not in before
    assert io_loop.submit(asyncio.sleep(0, result=5)).result(5) == 5
    assert "test-model-io" in {t.name for t in threading.enumerate()}
    io_loop.stop()
    assert "test-model-io" not in {t.name for t in threading.enumerate()}


def test_relay_wakes_less_often_when_many_streams_run():
    streams = 1
    relay = _Relay(asyncio.new_event_loop(), lambda: streams)
    assert relay.wake_gap() == _Relay.WAKE_GAP
    streams = _Relay.BUSY_STREAMS
    assert relay.wake_gap() == _Relay.WAKE_GAP
    streams = 2 * _Relay.BUSY_STREAMS
    assert relay.wake_gap() == pytest.approx(2 * _Relay.WAKE_GAP)
    streams = 10_000
    assert relay.wake_gap() == _Relay.MAX_WAKE_GAP
    relay.home.close()


async def test_streams_in_flight_are_counted_and_released(scripted_model, offloop, io_loop):
    scripted_model.set_script(hang(10, after_chunks=2), text("second"))
    got: list[str] = []
    task = asyncio.ensure_future(offloop.stream(MSGS, on_text=got.append))
    while not got:
        await asyncio.sleep(0.01)
    assert io_loop.streams == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert io_loop.streams == 0  # a cancelled stream gives its place back
    await offloop.stream(MSGS)
    assert io_loop.streams == 0


class _CountingHome:
    """Stands in for the chat's loop: records each cross-thread call and what it carried."""

    def __init__(self) -> None:
        self.calls: list[list] = []
        self.lock = threading.Lock()

    def call_soon_threadsafe(self, fn, relays):
        with self.lock:
            self.calls.append(list(relays))


def test_many_streams_due_together_wake_the_chat_loop_once(io_loop):
    home = _CountingHome()
    waker = io_loop.waker
    relays = [_Relay(home, lambda: 1, waker) for _ in range(50)]

    async def first_pieces() -> None:  # on the model loop, as the streams' reads are
        for r in relays:
            r.put("text", "hi")
        await asyncio.sleep(0.05)

    io_loop.submit(first_pieces()).result(5)
    assert len(home.calls) == 1  # 50 first pieces, one call into the chat's loop
    assert home.calls[0] == relays

    async def next_pieces() -> None:  # due WAKE_GAP later: they share ticks too
        for r in relays:
            r.put("text", " there")
        await asyncio.sleep(0.1)

    home.calls.clear()
    for r in relays:  # the chat's loop read what it was woken for
        assert r.take() == [("text", "hi")]
    io_loop.submit(next_pieces()).result(5)
    assert sum(len(c) for c in home.calls) == 50
    assert len(home.calls) <= 3
    # nothing more is woken until a piece arrives
    home.calls.clear()
    io_loop.submit(asyncio.sleep(0.1)).result(5)
    assert home.calls == []
