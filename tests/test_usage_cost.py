"""Usage and cost: tokens per turn and per chat, cost from c.CodeInterp.prices over the
built-in table, estimated usage for endpoints that stream none."""

from __future__ import annotations

import json

import pytest

from scripted_model import run_code, text
from server_fixtures import BrowserStandIn, jupyter_server  # noqa: F401  (module fixture)

from jupyterlab_codeinterp.agent.loop import Agent, Turn, price_of
from jupyterlab_codeinterp.config import CodeInterp
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
from jupyterlab_codeinterp.llm.client import ModelClient
from jupyterlab_codeinterp.llm.prices import DEFAULT_PRICES, PRICES_AS_OF, cost_of, price_for
from jupyterlab_codeinterp.llm.types import TokenUsage
from jupyterlab_codeinterp.protocol import ApprovalReplyMsg


def test_builtin_prices_and_name_matching():
    assert PRICES_AS_OF and "gpt-4.1-mini" in DEFAULT_PRICES
    assert price_for("gpt-4.1-mini") == {"input": 0.4, "output": 1.6}
    assert price_for("openai/gpt-4.1-mini") == {"input": 0.4, "output": 1.6}   # OpenRouter
    assert price_for("gpt-4o-2024-08-06") == DEFAULT_PRICES["gpt-4o"]           # dated snapshot
    assert price_for("qwen2.5-coder:1.5b") is None                              # local: unknown
    assert price_for("gpt-4.1-mini", builtin=False) is None


def test_config_prices_override_and_extend():
    table = {"gpt-4.1-mini": {"input": 1, "output": 2}, "my-deploy": {"input": 3}}
    assert price_for("gpt-4.1-mini", table) == {"input": 1.0, "output": 2.0}
    assert price_for("my-deploy", table) == {"input": 3.0, "output": 0.0}
    assert price_for("bad", {"bad": {"input": "x"}}) is None
    usage = TokenUsage(prompt_tokens=2_000_000, completion_tokens=500_000)
    assert cost_of("gpt-4.1-mini", usage) == pytest.approx(0.8 + 0.8)
    assert cost_of("gpt-4.1-mini", usage, table) == pytest.approx(2.0 + 1.0)
    assert cost_of("llama3", usage) is None
    cfg = CodeInterp(prices={"llama3": {"input": 0, "output": 0}})
    assert price_of(cfg, "llama3", usage) == 0.0      # a local model priced at zero by the user
    cfg.builtin_prices = False
    assert price_of(cfg, "gpt-4.1-mini", usage) is None


class Sink:
    def __init__(self) -> None:
        self.messages: list = []

    async def send(self, msg) -> None:
        self.messages.append(msg)

    async def ask_approval(self, request):
        return ApprovalReplyMsg(step_id=request.step_id, decision="run")


class RecordingClient(ModelClient):
    """The real client, keeping each reply so tests can look at its usage."""

    replies: list

    async def stream(self, *a, **kw):
        reply = await super().stream(*a, **kw)
        self.__dict__.setdefault("replies", []).append(reply)
        return reply


async def _turn(cfg, tmp_path, model=None):
    executor = HeadlessExecutor(str(tmp_path / "u.ipynb"))
    await executor.start()
    client = RecordingClient(cfg, model=model)
    try:
        agent = Agent(config=cfg, model=client, executor=executor, sink=Sink(), root_dir=str(tmp_path))
        result = await agent.run_turn(Turn(chat_id="u", turn=1, prompt="x", notebook_path="u.ipynb"), [])
    finally:
        await client.close()
        await executor.close()
    return result, client


async def test_turn_usage_and_cost_from_streamed_usage(tmp_path, scripted_model, scripted_config):
    scripted_model.set_quirks(models=["gpt-4.1-mini"])
    scripted_model.set_script(
        run_code("print(6 * 7)", ) | {"usage": {"prompt_tokens": 1000, "completion_tokens": 200}},
        text("42", usage={"prompt_tokens": 1500, "completion_tokens": 300}))
    result, client = await _turn(scripted_config, tmp_path, model="gpt-4.1-mini")
    assert result.status == "done"
    u = result.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (2500, 500, 3000)
    assert u.cost == pytest.approx(2500 * 0.4 / 1e6 + 500 * 1.6 / 1e6)
    assert not any(r.usage.estimated for r in client.replies)


async def test_usage_estimated_when_the_endpoint_streams_none(tmp_path, scripted_model,
                                                              scripted_config):
    scripted_model.set_quirks(stream_usage=False)
    scripted_config.prices = {"scripted-model": {"input": 10, "output": 20}}
    scripted_model.set_script(run_code("print(6 * 7)"), text("The answer is 42."))
    result, client = await _turn(scripted_config, tmp_path)
    assert result.status == "done"
    assert len(client.replies) == 2 and all(r.usage.estimated for r in client.replies)
    assert result.usage.prompt_tokens == sum(r.usage.prompt_tokens for r in client.replies) > 100
    assert result.usage.completion_tokens > 5
    assert result.usage.cost == pytest.approx(result.usage.prompt_tokens * 10 / 1e6
                                              + result.usage.completion_tokens * 20 / 1e6)


async def test_chat_usage_adds_up_over_turns_on_the_socket(jupyter_server, scripted_model):  # noqa: F811
    from test_server import _connect

    scripted_model.set_quirks(models=["scripted-model", "gpt-4.1-mini"])
    scripted_model.set_script(text("one", usage={"prompt_tokens": 100, "completion_tokens": 10}),
                              text("two", usage={"prompt_tokens": 300, "completion_tokens": 30}))
    kernel_id = await jupyter_server.start_session("usage.ipynb")
    browser = BrowserStandIn(jupyter_server, await _connect(jupyter_server), kernel_id)
    ends = []
    try:
        for i in (1, 2):
            await browser.send({"type": "prompt", "id": f"p{i}", "chat_id": "usagechat",
                                "notebook_path": "usage.ipynb", "text": f"turn {i}",
                                "model": "gpt-4.1-mini"})
            ends.append(await browser.serve_until({"turn_end"}))
    finally:
        browser.close()
    first, second = ends
    assert first["usage"]["total_tokens"] == 110 and second["usage"]["total_tokens"] == 330
    assert second["chat_usage"]["prompt_tokens"] == 400
    assert second["chat_usage"]["completion_tokens"] == 40
    assert second["chat_usage"]["cost"] == pytest.approx(400 * 0.4 / 1e6 + 40 * 1.6 / 1e6)
    assert json.dumps(second).count("sk-test") == 0
