"""ModelClient against the scripted OpenAI-compatible server, through the real openai SDK."""

from __future__ import annotations

import json
import socket

import pytest

from scripted_model import (
    call, cut, empty, error, hang, rate_limited, run_code, server_error, stream_error, text,
    tool_calls,
)

from jupyterlab_codeinterp.config import CodeInterp
from jupyterlab_codeinterp.llm.client import (
    PLACEHOLDER_KEY, ModelClient, RetryNotice, forget_endpoint_cache, is_reasoning_model,
)
from jupyterlab_codeinterp.llm.types import ProviderError

MSGS = [{"role": "system", "content": "You are a helpful data analyst."},
        {"role": "user", "content": "What is the total price?"}]
TOOLS = [{"type": "function", "function": {
    "name": "run_code", "description": "Run Python code in the notebook's kernel.",
    "parameters": {"type": "object", "properties": {"code": {"type": "string"}},
                   "required": ["code"]}}}]
KEY = "sk-test-SECRETKEY-0123456789"


def assert_no_key(err: ProviderError) -> None:
    for text_ in (str(err), err.message, err.hint, json.dumps(err.to_dict()), repr(err)):
        assert KEY not in text_
        assert "SECRETKEY" not in text_


async def expect_error(client: ModelClient, kind: str, **kw) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await client.stream(MSGS, **kw)
    err = info.value
    assert err.kind == kind, (err.kind, str(err))
    assert_no_key(err)
    return err


# ---------------------------------------------------------------------------- streaming


async def test_streams_text_in_pieces(scripted_model, model_client):
    scripted_model.set_script(text("The total price is 7.0 dollars."))
    pieces: list[str] = []
    reply = await model_client.stream(MSGS, on_text=pieces.append)
    assert reply.text == "The total price is 7.0 dollars."
    assert len(pieces) > 3 and "".join(pieces) == reply.text
    assert reply.finish_reason == "stop"
    assert reply.tool_calls == []
    assert not reply.usage.estimated and reply.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens > 0


async def test_async_text_callback(scripted_model, model_client):
    scripted_model.set_script(text("hello world"))
    got: list[str] = []

    async def on_text(s: str) -> None:
        got.append(s)

    await model_client.stream(MSGS, on_text=on_text)
    assert "".join(got) == "hello world"


async def test_streamed_tool_calls_reassembled(scripted_model, model_client):
    code = 'import pandas as pd\ndf = pd.read_csv("sales.csv")\nprint(df["price"].sum())'
    scripted_model.set_script(tool_calls(
        call("run_code", {"code": code}),
        call("inspect_variable", {"name": "df"}),
        text="Let me look."))
    reply = await model_client.stream(MSGS, tools=TOOLS)
    assert reply.text == "Let me look."
    assert reply.finish_reason == "tool_calls"
    assert [c.name for c in reply.tool_calls] == ["run_code", "inspect_variable"]
    assert json.loads(reply.tool_calls[0].arguments) == {"code": code}
    assert json.loads(reply.tool_calls[1].arguments) == {"name": "df"}
    assert all(c.id.startswith("call_") for c in reply.tool_calls)
    assert len({c.id for c in reply.tool_calls}) == 2


async def test_usage_from_stream_and_estimated_when_absent(scripted_model, model_client):
    scripted_model.set_script(text("six", usage={"prompt_tokens": 123, "completion_tokens": 7}))
    reply = await model_client.stream(MSGS)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (123, 7)
    assert not reply.usage.estimated
    assert scripted_model.last_request["stream_options"] == {"include_usage": True}

    scripted_model.set_quirks(stream_usage=False)
    scripted_model.set_script(text("The answer is six, as computed above."))
    reply = await model_client.stream(MSGS, tools=TOOLS)
    assert reply.usage.estimated
    assert reply.usage.prompt_tokens > 20 and reply.usage.completion_tokens > 3


