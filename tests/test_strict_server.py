"""Requests valid for the strictest OpenAI-compatible servers, across model and protocol
switches; request-validation errors reported as such, not retried.

The scripted server's ``strict_schema`` quirk validates bodies like llama-cpp-python's
server (a 500 quoting pydantic's errors for ``content: null`` or an unknown field)."""

from __future__ import annotations

import copy
import json

import pytest

from scripted_model import _strict_schema_rejection, error, run_code, text

from jupyterlab_codeinterp.agent.loop import Agent, Turn
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
from jupyterlab_codeinterp.llm.client import ModelClient
from jupyterlab_codeinterp.llm.messages import NO_RESULT, wire_messages
from jupyterlab_codeinterp.llm.types import ProviderError
from jupyterlab_codeinterp.protocol import ApprovalReplyMsg

KEY = "sk-test-SECRETKEY-0123456789"
TOOLS = [{"type": "function", "function": {
    "name": "run_code", "description": "Run Python code.",
    "parameters": {"type": "object", "properties": {"code": {"type": "string"}},
                   "required": ["code"]}}}]

# a chat whose first turn called tools natively, as the agent stores it
HISTORY = [
    {"role": "user", "content": "User request:\nsum of x?", "turn_start": True},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "run_code", "arguments": json.dumps({"code": "x = [1, 2]\nsum(x)"})}},
        {"id": "call_2", "type": "function",
         "function": {"name": "inspect_variable", "arguments": json.dumps({"name": "x"})}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "status: ok\noutput:\n3"},
    {"role": "tool", "tool_call_id": "call_2", "content": "list of 2 ints"},
    {"role": "assistant", "content": "The sum is 3."},
    {"role": "user", "content": "User request:\nand the mean?", "turn_start": True},
]


def roles(messages: list[dict]) -> list[str]:
    return [m["role"] for m in messages]


# ---------------------------------------------------------------- the wire form, pure


def test_no_null_content_and_no_internal_keys():
    out = wire_messages(HISTORY, codeblocks=False)
    assert roles(out) == ["user", "assistant", "tool", "tool", "assistant", "user"]
    assert out[1]["content"] == ""
    assert all("turn_start" not in m for m in out)
    assert all(m["content"] is not None for m in out)
    assert _strict_schema_rejection({"model": "m", "messages": out}) is None
    assert _strict_schema_rejection({"model": "m", "messages": HISTORY}) is not None
    # the stored history (older versions stored null) is left as it was
    assert HISTORY[1]["content"] is None and HISTORY[0]["turn_start"] is True


def test_tool_history_rewritten_for_the_codeblock_protocol():
    out = wire_messages(HISTORY, codeblocks=True)
    assert roles(out) == ["user", "assistant", "user", "assistant", "user"]
    assert "tool_calls" not in out[1]
    assert out[1]["content"] == ("```python\nx = [1, 2]\nsum(x)\n```\n\n"
                                 '(called inspect_variable with {"name": "x"})')
    assert out[2]["content"] == ("Result of the code:\nstatus: ok\noutput:\n3\n\n"
                                 "Result of inspect_variable:\nlist of 2 ints")
    assert out[3:] == [{"role": "assistant", "content": "The sum is 3."},
                       {"role": "user", "content": "User request:\nand the mean?"}]


def test_text_before_a_call_is_kept_and_codeblock_history_passes_unchanged():
    history = [{"role": "user", "content": "q"},
               {"role": "assistant", "content": "Loading.", "tool_calls": [
                   {"id": "a", "type": "function",
                    "function": {"name": "run_code", "arguments": '{"code": "1+1"}'}}]},
               {"role": "tool", "tool_call_id": "a", "content": "2"}]
    out = wire_messages(history, codeblocks=True)
    assert out[1]["content"] == "Loading.\n\n```python\n1+1\n```"
    # code-block turns are plain text: valid as they are for a request with tools
    plain = [{"role": "user", "content": "q"},
             {"role": "assistant", "content": "```python\n1+1\n```"},
             {"role": "user", "content": "<workspace-data>2</workspace-data>"}]
    assert wire_messages(plain, codeblocks=False) == plain


