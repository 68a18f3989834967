"""The prompt's start stays byte-identical from request to request, within a turn and
across turns, so a local server (llama.cpp) reuses the prompt it already read."""

from __future__ import annotations

import json
import os
import time

import pytest

from scripted_model import run_code, text

from jupyterlab_codeinterp.agent.loop import Agent, Turn
from jupyterlab_codeinterp.agent.prompts import UNCHANGED_CONTEXT, code_first_note
from jupyterlab_codeinterp.agent.window import stable_window
from jupyterlab_codeinterp.context.files import list_files, render_files
from jupyterlab_codeinterp.context.gather import gather_context
from jupyterlab_codeinterp.context.notebook import render_cells, render_errors
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
from jupyterlab_codeinterp.llm.client import ModelClient
from jupyterlab_codeinterp.protocol import ApprovalReplyMsg

CSV = "region,units\nNorth,10\nSouth,4\nNorth,6\n"


class Sink:
    async def send(self, msg) -> None:
        pass

    async def ask_approval(self, request):
        return ApprovalReplyMsg(step_id=request.step_id, decision="run")


@pytest.fixture
async def workspace(tmp_path):
    (tmp_path / "sales.csv").write_text(CSV)
    ex = HeadlessExecutor(str(tmp_path / "p.ipynb"))
    await ex.start()
    yield tmp_path, ex
    await ex.close()


async def turn(cfg, executor, number: int, prompt: str, history: list):
    client = ModelClient(cfg)
    try:
        agent = Agent(config=cfg, model=client, executor=executor, sink=Sink(),
                      root_dir=executor.root_dir)
        return await agent.run_turn(Turn(chat_id="p", turn=number, prompt=prompt,
                                         notebook_path="p.ipynb"), history)
    finally:
        await client.close()


def wire(body: dict) -> list[str]:
    """The messages of a request body as the bytes sent, one string per message."""
    return [json.dumps(m, ensure_ascii=False) for m in body["messages"]]


def assert_starts_with(later: dict, earlier: dict) -> None:
    a, b = wire(earlier), wire(later)
    assert b[:len(a)] == a


async def test_prefix_is_stable_within_a_turn_and_across_turns(workspace, scripted_model,
                                                               scripted_config):
    tmp_path, executor = workspace
    scripted_model.set_script(
        run_code("import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(len(df))"),
        run_code("print(df.groupby('region')['units'].sum().to_string())"),
        text("North sold the most (16 units)."),
    )
    one = await turn(scripted_config, executor, 1, "Which region sold the most?", [])
    assert one.status == "done", one.answer
    r1, r2, r3 = scripted_model.requests
    assert_starts_with(r2, r1)
    assert_starts_with(r3, r2)
    assert len(wire(r3)) > len(wire(r2)) > len(wire(r1))

    # the next turn's first request starts with everything the last one of this turn sent
    scripted_model.set_script(text("South sold 4 units."))
    two = await turn(scripted_config, executor, 2, "And South?", one.messages)
    assert two.status == "done", two.answer
    assert_starts_with(scripted_model.requests[3], r3)


async def test_an_unchanged_workspace_is_not_sent_twice(workspace, scripted_model,
                                                        scripted_config):
    tmp_path, executor = workspace
    # each turn's first request is compared (a data question answered with no cell run may
    # be asked again by the grounding rule: those requests come after it)
    starts = []
    scripted_model.set_script(text("It has 3 rows."))
    starts.append(len(scripted_model.requests))
    one = await turn(scripted_config, executor, 1, "How many rows?", [])
    scripted_model.set_script(text("Two columns."))
    starts.append(len(scripted_model.requests))
    two = await turn(scripted_config, executor, 2, "How many columns?", one.messages)
    scripted_model.set_script(text("Yes."))
    starts.append(len(scripted_model.requests))
    await turn(scripted_config, executor, 3, "Is it small?", one.messages + two.messages)
    first, second, third = (scripted_model.requests[i] for i in starts)
    assert_starts_with(second, first)
    assert_starts_with(third, second)
    sent = [body["messages"][-1]["content"] for body in (first, second)]
    assert "<workspace_context>" in sent[0] and "sales.csv" in sent[0]
    # a question about the data is followed by the request to compute it first
    assert sent[1] == (UNCHANGED_CONTEXT + "\n\nUser request:\nHow many columns?\n\n"
                       + code_first_note(codeblocks=False))
    # after a note, the context is sent in full again (the note is no reference)
    assert "<workspace_context>" in third["messages"][-1]["content"]


async def test_context_text_has_nothing_volatile(tmp_path):
    (tmp_path / "sales.csv").write_text(CSV)
    cells = [{"cell_type": "code", "id": "a", "source": "x = 1", "execution_count": 7,
              "metadata": {}, "outputs": []},
             {"cell_type": "code", "id": "b", "source": "y", "execution_count": None,
              "metadata": {}, "outputs": []}]

    async def gather():
        return (await gather_context(root_dir=str(tmp_path), notebook_path="n.ipynb",
                                     kernel_client=None, cells=cells, token_budget=4000,
                                     probe_timeout=1, probe_max_bytes=10000)).text

    before = await gather()
    old = time.time() - 3 * 86400
    os.utime(tmp_path / "sales.csv", (old, old))  # an age changes, nothing else
    cells[0]["execution_count"] = 9  # the user ran the cell again
    assert await gather() == before
    files = render_files(list_files(str(tmp_path), ""))
    assert "ago" not in files and "just now" not in files
    shown = render_cells([{"index": 1, "type": "code", "source": "x", "execution_count": 3},
                          {"index": 2, "type": "code", "source": "y", "execution_count": None}])
    assert "In[" not in shown and "[cell 2, not run]" in shown
    assert "In[" not in render_errors([{"cell": 1, "execution_count": 3, "ename": "E",
                                        "evalue": "v", "traceback": "tb"}])


def history_of(turn_sizes: list[int]) -> list[dict]:
    history = []
    for n, size in enumerate(turn_sizes):
        history.append({"role": "user", "content": f"turn {n} " + "word " * size,
                        "turn_start": True})
        history.append({"role": "assistant", "content": "ok"})
    return history


def test_the_history_window_moves_rarely():
    history = history_of([300] * 12)
    cuts = []
    for turns in range(1, 13):
        kept = stable_window(history[:2 * turns], 1000)
        cuts.append(history.index(kept[0]) // 2)
    # the first kept turn changes only when the window is full, then jumps to half of it
    assert cuts == sorted(cuts)
    moves = sum(1 for a, b in zip(cuts, cuts[1:]) if a != b)
    assert 1 <= moves <= 5
    assert all(sum(len(m["content"].split()) for m in stable_window(history[:2 * t], 1000))
               <= 1000 for t in range(1, 13))
    # one huge turn is still kept, alone
    big = history_of([100, 5000])
    assert stable_window(big, 1000) == big[2:]
    assert stable_window(history_of([10, 10]), 1000) == history_of([10, 10])