async def test_stream_options_rejected_then_dropped_and_remembered(scripted_model,
                                                                   scripted_config):
    scripted_model.set_quirks(reject_stream_options=True)
    scripted_model.set_script(text("one"), text("two"))
    async with ModelClient(scripted_config) as client:
        reply = await client.stream(MSGS)
        assert reply.text == "one" and reply.usage.estimated
    async with ModelClient(scripted_config) as client:  # the next client doesn't try again
        assert (await client.stream(MSGS)).text == "two"
    bodies = scripted_model.requests
    assert len(bodies) == 3
    assert "stream_options" in bodies[0] and "stream_options" not in bodies[1]
    assert "stream_options" not in bodies[2]


async def test_no_tools_fields_when_tools_unused(scripted_model, model_client):
    scripted_model.set_quirks(reject_tool_choice_null=True, reject_empty_tools=True)
    scripted_model.set_script(text("a"), text("b"), run_code("1"))
    await model_client.stream(MSGS)
    await model_client.stream(MSGS, tools=[])
    await model_client.stream(MSGS, tools=TOOLS)
    first, second, third = scripted_model.requests
    for body in (first, second):
        assert "tools" not in body and "tool_choice" not in body
        assert "parallel_tool_calls" not in body
    assert third["tools"] == TOOLS and "tool_choice" not in third


async def test_request_carries_config(scripted_model, scripted_config):
    scripted_config.extra_headers = {"X-Team": "data"}
    scripted_config.temperature = 0.3
    scripted_config.max_tokens = 512
    scripted_model.set_script(text("ok"))
    async with ModelClient(scripted_config) as client:
        await client.stream(MSGS)
    body = scripted_model.last_request
    assert body["model"] == "scripted-model" and body["stream"] is True
    assert body["messages"] == MSGS
    assert body["temperature"] == 0.3 and body["max_tokens"] == 512
    headers = scripted_model.log[-1]["headers"]
    assert headers["X-Team"] == "data"
    assert headers["Authorization"] == f"Bearer {KEY}"


