"""Endpoint and model quirks, end to end: Agent + HeadlessExecutor (a real kernel) + the
real openai SDK against the scripted server imitating each quirk."""

from __future__ import annotations

import json

import pytest

from scripted_model import call, run_code, text, tool_calls

from jupyterlab_codeinterp.context.kernel_probe import eval_expression as eval_silently
from jupyterlab_codeinterp.agent.loop import Agent, Turn
from jupyterlab_codeinterp.config import CodeInterp
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
from jupyterlab_codeinterp.llm.client import PLACEHOLDER_KEY, ModelClient
from jupyterlab_codeinterp.protocol import ApprovalReplyMsg, ErrorMsg, StepMsg, TextDeltaMsg

# each run increments a kernel counter, so "executed once" is checked in the kernel itself
COUNTED = "runs = globals().get('runs', 0) + 1\nprint(6 * 7)"


class Sink:
    def __init__(self) -> None:
        self.messages: list = []

    async def send(self, msg) -> None:
        self.messages.append(msg)

    async def ask_approval(self, request):
        return ApprovalReplyMsg(step_id=request.step_id, decision="run")

    def errors(self) -> list:
        return [m for m in self.messages if isinstance(m, ErrorMsg)]

    def steps(self, state: str) -> list:
        return [m for m in self.messages if isinstance(m, StepMsg) and m.state == state]


@pytest.fixture
async def executor(tmp_path):
    ex = HeadlessExecutor(str(tmp_path / "q.ipynb"))
    await ex.start()
    yield ex
    await ex.close()


async def run_turn(cfg: CodeInterp, executor, *, model: str | None = None):
    sink = Sink()
    client = ModelClient(cfg, model=model)
    try:
        agent = Agent(config=cfg, model=client, executor=executor, sink=sink,
                      root_dir=executor.root_dir)
        result = await agent.run_turn(
            Turn(chat_id="q", turn=1, prompt="compute 6*7", notebook_path="q.ipynb"), [])
    finally:
        await client.close()
    return result, sink


async def kernel_value(executor, expr: str) -> str:
    return await eval_silently(await executor.kernel_client(), expr, timeout=10)


def answer_from_result(req: dict):
    last = req["messages"][-1]
    assert "42" in str(last["content"]), last
    return text("6 * 7 is 42.")


def assert_pairing(body: dict) -> None:
    """Every assistant tool call is answered, in order, by its own tool message."""
    msgs = body["messages"]
    for i, m in enumerate(msgs):
        if m.get("role") == "assistant" and m.get("tool_calls"):
            ids = [c["id"] for c in m["tool_calls"]]
            answers = [x["tool_call_id"] for x in msgs[i + 1:i + 1 + len(ids)]]
            assert answers == ids


# ---------------------------------------------------------------------------- request fields


@pytest.mark.parametrize("protocol", ["codeblocks", "tools"])
async def test_no_tool_fields_unless_tools_are_used(executor, scripted_model, scripted_config,
                                                    protocol):
    scripted_model.set_quirks(reject_tool_choice_null=True, reject_empty_tools=True,
                              strict_tool_ids=True)
    scripted_config.protocol = protocol
    first = text(f"```python\n{COUNTED}\n```") if protocol == "codeblocks" else run_code(COUNTED)
    scripted_model.set_script(first, answer_from_result)
    result, sink = await run_turn(scripted_config, executor)
    assert result.status == "done" and not sink.errors()
    for body in scripted_model.requests:
        assert "tool_choice" not in body and "parallel_tool_calls" not in body
        assert ("tools" in body) == (protocol == "tools")
        if protocol == "tools":
            assert body["tools"]


