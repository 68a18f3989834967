"""The agent loop end to end: real openai SDK -> scripted model server, real ipykernel, real notebook."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from jupyterlab_codeinterp.agent.loop import Agent, Turn
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
from jupyterlab_codeinterp.llm.client import ModelClient
from jupyterlab_codeinterp.protocol import ApprovalReplyMsg, StepMsg, TextDeltaMsg
from scripted_model import run_code, text

GDP_CSV = """region,country,year,gdp
North,A,2020,100.0
North,A,2021,110.0
North,B,2020,200.0
North,B,2021,190.0
South,C,2020,50.0
South,C,2021,60.0
South,D,2020,80.0
South,D,2021,
"""

LOAD_WRONG = 'import pandas as pd\ndf = pd.read_csv("gdp.csv")\ndf = df.dropna(subset=["GDP"])\ndf.shape'
LOAD_FIXED = 'import pandas as pd\ndf = pd.read_csv("gdp.csv")\ndf = df.dropna(subset=["gdp"])\ndf.shape'
GROWTH = (
    'totals = df.pivot_table(index="region", columns="year", values="gdp", aggfunc="sum")\n'
    'growth = (totals[2021] / totals[2020] - 1) * 100\n'
    'print(growth.round(1).to_string())'
)


def last_tool_result(req: dict) -> str | None:
    msgs = req.get("messages") or []
    if msgs and msgs[-1].get("role") == "tool":
        return msgs[-1]["content"]
    if msgs and msgs[-1].get("role") == "user" and "execution-result" in str(msgs[-1].get("content")):
        return str(msgs[-1]["content"])
    return None


def csv_task_responder(req: dict):
    """A model that loads the CSV with a wrong column, repairs it, computes growth, answers."""
    result = last_tool_result(req)
    calls = sum(1 for m in req["messages"] if m.get("role") == "tool")
    if result is None:
        return run_code(LOAD_WRONG, text="Loading the data.")
    if "KeyError" in result:
        return run_code(LOAD_FIXED, text="The column is lowercase `gdp`.")
    if calls == 2:
        return run_code(GROWTH)
    # the answer quotes what the kernel printed
    output = result.split("output:\n", 1)[1] if "output:\n" in result else result
    return text(f"GDP growth 2020→2021 by region (%):\n\n```\n{output.strip()}\n```")


class CollectingSink:
    def __init__(self, decision: str = "run") -> None:
        self.messages: list = []
        self.approvals: list = []
        self.decision = decision

    async def send(self, msg) -> None:
        self.messages.append(msg)

    async def ask_approval(self, request):
        self.approvals.append(request)
        return ApprovalReplyMsg(step_id=request.step_id, decision=self.decision)

    def steps(self, state: str | None = None) -> list[StepMsg]:
        return [m for m in self.messages if isinstance(m, StepMsg) and (state is None or m.state == state)]


async def run_agent_turn(config, executor, tmp_path, chat_id: str, prompt: str, *,
                         sink: "CollectingSink | None" = None, **turn_options):
    """One turn through the real agent, model client and kernel: (result, sink)."""
    sink = sink or CollectingSink()
    client = ModelClient(config)
    agent = Agent(config=config, model=client, executor=executor, sink=sink, root_dir=str(tmp_path))
    try:
        result = await agent.run_turn(Turn(chat_id=chat_id, turn=1, prompt=prompt, notebook_path="analysis.ipynb",
                                           **turn_options), [])
    finally:
        await client.close()
    return result, sink


@pytest.fixture
async def workspace(tmp_path):
    (tmp_path / "gdp.csv").write_text(GDP_CSV)
    executor = HeadlessExecutor(str(tmp_path / "analysis.ipynb"))
    await executor.start()
    yield tmp_path, executor
    await executor.close()


async def test_repair_end_to_end(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    scripted_model.set_script(csv_task_responder, csv_task_responder, csv_task_responder, csv_task_responder)
    sink = CollectingSink()
    client = ModelClient(scripted_config)
    agent = Agent(config=scripted_config, model=client, executor=executor, sink=sink, root_dir=str(tmp_path))
    result = await agent.run_turn(
        Turn(chat_id="c1", turn=1, prompt="clean gdp.csv and compute growth by region",
             notebook_path="analysis.ipynb"), [])
    await client.close()

    assert result.status == "done", result.answer
    # the answer carries the values the kernel computed: North 300->300 = 0.0, South 130->60 = -53.8
    assert re.search(r"North\s+0\.0", result.answer) and re.search(r"South\s+-53\.8", result.answer)

    # the traceback reached the model, compactly
    bodies = scripted_model.requests
    tool_msgs = [m for m in bodies[1]["messages"] if m["role"] == "tool"]
    assert "KeyError" in tool_msgs[-1]["content"] and "GDP" in tool_msgs[-1]["content"]
    assert len(tool_msgs[-1]["content"].encode()) < 1024

    # the repair replaced the failed cell in place: two generated cells, no broken one
    cells = executor.nb.cells
    assert [c.source for c in cells] == [LOAD_FIXED, GROWTH]
    for c in cells:
        assert c.metadata["codeinterp"]["generated"] is True
        assert c.metadata["codeinterp"]["chat_id"] == "c1"
        assert c.metadata["codeinterp"]["turn"] == 1
        assert not [o for o in c.outputs if o["output_type"] == "error"]
    errors = sink.steps("error")
    assert len(errors) == 1 and errors[0].attempt == 1
    oks = sink.steps("ok")
    assert oks[0].attempt == 2 and oks[0].max_attempts == 4 and oks[0].step_id == errors[0].step_id
    assert oks[0].cell_id == errors[0].cell_id
    # the model text was streamed
    assert any(isinstance(m, TextDeltaMsg) for m in sink.messages)
    assert result.usage.total_tokens > 0


async def test_repeated_error_stops_early_with_an_account(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    bad = 'import pandas as pd\npd.read_csv("gdp.csv")["GDP"]'
    scripted_model.set_script(run_code(bad), run_code(bad + "  # again"), run_code(bad + "  # third"),
                              text("unused"))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c2", "x")
    assert result.status == "gave_up"
    assert "same error" in result.answer and "KeyError" in result.answer
    # one more attempt after the repeated error (told to take another approach), then the account
    assert len(scripted_model.requests) == 3
    assert len(executor.nb.cells) == 1


async def test_repair_budget_is_bounded(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    scripted_config.max_repairs = 2
    scripted_model.set_script(*[run_code(f"raise ValueError('problem {c}')") for c in "abcdef"])
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c3", "x")
    assert result.status == "gave_up"
    assert "repair limit" in result.answer
    assert [s.attempt for s in sink.steps("error")] == [1, 2, 3]
    assert len(executor.nb.cells) == 1


async def test_codeblock_protocol_with_unclosed_fence(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    scripted_config.protocol = "codeblocks"
    scripted_model.set_script(
        text("Sure! Let me look.\n\n```python\nimport pandas as pd\ndf = pd.read_csv('gdp.csv')\n"
             "print(df['gdp'].sum())\n"),  # the fence is never closed
        lambda req: text(f"The total GDP is {req['messages'][-1]['content'].split('output:')[1].split()[0]}."),
    )
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c4", "total gdp?")
    assert result.status == "done"
    assert result.answer == "The total GDP is 790.0."
    assert "tools" not in scripted_model.requests[0]
    assert executor.nb.cells[0].source.startswith("import pandas as pd")


async def test_input_does_not_hang(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    scripted_model.set_script(run_code("name = input('name? ')"), text("input() is not available."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c5", "x")
    assert result.status == "done"
    tool = [m for m in scripted_model.requests[1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert "StdinNotImplementedError" in tool


async def test_destructive_code_waits_and_skip_keeps_files(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    scripted_model.set_script(run_code("import shutil, os\nos.remove('gdp.csv')"), text("I did not delete it."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c6", "x",
                                        sink=CollectingSink(decision="skip"))
    assert result.status == "done"
    assert sink.approvals and "deletes files" in sink.approvals[0].reason
    assert (tmp_path / "gdp.csv").exists()
    assert executor.nb.cells == []


def test_cli_run_multistep_with_repair_and_rerun(tmp_path, scripted_model):
    (tmp_path / "gdp.csv").write_text(GDP_CSV)
    nb_path = tmp_path / "report.ipynb"
    # the notebook's own first cell is restored before the agent runs
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("THRESHOLD = 0"))
    nbformat.write(nb, nb_path)
    scripted_model.set_script(*[csv_task_responder] * 4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterlab_codeinterp.cli", "run", str(nb_path), "-m",
         "clean gdp.csv and compute growth by region", "--base-url", scripted_model.base_url,
         "--api-key", "sk-test", "--model", "scripted-model", "--timeout", "120"],
        capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "-53.8" in proc.stdout
    assert "restored: ran 1 existing cell" in proc.stderr
    assert "attempt 2 of 4" in proc.stderr
    written = nbformat.read(nb_path, as_version=4)
    assert [c.source for c in written.cells] == ["THRESHOLD = 0", LOAD_FIXED, GROWTH]
    # the written notebook re-runs cleanly top to bottom in a fresh kernel
    fresh = nbformat.read(nb_path, as_version=4)
    NotebookClient(fresh, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert not [o for c in fresh.cells for o in c.get("outputs", []) if o["output_type"] == "error"]


def test_cli_kernel_start_is_quiet_but_real_errors_show(tmp_path, scripted_model):
    """No "running over TCP without encryption" warning (the kernel talks over Unix sockets),
    while a failing cell and whatever the kernel process itself writes to stderr still show."""
    nb_path = tmp_path / "quiet.ipynb"
    scripted_model.set_script(
        run_code("import os\nos.write(2, b'kernel process stderr still shows\\n')\nprint(undefined_name)"),
        run_code("print('fixed')"), text("done"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterlab_codeinterp.cli", "run", str(nb_path), "-m", "go",
         "--base-url", scripted_model.base_url, "--api-key", "sk-test", "--model", "scripted-model",
         "--timeout", "120"],
        capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "without encryption" not in proc.stderr and "WARNING" not in proc.stderr, proc.stderr
    assert "error: NameError: name 'undefined_name' is not defined" in proc.stderr, proc.stderr
    assert "kernel process stderr still shows" in proc.stderr
    assert "attempt 2 of 4" in proc.stderr


@pytest.mark.skipif(os.name == "nt", reason="no Unix sockets")
async def test_headless_kernel_uses_private_unix_sockets(tmp_path):
    executor = HeadlessExecutor(str(tmp_path / "ipc.ipynb"))
    await executor.start()
    try:
        folder = executor._ipc_dir
        assert executor.km.transport == "ipc" and folder is not None
        assert os.stat(folder).st_mode & 0o777 == 0o700
        assert (await executor.run_cell("x = 6 * 7", metadata={})).status == "ok"
    finally:
        await executor.close()
    assert not os.path.exists(folder)  # removed with the kernel


def test_cli_reports_model_errors_and_keeps_notebook(tmp_path, scripted_model):
    from scripted_model import error

    nb_path = tmp_path / "n.ipynb"
    scripted_model.set_script(error(401, "Incorrect API key provided"))
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterlab_codeinterp.cli", "run", str(nb_path), "-m", "hi",
         "--base-url", scripted_model.base_url, "--api-key", "sk-wrong-KEY123", "--model", "scripted-model"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 3
    assert "API key" in proc.stderr and "sk-wrong-KEY123" not in proc.stderr + proc.stdout
    assert json.loads(nb_path.read_text())["cells"] == []


async def test_stop_interrupts_a_running_generated_cell(workspace, scripted_model, scripted_config):
    import asyncio

    tmp_path, executor = workspace
    scripted_model.set_script(run_code("import time\nfor i in range(600):\n    time.sleep(0.1)"), text("done"))
    sink = CollectingSink()
    client = ModelClient(scripted_config)
    agent = Agent(config=scripted_config, model=client, executor=executor, sink=sink, root_dir=str(tmp_path))
    task = asyncio.create_task(agent.run_turn(Turn(chat_id="c7", turn=1, prompt="x", notebook_path="analysis.ipynb"), []))
    for _ in range(200):
        if sink.steps("running"):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert agent.partial is not None and agent.partial.status == "stopped"
    assert sink.steps("interrupted")
    # the kernel was interrupted, not left running: it answers right away and keeps its state
    kc = await executor.kernel_client()
    from jupyterlab_codeinterp.context.kernel_probe import eval_expression as eval_silently

    assert await eval_silently(kc, "1 + 1", timeout=10) == "2"
    # the partial history is valid for the next turn: every tool call has its answer
    calls = [c["id"] for m in agent.partial.messages for c in m.get("tool_calls") or []]
    answered = [m["tool_call_id"] for m in agent.partial.messages if m.get("role") == "tool"]
    assert calls == answered
    await client.close()


async def test_provider_error_mid_turn_keeps_cells_and_kernel_state(workspace, scripted_model, scripted_config):
    from scripted_model import server_error

    tmp_path, executor = workspace
    scripted_model.set_script(run_code("answer = 42\nprint(answer)"), *[server_error(500)] * 5)
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c8", "x")
    assert result.status == "failed" and result.error is not None and result.error.kind == "server_error"
    errors = [m for m in sink.messages if type(m).__name__ == "ErrorMsg"]
    assert errors and errors[0].retryable
    assert executor.nb.cells[0].source.startswith("answer = 42")
    from jupyterlab_codeinterp.context.kernel_probe import eval_expression as eval_silently

    assert await eval_silently(await executor.kernel_client(), "answer", timeout=10) == "42"


async def test_read_only_tools(workspace, scripted_model, scripted_config):
    from scripted_model import call, tool_calls

    tmp_path, executor = workspace
    await executor.run_cell("import pandas as pd\ndf = pd.read_csv('gdp.csv')", metadata={})
    names_before = await eval_silently_names(executor)
    scripted_model.set_script(
        tool_calls(call("inspect_variable", {"name": "df"}), call("read_file", {"path": "gdp.csv", "lines": 2}),
                   call("read_file", {"path": "../../../etc/passwd"}), call("inspect_variable", {"name": "nope"})),
        text("ok"),
    )
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c9", "x")
    assert result.status == "done"
    tools = [m["content"] for m in scripted_model.requests[1]["messages"] if m["role"] == "tool"]
    assert "DataFrame shape=(8, 4)" in tools[0] and "gdp" in tools[0] and "missing values" in tools[0]
    assert "region,country,year,gdp" in tools[1] and "North,A,2020" in tools[1] and "North,A,2021" not in tools[1]
    assert "outside the workspace" in tools[2]
    assert "no variable named 'nope'" in tools[3]
    for t in tools:
        assert t.startswith("<workspace-data")
    assert await eval_silently_names(executor) == names_before
    assert len(executor.nb.cells) == 1  # read-only looks add no cells


async def eval_silently_names(executor) -> str:
    from jupyterlab_codeinterp.context.kernel_probe import eval_expression

    return await eval_expression(await executor.kernel_client(),
                                 "sorted(k for k in get_ipython().user_ns if not k.startswith('_'))", timeout=10)


async def test_code_streams_as_a_preview_and_per_turn_settings_apply(workspace, scripted_model, scripted_config):
    from jupyterlab_codeinterp.protocol import CodeDeltaMsg

    tmp_path, executor = workspace
    code = 'import pandas as pd\nprint("a\\tb")\nraise ValueError("x")'
    scripted_model.set_script(run_code(code), run_code(code.replace("x", "y")), text("unused"))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c10", "x", max_repairs=1)
    previews = [m.text for m in sink.messages if isinstance(m, CodeDeltaMsg)]
    assert "".join(previews).startswith(code) and len(previews) > 1
    assert result.status == "gave_up" and "at most 1 repairs" in result.answer
    assert [s.max_attempts for s in sink.steps("error")] == [2, 2]


async def test_a_model_repeating_a_successful_cell_is_stopped(workspace, scripted_model, scripted_config):
    """Seen with small local models: the same working call again and again instead of an answer."""
    tmp_path, executor = workspace
    code = "counter = globals().get('counter', 0) + 1\nprint('total', 790.0)"
    scripted_model.set_script(*[run_code(code)] * 5)
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c11", "x")
    assert result.status == "done" and "790.0" in result.answer
    assert len(executor.nb.cells) == 1 and len(scripted_model.requests) == 3
    tool = [m for m in scripted_model.requests[2]["messages"] if m["role"] == "tool"][-1]["content"]
    assert "already ran successfully" in tool


async def test_a_python_block_right_after_a_failure_is_the_repair(workspace, scripted_model, scripted_config):
    """Seen with Qwen2.5-Coder offered tools: the repair came back as a ```python block."""
    tmp_path, executor = workspace
    scripted_model.set_script(
        run_code(LOAD_WRONG),
        text("The column is lowercase.\n\n```python\n" + LOAD_FIXED + "\n```\n"),
        lambda req: text("Loaded: " + req["messages"][-1]["content"].split("output:\n")[1].split("\n")[0]),
    )
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "c12", "x")
    assert result.status == "done" and result.answer == "Loaded: (7, 4)"
    assert [c.source for c in executor.nb.cells] == [LOAD_FIXED]
    assert [s.attempt for s in sink.steps("ok")] == [2]