async def test_placeholder_key_for_keyless_local_server(scripted_model, scripted_config,
                                                        monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = CodeInterp(base_url=scripted_model.base_url, model="scripted-model", preset="ollama")
    assert cfg.api_key == ""
    scripted_model.set_script(text("hi"))
    async with ModelClient(cfg) as client:
        assert not client.has_key
        assert (await client.stream(MSGS)).text == "hi"
    assert scripted_model.log[-1]["headers"]["Authorization"] == f"Bearer {PLACEHOLDER_KEY}"


async def test_overrides_model_and_base_url(scripted_model, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    cfg = CodeInterp(api_key=KEY, model="gpt-4.1-mini")
    scripted_model.set_script(text("big"))
    async with ModelClient(cfg, model="scripted-large", base_url=scripted_model.base_url) as c:
        assert (await c.stream(MSGS)).text == "big"
    assert scripted_model.last_request["model"] == "scripted-large"


def test_preset_base_urls(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert ModelClient(CodeInterp(preset="ollama")).base_url == "http://localhost:11434/v1"
    assert ModelClient(CodeInterp(preset="lmstudio")).base_url == "http://localhost:1234/v1"
    assert ModelClient(CodeInterp()).base_url == "https://api.openai.com/v1"
    assert ModelClient(CodeInterp(base_url="http://h:1/v1/")).base_url == "http://h:1/v1"


async def test_azure_preset(scripted_model):
    scripted_model.set_quirks(api_key="azure-secret-key-123")
    cfg = CodeInterp(preset="azure", base_url=scripted_model.url, api_key="azure-secret-key-123",
                     model="gpt-4o", azure_deployment="my-gpt4o", azure_api_version="2024-10-21")
    scripted_model.set_script(text("from azure"))
    async with ModelClient(cfg) as client:
        assert (await client.stream(MSGS)).text == "from azure"
        assert await client.list_models() == ["my-gpt4o"]
    entry = scripted_model.log[-1]
    assert entry["path"] == "/openai/deployments/my-gpt4o/chat/completions"
    assert "api-version=2024-10-21" in entry["query"]
    assert entry["headers"]["Api-Key"] == "azure-secret-key-123"


# ---------------------------------------------------------------------------- reasoning models


def test_reasoning_model_names():
    for name in ("o1", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "openai/o3"):
        assert is_reasoning_model(name), name
    for name in ("gpt-4.1-mini", "gpt-4o", "gpt-5-chat-latest", "qwen2.5-coder", "llama3"):
        assert not is_reasoning_model(name), name


async def test_reasoning_model_params(scripted_model, scripted_config):
    scripted_model.set_quirks(reasoning=True, models=["o3-mini"])
    scripted_model.set_script(text("thought it through", reasoning="Let me think..."))
    async with ModelClient(scripted_config, model="o3-mini") as client:
        reply = await client.stream(MSGS)
    assert reply.text == "thought it through" and reply.reasoning == "Let me think..."
    body = scripted_model.last_request
    assert body["max_completion_tokens"] == scripted_config.max_tokens
    assert "max_tokens" not in body and "temperature" not in body


async def test_reasoning_params_learned_from_rejections(scripted_model, scripted_config):
    # an unknown name served by a reasoning model: the 400s teach the client once
    scripted_model.set_quirks(reasoning=True, models=["house-reasoner"])
    scripted_model.set_script(text("ok"), text("again"))
    async with ModelClient(scripted_config, model="house-reasoner") as client:
        assert (await client.stream(MSGS)).text == "ok"
        assert (await client.stream(MSGS)).text == "again"
    bodies = scripted_model.requests
    assert len(bodies) == 4  # max_tokens rejected, temperature rejected, ok, again
    assert "max_completion_tokens" in bodies[-1] and "temperature" not in bodies[-1]


async def test_reasoning_setting_forced_off(scripted_model, scripted_config):
    scripted_config.reasoning_model = False
    scripted_model.set_quirks(models=["o3-mini"])
    scripted_model.set_script(text("ok"))
    async with ModelClient(scripted_config, model="o3-mini") as client:
        await client.stream(MSGS)
    assert "max_tokens" in scripted_model.last_request


# ---------------------------------------------------------------------------- errors


async def test_401_auth(scripted_model, model_client):
    scripted_model.set_quirks(api_key="sk-the-right-one-xyz")
    err = await expect_error(model_client, "auth")
    assert "refused" in err.message and scripted_model.base_url in err.message
    assert "OPENAI_API_KEY" in err.hint and "c.CodeInterp.api_key" in err.hint
    assert not err.retryable
    assert len(scripted_model.requests) == 1  # no retries on 401


async def test_401_without_any_key_says_so(scripted_model, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    scripted_model.set_quirks(api_key="sk-needed-0000000")
    async with ModelClient(CodeInterp(base_url=scripted_model.base_url,
                                      model="scripted-model")) as client:
        err = await expect_error(client, "auth")
    assert "none is configured" in err.message


async def test_403_forbidden(scripted_model, model_client):
    scripted_model.set_script(error(403, "Project does not have access to model scripted-model",
                                    type="invalid_request_error", code="model_not_allowed"))
    err = await expect_error(model_client, "forbidden")
    assert "403" in err.message and "does not have access" in err.message
    assert "permission" in err.hint


async def test_unknown_model_lists_available(scripted_model, scripted_config):
    async with ModelClient(scripted_config, model="gpt-7-ultra") as client:
        err = await expect_error(client, "model_not_found")
    assert "gpt-7-ultra" in err.message
    assert "scripted-model" in err.hint and "scripted-large" in err.hint
    assert "c.CodeInterp.model" in err.hint
    assert err.models == ["scripted-model", "scripted-large"]


async def test_unknown_model_ollama_style_without_models_route(scripted_model, scripted_config):
    scripted_model.set_quirks(models_endpoint=False)
    scripted_model.set_script(error(404, 'model "llama9" not found, try pulling it first',
                                    type="api_error"))
    async with ModelClient(scripted_config, model="llama9") as client:
        err = await expect_error(client, "model_not_found")
    assert "llama9" in err.message and "Available" not in err.hint


async def test_404_wrong_route_suggests_v1(scripted_model, scripted_config):
    scripted_config.base_url = scripted_model.url + "/wrong"
    async with ModelClient(scripted_config) as client:
        err = await expect_error(client, "bad_request")
    assert "404" in err.message and "/v1" in err.hint


async def test_429_retry_after_then_success(scripted_model, model_client):
    scripted_model.set_script(rate_limited(retry_after=0.05), rate_limited(retry_after_ms=20,
                                                                           retry_after=None),
                              text("finally"))
    notices: list[RetryNotice] = []
    reply = await model_client.stream(MSGS, on_retry=notices.append)
    assert reply.text == "finally"
    assert [n.attempt for n in notices] == [1, 2]
    assert notices[0].wait == pytest.approx(0.05) and notices[1].wait == pytest.approx(0.02)
    assert all(n.error.kind == "rate_limit" for n in notices)
    assert "Retrying in" in notices[0].message and "retry 1 of 2" in notices[0].message


async def test_429_async_on_retry(scripted_model, model_client):
    scripted_model.set_script(rate_limited(0), text("ok"))
    seen = []

    async def on_retry(n: RetryNotice) -> None:
        seen.append(n.wait)

    assert (await model_client.stream(MSGS, on_retry=on_retry)).text == "ok"
    assert seen == [0]


async def test_429_exhausted(scripted_model, model_client):
    scripted_model.set_script(*[rate_limited(0)] * 5)
    err = await expect_error(model_client, "rate_limit")
    assert len(scripted_model.requests) == 3  # 1 + max_retries
    assert "gave up after 2 retries" in err.message and err.retryable


async def test_429_retry_after_longer_than_allowed_gives_up_at_once(scripted_model,
                                                                    model_client):
    scripted_model.set_script(rate_limited(retry_after=60), text("never"))
    err = await expect_error(model_client, "rate_limit")
    assert "60 s" in err.message and "max_retry_wait" in err.hint
    assert len(scripted_model.requests) == 1


async def test_429_quota_is_not_retried(scripted_model, model_client):
    scripted_model.set_script(error(429, "You exceeded your current quota, please check your "
                                    "plan and billing details.", code="insufficient_quota"))
    err = await expect_error(model_client, "rate_limit")
    assert "quota" in err.message and not err.retryable
    assert len(scripted_model.requests) == 1


async def test_500_retried_then_success(scripted_model, model_client):
    scripted_model.set_script(server_error(500), server_error(503, "model is loading"),
                              text("ok"))
    notices = []
    reply = await model_client.stream(MSGS, on_retry=notices.append)
    assert reply.text == "ok" and len(notices) == 2
    assert notices[1].error.kind == "server_error" and "503" in notices[1].error.message


async def test_500_exhausted(scripted_model, model_client):
    scripted_model.set_script(*[server_error(502, "Bad gateway")] * 3)
    err = await expect_error(model_client, "server_error")
    assert "502" in err.message and len(scripted_model.requests) == 3


async def test_hang_past_timeout(scripted_model, scripted_config):
    scripted_config.request_timeout = 0.3
    scripted_model.set_script(hang(10))
    async with ModelClient(scripted_config) as client:
        err = await expect_error(client, "timeout")
    assert "request_timeout=0.3 s" in err.message
    assert "c.CodeInterp.request_timeout" in err.hint
    assert len(scripted_model.requests) == 1  # timeouts are not retried


async def test_hang_mid_stream(scripted_model, scripted_config):
    scripted_config.request_timeout = 0.3
    scripted_model.set_script(hang(10, after_chunks=3))
    got = []
    async with ModelClient(scripted_config) as client:
        err = await expect_error(client, "timeout", on_text=got.append)
    assert "middle of the answer" in err.message
    assert err.partial_text == "".join(got) and err.partial_text


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_refused_connection(scripted_config):
    url = f"http://127.0.0.1:{_dead_port()}/v1"
    async with ModelClient(scripted_config, base_url=url) as client:
        err = await expect_error(client, "connection")
    assert f"Nothing is listening at {url}" in err.message
    assert "base_url" in err.hint


async def test_refused_connection_preset_hint(scripted_config):
    scripted_config.preset = "ollama"
    url = f"http://127.0.0.1:{_dead_port()}/v1"
    async with ModelClient(scripted_config, base_url=url) as client:
        err = await expect_error(client, "connection")
    assert "ollama serve" in err.hint


async def test_connect_timeout(scripted_config):
    # a listener whose accept queue is full: the TCP handshake never completes
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    scripted_config.connect_timeout = 0.3
    try:
        async with ModelClient(scripted_config, base_url=f"http://127.0.0.1:{port}/v1") as client:
            err = await expect_error(client, "timeout")
        assert "connect_timeout=0.3 s" in err.message
        assert "c.CodeInterp.connect_timeout" in err.hint
    finally:
        for s in fillers + [srv]:
            s.close()


async def test_cancel_ends_the_stream(scripted_model, model_client):
    """Stop: cancelling the task ends the stream; the client stays usable."""
    import asyncio

    slow = text("one two three four five six seven eight nine ten", chunk_size=4)
    slow["delay"] = 0.2
    scripted_model.set_script(slow, text("next"))
    first = asyncio.Event()
    got: list[str] = []

    def on_text(s: str) -> None:
        got.append(s)
        first.set()

    task = asyncio.ensure_future(model_client.stream(MSGS, on_text=on_text))
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 0 < len(got) < 5
    assert (await model_client.stream(MSGS)).text == "next"


async def test_stream_cut_mid_tool_call(scripted_model, scripted_config):
    scripted_config.max_retries = 0
    scripted_model.set_script(cut())
    async with ModelClient(scripted_config) as client:
        err = await expect_error(client, "stream_broken", tools=TOOLS)
    assert "broke in the middle" in err.message


async def test_stream_cut_mid_text_keeps_partial(scripted_model, model_client):
    scripted_model.set_script(cut(in_tool_call=False), text("never asked"))
    got: list[str] = []
    err = await expect_error(model_client, "stream_broken", on_text=got.append)
    assert err.partial_text and err.partial_text == "".join(got)
    assert len(scripted_model.requests) == 1  # text already shown: not retried silently


async def test_stream_cut_before_any_text_is_retried(scripted_model, model_client):
    scripted_model.set_script(cut(), run_code("print(2)"))
    notices = []
    reply = await model_client.stream(MSGS, tools=TOOLS, on_retry=notices.append)
    assert json.loads(reply.tool_calls[0].arguments) == {"code": "print(2)"}
    assert notices[0].error.kind == "stream_broken"


async def test_missing_finish_reason(scripted_model, model_client):
    scripted_model.set_quirks(finish_reason=False)
    truncated = tool_calls(call("run_code", '{"code": "x = '))
    scripted_model.set_script(text("complete answer"), run_code("x = 1"), *[truncated] * 3)
    assert (await model_client.stream(MSGS)).finish_reason == "stop"
    assert (await model_client.stream(MSGS, tools=TOOLS)).finish_reason == "tool_calls"
    # arguments that stop mid-JSON: broken (retried, as nothing was shown yet, then reported)
    await expect_error(model_client, "stream_broken", tools=TOOLS)


async def test_error_event_inside_stream(scripted_model, model_client):
    scripted_model.set_script(stream_error("upstream model crashed"))
    err = await expect_error(model_client, "server_error")
    assert "upstream model crashed" in err.message


async def test_malformed_tool_call_json_returned_as_is(scripted_model, model_client):
    bad = '{"code": "print(1)'
    scripted_model.set_script(tool_calls(call("run_code", bad)))
    reply = await model_client.stream(MSGS, tools=TOOLS)
    assert reply.tool_calls[0].arguments == bad
    with pytest.raises(ValueError):
        json.loads(reply.tool_calls[0].arguments)


async def test_empty_answer(scripted_model, model_client):
    scripted_model.set_script(empty())
    err = await expect_error(model_client, "empty_answer")
    assert "empty answer" in err.message
    assert len(scripted_model.requests) == 1


async def test_empty_answer_cut_by_max_tokens(scripted_model, model_client):
    scripted_model.set_script(text("", finish_reason="length", reasoning="thinking " * 20))
    err = await expect_error(model_client, "empty_answer")
    assert "max_tokens" in err.message and "reasoning" in err.message


async def test_context_too_long(scripted_model, model_client):
    scripted_model.set_script(error(400, "This model's maximum context length is 8192 tokens.",
                                    code="context_length_exceeded"))
    err = await expect_error(model_client, "bad_request")
    assert "context window" in err.message and "context_token_budget" in err.hint


async def test_key_never_in_error_text(scripted_model, scripted_config):
    # the server echoes the whole key it got (careless servers do); and a 500 quoting it
    scripted_model.set_quirks(api_key="sk-other", echo_key_in_errors=True)
    async with ModelClient(scripted_config) as client:
        err = await expect_error(client, "auth")
        assert "***" in err.message
    scripted_model.reset()
    scripted_model.set_script(*[server_error(500, f"bad header Authorization: Bearer {KEY}")] * 3)
    async with ModelClient(scripted_config) as client:
        notices = []
        err = await expect_error(client, "server_error", on_retry=notices.append)
    for n in notices:
        assert KEY not in n.message


# ---------------------------------------------------------------------------- tool-call quirks


@pytest.mark.parametrize("ids", ["missing", "empty", "repeated"])
async def test_tool_call_ids_missing_or_repeated(scripted_model, model_client, ids):
    scripted_model.set_quirks(tool_call_ids=ids)
    scripted_model.set_script(tool_calls(call("run_code", {"code": "a = 1"}),
                                         call("run_code", {"code": "b = 2"})))
    reply = await model_client.stream(MSGS, tools=TOOLS)
    assert [json.loads(c.arguments)["code"] for c in reply.tool_calls] == ["a = 1", "b = 2"]
    ids_ = [c.id for c in reply.tool_calls]
    assert all(ids_) and len(set(ids_)) == 2


async def test_repeated_ids_across_turns_are_renamed(scripted_model, model_client):
    scripted_model.set_quirks(tool_call_ids="repeated")
    scripted_model.set_script(run_code("a = 1"))
    history = MSGS + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0", "type": "function",
             "function": {"name": "run_code", "arguments": '{"code": "x"}'}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "ok"}]
    reply = await model_client.stream(history, tools=TOOLS)
    assert reply.tool_calls[0].id != "call_0"


@pytest.mark.parametrize("quirks", [{"tool_call_index": False},
                                    {"tool_call_style": "single_chunk"},
                                    {"tool_call_style": "single_chunk", "tool_call_index": False,
                                     "tool_call_ids": "missing"}])
async def test_tool_call_delta_shapes(scripted_model, model_client, quirks):
    scripted_model.set_quirks(**quirks)
    scripted_model.set_script(tool_calls(call("run_code", {"code": "a = 1"}),
                                         call("inspect_variable", {"name": "a"})))
    reply = await model_client.stream(MSGS, tools=TOOLS)
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("run_code", {"code": "a = 1"}), ("inspect_variable", {"name": "a"})]


# ---------------------------------------------------------------------------- protocol


@pytest.mark.parametrize("style", ["ollama", "llamacpp", "vllm"])
async def test_auto_falls_back_to_codeblocks_when_tools_rejected(scripted_model,
                                                                 scripted_config, style):
    scripted_model.set_quirks(reject_tools=style)
    scripted_model.set_script(text("```python\nprint(1)\n```"), text("again"))
    async with ModelClient(scripted_config) as client:
        assert client.protocol == "tools"
        err = await expect_error(client, "tools_unsupported", tools=TOOLS)
        assert "code-block" in err.hint
        assert client.protocol == "codeblocks"
        assert len(scripted_model.requests) == 1  # a rejection of tools is not retried
        reply = await client.stream(MSGS)  # the agent asks again, without tools
        assert "print(1)" in reply.text
    async with ModelClient(scripted_config) as client:  # remembered for the endpoint+model
        assert client.protocol == "codeblocks"
    async with ModelClient(scripted_config, model="scripted-large") as client:
        assert client.protocol == "tools"
    forget_endpoint_cache()
    async with ModelClient(scripted_config) as client:
        assert client.protocol == "tools"


async def test_explicit_protocols(scripted_model, scripted_config):
    scripted_config.protocol = "codeblocks"
    assert ModelClient(scripted_config).protocol == "codeblocks"
    scripted_config.protocol = "tools"
    scripted_model.set_quirks(reject_tools=True)
    async with ModelClient(scripted_config) as client:
        err = await expect_error(client, "tools_unsupported", tools=TOOLS)
        assert client.protocol == "tools" and "protocol" in err.hint


async def test_unrelated_500_with_tools_is_not_tools_unsupported(scripted_model, model_client):
    scripted_model.set_script(server_error(500), run_code("1"))
    reply = await model_client.stream(MSGS, tools=TOOLS)
    assert reply.tool_calls and model_client.protocol == "tools"


# ---------------------------------------------------------------------------- models


async def test_list_models(scripted_model, model_client):
    assert await model_client.list_models() == ["scripted-model", "scripted-large"]


async def test_list_models_errors(scripted_model, scripted_config):
    scripted_model.set_quirks(api_key="sk-different")
    async with ModelClient(scripted_config) as client:
        with pytest.raises(ProviderError) as info:
            await client.list_models()
    assert info.value.kind == "auth"
    assert_no_key(info.value)
    async with ModelClient(scripted_config,
                           base_url=f"http://127.0.0.1:{_dead_port()}/v1") as client:
        with pytest.raises(ProviderError) as info:
            await client.list_models()
    assert info.value.kind == "connection"


# ---------------------------------------------------------------------------- the server itself


def test_scripted_server_sync_use_and_control_endpoints(scripted_model):
    """The server serves sync clients too, and its control routes script it over HTTP."""
    import httpx
    import openai

    with httpx.Client(base_url=scripted_model.url) as http:
        r = http.post("/_control/script", json=[{"text": "from control"}])
        assert r.json()["script_length"] == 1
        sdk = openai.OpenAI(base_url=scripted_model.base_url, api_key="k", max_retries=0)
        resp = sdk.chat.completions.create(model="scripted-model", messages=MSGS)
        assert resp.choices[0].message.content == "from control"
        assert resp.usage.total_tokens > 0
        log = http.get("/_control/requests").json()
        assert log["requests"][0]["messages"] == MSGS
        assert http.post("/_control/script", json={"scenario": "run_code"}).json()["ok"]
        resp = sdk.chat.completions.create(model="scripted-model", messages=MSGS, tools=TOOLS)
        assert resp.choices[0].message.tool_calls[0].function.name == "run_code"
        http.post("/_control/reset")
        assert http.get("/_control/requests").json()["requests"] == []
        r = http.post("/_control/quirks", json={"no_such_quirk": 1})
        assert r.status_code == 400
        sdk.close()


def test_scripted_callable_responder(scripted_model):
    """Rule-based scripts: a callable sees the request and decides the reply."""
    import openai

    def fix_on_keyerror(req: dict) -> dict:
        last = req["messages"][-1]
        if last["role"] == "tool" and "KeyError" in last["content"]:
            return run_code("df['price'].sum()")
        return text("done")

    scripted_model.responder = fix_on_keyerror
    sdk = openai.OpenAI(base_url=scripted_model.base_url, api_key="k", max_retries=0)
    msgs = MSGS + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "run_code", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "KeyError: 'prices'"}]
    r = sdk.chat.completions.create(model="scripted-model", messages=msgs, tools=TOOLS)
    assert "price" in r.choices[0].message.tool_calls[0].function.arguments
    r = sdk.chat.completions.create(model="scripted-model", messages=MSGS)
    assert r.choices[0].message.content == "done"
    sdk.close()