async def test_placeholder_key_for_a_keyless_local_server(executor, scripted_model, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = CodeInterp(preset="llamacpp", base_url=scripted_model.base_url, model="scripted-model",
                     request_timeout=5)
    assert cfg.api_key == ""
    scripted_model.set_script(run_code(COUNTED), answer_from_result)
    result, sink = await run_turn(cfg, executor)
    assert result.status == "done", sink.errors()
    chats = [e for e in scripted_model.log if e["path"].endswith("/chat/completions")]
    assert len(chats) == 2
    assert all(e["headers"]["Authorization"] == f"Bearer {PLACEHOLDER_KEY}" for e in chats)


# ---------------------------------------------------------------------------- tool calls as text

CALL = {"name": "run_code", "arguments": {"code": COUNTED}}
TEXT_FORMS = {
    "bare_json": "I'll compute it.\n" + json.dumps(CALL),
    "json_block": "Let me run this:\n```json\n" + json.dumps(CALL, indent=2) + "\n```",
    "tool_call_tags": "<tool_call>\n" + json.dumps(CALL) + "\n</tool_call>",
    # what Qwen2.5-Coder printed through llama.cpp here: <tools> tags, a triple-quoted string
    "qwen_tools_tags": '<tools>\n{"name": "run_code", "arguments": {"code": """'
                       + COUNTED + '"""}}\n</tools>',
    # the same call twice in one answer (a tag and a json block): still one run
    "repeated": "<tool_call>" + json.dumps(CALL) + "</tool_call>\n```json\n"
                + json.dumps(CALL) + "\n```",
}


@pytest.mark.parametrize("form", sorted(TEXT_FORMS))
@pytest.mark.parametrize("protocol", ["auto", "codeblocks"])
async def test_tool_call_printed_as_text_runs_once(executor, scripted_model, scripted_config,
                                                   form, protocol):
    scripted_model.set_quirks(strict_tool_ids=True)
    scripted_config.protocol = protocol
    scripted_model.set_script(text(TEXT_FORMS[form]), answer_from_result)
    result, sink = await run_turn(scripted_config, executor)
    assert result.status == "done", (result.answer, sink.errors())
    assert result.answer == "6 * 7 is 42."
    assert await kernel_value(executor, "runs") == "1"
    assert len(executor.nb.cells) == 1 and "42" in json.dumps(executor.nb.cells[0].outputs)
    assert len(scripted_model.requests) == 2  # the strict server accepted the follow-up
    follow_up = scripted_model.requests[1]
    assert_pairing(follow_up)
    # Answered in text, whatever the protocol: a call the model printed is not re-dressed as a
    # native tool call, because local chat templates drop tool_calls/tool messages the model
    # never produced (Qwen2.5-Coder on llama.cpp then never saw its result and called again).
    assistant, result_msg = follow_up["messages"][-2], follow_up["messages"][-1]
    assert assistant["role"] == "assistant" and "tool_calls" not in assistant
    assert result_msg["role"] == "user" and "42" in result_msg["content"]
    # the chat shows the cell the call ran, not the call's JSON
    streamed = "".join(m.text for m in sink.messages if isinstance(m, TextDeltaMsg))
    assert '"run_code"' not in streamed and "<tool" not in streamed and "```json" not in streamed
    assert streamed.endswith("6 * 7 is 42.")
    # the endpoint took tools but its model wrote the call as text: "auto" goes on (and
    # starts later requests to this endpoint) with the code-block prompt, which it can follow
    assert "tools" not in follow_up
    assert "```python" in follow_up["messages"][0]["content"]


async def test_auto_keeps_tools_for_a_model_that_calls_them(executor, scripted_model, scripted_config):
    scripted_model.set_script(run_code(COUNTED), answer_from_result)
    result, _sink = await run_turn(scripted_config, executor)
    assert result.answer == "6 * 7 is 42."
    assert all("tools" in body for body in scripted_model.requests)


async def test_a_call_too_broken_to_run_is_not_shown_as_json(executor, scripted_model, scripted_config):
    broken = 'Running it:\n{"name": "run_code", "arguments": {"code": "print(6*7)"'  # never closed
    scripted_model.set_script(text(broken), text("unused"))
    result, sink = await run_turn(scripted_config, executor)
    streamed = "".join(m.text for m in sink.messages if isinstance(m, TextDeltaMsg))
    assert '"run_code"' not in streamed and '"run_code"' not in result.answer
    assert result.answer.startswith("Running it:") and "could not be read" in result.answer
    assert executor.nb.cells == []


async def test_a_code_block_after_a_broken_call_still_runs(executor, scripted_model, scripted_config):
    broken = '{"name": "run_code", "arguments": {"code": "print(6*7)"\n```python\n' + COUNTED + '\n```'
    scripted_model.set_script(text(broken), answer_from_result)
    result, sink = await run_turn(scripted_config, executor)
    assert result.answer == "6 * 7 is 42."
    assert await kernel_value(executor, "runs") == "1"
    streamed = "".join(m.text for m in sink.messages if isinstance(m, TextDeltaMsg))
    assert '"run_code"' not in streamed


# ---------------------------------------------------------------------------- fences


async def test_unclosed_fence_after_auto_fallback_to_codeblocks(executor, scripted_model,
                                                                scripted_config):
    scripted_model.set_quirks(reject_tools="llamacpp")  # "tools param requires --jinja flag"
    scripted_model.set_script(
        text("Sure, computing:\n\n```python\n" + COUNTED + "\n"),  # never closed
        answer_from_result)
    result, sink = await run_turn(scripted_config, executor)
    assert result.status == "done" and result.answer == "6 * 7 is 42."
    bodies = scripted_model.requests
    assert "tools" in bodies[0] and all("tools" not in b for b in bodies[1:])
    assert await kernel_value(executor, "runs") == "1"
    assert executor.nb.cells[0].source == COUNTED


# ---------------------------------------------------------------------------- reasoning models


async def test_reasoning_model_parameters_through_the_agent(executor, scripted_model,
                                                            scripted_config):
    scripted_model.set_quirks(reasoning=True, models=["o4-mini"], strict_tool_ids=True)
    scripted_model.set_script(
        run_code(COUNTED) | {"reasoning": "The user wants 6*7; run it."}, answer_from_result)
    result, sink = await run_turn(scripted_config, executor, model="o4-mini")
    assert result.status == "done" and not sink.errors()
    assert len(scripted_model.requests) == 2  # nothing rejected
    for body in scripted_model.requests:
        assert body["max_completion_tokens"] == scripted_config.max_tokens
        assert "max_tokens" not in body and "temperature" not in body
        # reasoning text is never sent back
        assert "run it." not in json.dumps(body["messages"])


# ---------------------------------------------------------------------------- usage


async def test_endpoint_without_streamed_usage(executor, scripted_model, scripted_config):
    scripted_model.set_quirks(stream_usage=False)
    scripted_model.set_script(run_code(COUNTED), answer_from_result)
    result, _ = await run_turn(scripted_config, executor)
    assert result.status == "done"
    assert result.usage.prompt_tokens > 100 and result.usage.completion_tokens > 3
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens


# ---------------------------------------------------------------------------- tool-call ids


@pytest.mark.parametrize("ids", ["missing", "empty", "repeated"])
async def test_tool_call_ids_missing_or_repeated_pair_correctly(executor, scripted_model,
                                                                scripted_config, ids):
    scripted_model.set_quirks(tool_call_ids=ids, strict_tool_ids=True)
    scripted_model.set_script(
        tool_calls(call("run_code", {"code": "print('result A')"}),
                   call("run_code", {"code": "print('result B')"})),
        run_code("print('result C')"),  # "call_0" again when repeated: across steps too
        text("A, B and C printed."))
    result, sink = await run_turn(scripted_config, executor)
    assert result.status == "done", (result.answer, sink.errors())
    assert len(scripted_model.requests) == 3  # every follow-up accepted by the strict server
    last = scripted_model.requests[-1]
    assert_pairing(last)
    msgs = last["messages"]
    calls = [c for m in msgs if m.get("role") == "assistant" for c in m.get("tool_calls") or []]
    ids_ = [c["id"] for c in calls]
    assert len(ids_) == 3 and all(ids_) and len(set(ids_)) == 3
    results = {m["tool_call_id"]: m["content"] for m in msgs if m.get("role") == "tool"}
    for c, letter in zip(calls, "ABC"):
        assert f"result {letter}" in results[c["id"]]  # each result went to its own call
    assert [c.source for c in executor.nb.cells] == [
        "print('result A')", "print('result B')", "print('result C')"]


# ---------------------------------------------------------------------------- code instead of a call


async def test_python_block_instead_of_a_tool_call_runs_once(executor, scripted_model,
                                                             scripted_config):
    """Offered tools, Qwen2.5-Coder-1.5B at temperature 0 answered with a ```python block
    and no call. Before any code ran in the turn, that block is run (once); a snippet in the
    final answer after code ran is not."""
    scripted_model.set_quirks(strict_tool_ids=True)
    scripted_model.set_script(
        text("You can use the following code:\n\n```python\n" + COUNTED + "\n```\n\nThis prints it."),
        lambda req: text("6 * 7 is 42. To reuse it:\n\n```python\nprint(6 * 7)\n```")
        if "42" in str(req["messages"][-1]["content"]) else text("no result?"))
    result, sink = await run_turn(scripted_config, executor)
    assert result.status == "done", (result.answer, sink.errors())
    assert result.answer.startswith("6 * 7 is 42.")
    assert await kernel_value(executor, "runs") == "1"
    assert len(executor.nb.cells) == 1 and len(scripted_model.requests) == 2
    assert "tools" in scripted_model.requests[1]  # still the tools protocol