def test_unanswered_calls_and_orphan_results_are_paired():
    history = [{"role": "user", "content": "q"},
               {"role": "assistant", "content": "", "tool_calls": [
                   {"id": "a", "type": "function", "function": {"name": "run_code",
                                                                "arguments": '{"code": "1"}'}},
                   {"id": "b", "type": "function", "function": {"name": "run_code",
                                                                "arguments": '{"code": "2"}'}}]},
               {"role": "tool", "tool_call_id": "a", "content": "1"},
               {"role": "assistant", "content": "(stopped by the user)"},
               {"role": "tool", "tool_call_id": "zzz", "content": "stray"}]
    out = wire_messages(history, codeblocks=False)
    assert roles(out) == ["user", "assistant", "tool", "tool", "assistant", "user"]
    assert out[3] == {"role": "tool", "tool_call_id": "b", "content": NO_RESULT}
    assert out[5] == {"role": "user", "content": "Result:\nstray"}
    # a stray result among the answers goes after them
    history.insert(3, {"role": "tool", "tool_call_id": "x", "content": "odd"})
    out = wire_messages(history, codeblocks=False)
    assert roles(out)[:5] == ["user", "assistant", "tool", "tool", "user"]
    assert out[4] == {"role": "user", "content": "Result:\nodd"}


def test_wire_form_is_deterministic_and_stable():
    a = json.dumps(wire_messages(copy.deepcopy(HISTORY), codeblocks=False))
    b = json.dumps(wire_messages(copy.deepcopy(HISTORY), codeblocks=False))
    assert a == b
    once = wire_messages(HISTORY, codeblocks=False)
    assert wire_messages(once, codeblocks=False) == once


# ---------------------------------------------------------------- the client, end to end


async def test_strict_server_accepts_a_history_of_native_tool_calls(scripted_model, model_client):
    scripted_model.set_quirks(strict_schema=True, strict_tool_ids=True)
    scripted_model.set_script(text("The mean is 1.5."))
    reply = await model_client.stream(HISTORY, tools=TOOLS)
    assert reply.text == "The mean is 1.5."
    sent = scripted_model.requests[0]["messages"]
    assert sent[1]["content"] == "" and sent[1]["tool_calls"][0]["id"] == "call_1"


async def test_codeblock_request_carries_no_tool_messages(scripted_model, model_client):
    scripted_model.set_quirks(strict_schema=True)
    scripted_model.set_script(text("```python\nsum(x) / len(x)\n```"))
    await model_client.stream(HISTORY, tools=None)
    body = scripted_model.requests[0]
    assert "tools" not in body
    assert "tool" not in roles(body["messages"])
    assert all("tool_calls" not in m for m in body["messages"])
    assert "```python\nx = [1, 2]" in body["messages"][1]["content"]


def llama_cpp_python_500(messages: list[dict]) -> dict:
    status, body = _strict_schema_rejection({"model": "m", "messages": messages})
    return error(status, "", body=body)


async def test_validation_500_is_reported_not_retried(scripted_model, model_client):
    bad = [{"role": "user", "content": None, "secret": KEY}]
    scripted_model.set_script(llama_cpp_python_500(bad), text("never reached"))
    with pytest.raises(ProviderError) as info:
        await model_client.stream([{"role": "user", "content": "hi"}])
    err = info.value
    assert len(scripted_model.requests) == 1  # not retried
    assert err.kind == "bad_request" and not err.retryable and err.status == 500
    assert err.message.endswith("rejected the request as invalid (500): "
                                "messages.0.secret: Extra inputs are not permitted; "
                                "messages.0.content: Input should be a valid string.")
    assert "try again shortly" not in str(err)
    assert KEY not in str(err) and "SECRETKEY" not in str(err)
    assert len(err.message) < 450