@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
async def test_both_http_backends_stream_and_fail_the_same_way(scripted_model, scripted_config, backend):
    """The openai SDK's two transports: answers and each connection failure end alike."""
    scripted_config.http_backend = backend
    scripted_config.request_timeout = 0.4
    async with ModelClient(scripted_config) as client:
        assert client.http_backend == backend
        scripted_model.set_script(text("forty-two", chunk_size=2), run_code("print(1)"))
        got: list[str] = []
        assert (await client.stream(MSGS, on_text=got.append)).text == "forty-two" == "".join(got)
        reply = await client.stream(MSGS, tools=TOOLS)
        assert reply.tool_calls[0].name == "run_code"

        scripted_model.set_script(hang(10, after_chunks=3))
        err = await expect_error(client, "timeout", on_text=got.append)
        assert "middle of the answer" in err.message

        scripted_model.set_script(cut(in_tool_call=False), cut(in_tool_call=False),
                                  cut(in_tool_call=False))
        err = await expect_error(client, "stream_broken", on_text=got.append)
        assert "broke in the middle" in err.message
    url = f"http://127.0.0.1:{_dead_port()}/v1"
    async with ModelClient(scripted_config, base_url=url) as client:
        err = await expect_error(client, "connection")
    assert f"Nothing is listening at {url}" in err.message
