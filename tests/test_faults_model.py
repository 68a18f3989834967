"""Model-endpoint faults through the chat socket of a real jupyter server.

Every fault must end the turn with a clear message (a specific error code and a sentence
that names the cause), leave the server serving, and lose nothing: the cells the tab holds,
the files in the root, the kernel's variables and the chat's history all survive, and the
same chat runs a normal turn right afterwards. A refused connection needs a server whose
endpoint is down, so that one goes through the Agent and the headless executor instead.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from hardening_support import errors_of, history_file, open_tab, server_with
from scripted_model import (
    call,
    cut,
    empty,
    error,
    hang,
    rate_limited,
    run_code,
    server_error,
    text,
    tool_calls,
)
from server_fixtures import stop_jupyter_server

NB = "faults.ipynb"
KEY = "sk-test-SERVERKEY-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory, scripted_server_session):
    srv = server_with(str(tmp_path_factory.mktemp("faults-model")), scripted_server_session.base_url)
    with open(os.path.join(srv.root, "data.csv"), "w") as fh:
        fh.write("a,b\n1,2\n")
    yield srv
    stop_jupyter_server(srv)


@pytest.fixture(scope="module")
def kernel_id(server):
    import asyncio

    async def start() -> str:
        return await server.start_session(NB)

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(start())
    finally:
        loop.close()


def _digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


async def _fault_then_recover(server, kernel_id, scripted_model, chat_id: str, fault_script: list,
                              *, expect_code: str, expect_words: tuple[str, ...] = ()) -> dict:
    """Set up state, inject the fault, check the message, then prove nothing was lost."""
    data = os.path.join(server.root, "data.csv")
    before = _digest(data)
    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(run_code(f"state_{chat_id} = 41"), text("stored"))
        end, _ = await tab.turn(chat_id, NB, "store a value")
        assert end["status"] == "done"
        cells_before = json.dumps(tab.cells)

        scripted_model.set_script(*fault_script)
        end, msgs = await tab.turn(chat_id, NB, "now fail", timeout=60)
        errs = errors_of(msgs)
        assert end["status"] == "failed", (end, errs)
        assert len(errs) == 1, errs
        err = errs[0]
        assert err["code"] == expect_code, err
        assert err["chat_id"] == chat_id and len(err["message"]) > 20
        for word in expect_words:
            assert word.lower() in (err["message"] + " " + err["hint"]).lower(), err
        assert KEY not in json.dumps(msgs)
        assert json.dumps(tab.cells) == cells_before  # no half-run cell

        # the same chat goes on: the kernel kept its state, the history has every turn
        scripted_model.set_script(run_code(f"print(state_{chat_id} + 1)"),
                                  lambda req: text("value " + req["messages"][-1]["content"].split("output:\n")[1].split()[0]))
        end, _ = await tab.turn(chat_id, NB, "use the value")
        assert end["status"] == "done" and end["answer"] == "value 42"
    finally:
        tab.close()
    assert _digest(data) == before
    chat = history_file(server, chat_id)
    assert chat["turns"] == 3
    statuses = [m["status"] for m in chat["display"] if m["type"] == "turn_end"]
    assert statuses == ["done", "failed", "done"]
    assert any(m["type"] == "error" and m["code"] == expect_code for m in chat["display"])
    resp = await server.fetch("codeinterp/config")
    assert resp.code == 200
    return err


async def test_401(server, kernel_id, scripted_model):
    err = await _fault_then_recover(server, kernel_id, scripted_model, "m401",
                                    [error(401, f"Incorrect API key provided: {KEY}", code="invalid_api_key")],
                                    expect_code="auth", expect_words=("api key", "OPENAI_API_KEY"))
    assert not err["retryable"]


async def test_unknown_model(server, kernel_id, scripted_model):
    err = await _fault_then_recover(server, kernel_id, scripted_model, "mmodel",
                                    [error(404, "The model `gpt-9` does not exist", code="model_not_found")],
                                    expect_code="model_not_found", expect_words=("scripted-model", "c.CodeInterp.model"))
    assert "Available models" in err["hint"]


async def test_429_with_retry_after_is_honoured(server, kernel_id, scripted_model):
    """A short Retry-After: the chat says it waits, then the answer comes."""
    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(rate_limited(0.2), text("after the wait"))
        end, msgs = await tab.turn("m429ok", NB, "hello")
    finally:
        tab.close()
    assert end["status"] == "done" and end["answer"] == "after the wait"
    notices = [m for m in msgs if m["type"] == "notice"]
    assert notices and "Retrying in 0 s" in notices[0]["text"] and "429" in notices[0]["text"]
    assert not errors_of(msgs)
    rl = [r for r in scripted_model.log if r["path"].endswith("/chat/completions")]
    assert len(rl) == 2


async def test_429_with_long_retry_after(server, kernel_id, scripted_model):
    """A Retry-After longer than max_retry_wait ends the turn at once and says why."""
    err = await _fault_then_recover(server, kernel_id, scripted_model, "m429",
                                    [rate_limited(3600)], expect_code="rate_limit",
                                    expect_words=("3600", "max_retry_wait"))
    assert err["retryable"]


async def test_500(server, kernel_id, scripted_model):
    err = await _fault_then_recover(server, kernel_id, scripted_model, "m500",
                                    [server_error(500), server_error(503)], expect_code="server_error",
                                    expect_words=("503", "gave up after 1 retries"))
    assert err["retryable"]


async def test_hang_past_the_timeout(server, kernel_id, scripted_model):
    err = await _fault_then_recover(server, kernel_id, scripted_model, "mhang",
                                    [hang(30)], expect_code="timeout", expect_words=("request_timeout",))
    assert err["retryable"]


async def test_hang_in_the_middle_of_the_stream(server, kernel_id, scripted_model):
    await _fault_then_recover(server, kernel_id, scripted_model, "mhang2",
                              [hang(30, after_chunks=3, text="I will now compute the answer for you")],
                              expect_code="timeout", expect_words=("middle of the answer",))


async def test_stream_cut_in_a_tool_call(server, kernel_id, scripted_model):
    """The half-sent tool call never runs; after the retries the chat says the answer broke."""
    await _fault_then_recover(server, kernel_id, scripted_model, "mcut",
                              [cut(in_tool_call=True), cut(in_tool_call=True)],
                              expect_code="stream_broken", expect_words=("broke", "ask again"))


async def test_stream_cut_then_retry_succeeds(server, kernel_id, scripted_model):
    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(cut(in_tool_call=True), run_code("print('once')"), text("ran once"))
        end, msgs = await tab.turn("mcut2", NB, "go")
    finally:
        tab.close()
    assert end["status"] == "done"
    runs = [m for m in msgs if m["type"] == "executor_request" and m["action"] == "run_cell"]
    assert [r["code"] for r in runs] == ["print('once')"]  # the cut call's code never ran


async def test_malformed_tool_call_json(server, kernel_id, scripted_model):
    """Broken arguments go back to the model as an error it can fix; nothing runs."""
    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(tool_calls(call("run_code", '{"code": "print(1)')),
                                  tool_calls(call("run_code", "[1, 2]")),
                                  text("I could not format the call."))
        end, msgs = await tab.turn("mjson", NB, "go")
    finally:
        tab.close()
    assert end["status"] == "done" and end["answer"] == "I could not format the call."
    assert not [m for m in msgs if m["type"] == "executor_request" and m["action"] == "run_cell"]
    tool_results = [m["content"] for m in scripted_model.requests[2]["messages"] if m["role"] == "tool"]
    assert "not valid JSON" in tool_results[0] and "must be a JSON object" in tool_results[1]


async def test_empty_answer(server, kernel_id, scripted_model):
    err = await _fault_then_recover(server, kernel_id, scripted_model, "mempty", [empty()],
                                    expect_code="empty_answer", expect_words=("empty answer",))
    assert err["retryable"]


async def test_refused_connection_headless(tmp_path, scripted_config):
    """Nothing listening at the endpoint: a clear message naming the URL, the notebook intact."""
    from hardening_support import CollectingSink, free_port_url
    from jupyterlab_codeinterp.agent.loop import Agent, Turn
    from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
    from jupyterlab_codeinterp.llm.client import ModelClient

    scripted_config.base_url = free_port_url()
    executor = HeadlessExecutor(str(tmp_path / "n.ipynb"))
    await executor.start()
    client = ModelClient(scripted_config)
    sink = CollectingSink()
    try:
        result = await Agent(config=scripted_config, model=client, executor=executor, sink=sink,
                             root_dir=str(tmp_path)).run_turn(Turn(chat_id="r", turn=1, prompt="x",
                                                                   notebook_path="n.ipynb"), [])
    finally:
        await client.close()
        await executor.close()
    assert result.status == "failed" and result.error.kind == "connection"
    errs = [m for m in sink.messages if type(m).__name__ == "ErrorMsg"]
    assert len(errs) == 1 and "connection refused" in errs[0].message
    assert scripted_config.base_url.split("//")[1] in errs[0].message
    assert "base_url" in errs[0].hint