async def test_fastapi_422_and_long_bodies_are_bounded(scripted_model, model_client):
    detail = [{"type": "missing", "loc": ["body", "messages", i, "content"],
               "msg": "Field required", "input": {"role": "user"}} for i in range(40)]
    scripted_model.set_script(error(422, "", body={"detail": detail}))
    with pytest.raises(ProviderError) as info:
        await model_client.stream([{"role": "user", "content": "hi"}])
    err = info.value
    assert err.kind == "bad_request" and not err.retryable
    assert "Field required" in err.message and err.message.count("loc") < 10
    assert len(err.message) < 450


async def test_a_rejected_optional_field_is_dropped_not_reported(scripted_model, model_client):
    status, body = _strict_schema_rejection({"model": "m", "messages": [], "stream_options": 1,
                                            "bogus": 1})
    body["error"]["message"] = body["error"]["message"].replace("bogus", "stream_options")
    scripted_model.set_script(error(status, "", body=body), text("ok"))
    reply = await model_client.stream([{"role": "user", "content": "hi"}])
    assert reply.text == "ok"
    assert "stream_options" in scripted_model.requests[0]
    assert "stream_options" not in scripted_model.requests[1]


async def test_a_500_typed_invalid_request_is_not_retried(scripted_model, model_client):
    scripted_model.set_script(error(500, "messages[1].content must be a string",
                                    type="invalid_request_error"), text("never reached"))
    with pytest.raises(ProviderError) as info:
        await model_client.stream([{"role": "user", "content": "hi"}])
    assert info.value.kind == "bad_request" and len(scripted_model.requests) == 1
    assert "messages[1].content must be a string" in info.value.message


async def test_a_plain_500_is_still_retried(scripted_model, model_client):
    scripted_model.set_script(error(500, "upstream overloaded"), text("ok"))
    reply = await model_client.stream([{"role": "user", "content": "hi"}])
    assert reply.text == "ok" and len(scripted_model.requests) == 2


# ---------------------------------------------------------------- switching mid-chat


class Sink:
    def __init__(self) -> None:
        self.messages: list = []

    async def send(self, msg) -> None:
        self.messages.append(msg)

    async def ask_approval(self, request):
        return ApprovalReplyMsg(step_id=request.step_id, decision="run")


@pytest.fixture
async def executor(tmp_path):
    ex = HeadlessExecutor(str(tmp_path / "s.ipynb"))
    await ex.start()
    yield ex
    await ex.close()


async def turn(cfg, executor, number: int, prompt: str, history: list, protocol: str):
    client = ModelClient(cfg, protocol=protocol)
    try:
        agent = Agent(config=cfg, model=client, executor=executor, sink=Sink(),
                      root_dir=executor.root_dir)
        return await agent.run_turn(Turn(chat_id="s", turn=number, prompt=prompt,
                                         notebook_path="s.ipynb"), history)
    finally:
        await client.close()


@pytest.mark.parametrize("first,second", [("tools", "codeblocks"), ("codeblocks", "tools")])
async def test_switching_protocol_mid_chat(scripted_model, scripted_config, executor,
                                           first, second):
    scripted_model.set_quirks(strict_schema=True, strict_tool_ids=True)
    step1 = run_code("x = [1, 2]\nprint(sum(x))") if first == "tools" else \
        text("```python\nx = [1, 2]\nprint(sum(x))\n```")
    scripted_model.set_script(step1, text("The sum is 3."))
    one = await turn(scripted_config, executor, 1, "sum of x?", [], first)
    assert one.status == "done", one.answer
    step2 = run_code("print(sum(x) / len(x))") if second == "tools" else \
        text("```python\nprint(sum(x) / len(x))\n```")
    scripted_model.set_script(step2, text("The mean is 1.5."))
    two = await turn(scripted_config, executor, 2, "and the mean?", one.messages, second)
    assert two.status == "done", two.answer
    assert two.answer == "The mean is 1.5."
    later = scripted_model.requests[2:]
    assert len(later) == 2
    for body in later:
        if second == "codeblocks":
            assert "tool" not in roles(body["messages"])
            assert any(m["role"] == "assistant" and "```python\nx = [1, 2]" in m["content"]
                       for m in body["messages"])
        assert all(m.get("content") is not None for m in body["messages"])
