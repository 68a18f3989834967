"""Kernel faults during a turn: the kernel dies or is restarted under a generated cell, is busy
when context is gathered, runs a generated infinite loop (Stop), asks for input(), prints
50 MB, prints binary. Through the chat socket of a real jupyter server where the server's
own code is involved (probe pool, interrupt, restart), headless where the executor is.

Each case ends with a clear message, the server (or executor) still serving, and nothing
lost: cells, files, the history, and the kernel's state when the kernel survives.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time

import nbformat
import psutil
import pytest

from hardening_support import CollectingSink, errors_of, history_file, kernel_eval, open_tab, server_with
from jupyterlab_codeinterp.agent.loop import Agent, Turn
from jupyterlab_codeinterp.executors import headless
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
from jupyterlab_codeinterp.llm.client import ModelClient
from scripted_model import run_code, text
from server_fixtures import stop_jupyter_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, scripted_server_session):
    srv = server_with(str(tmp_path_factory.mktemp("faults-kernel")), scripted_server_session.base_url)
    yield srv
    stop_jupyter_server(srv)


def answer_with_output(prefix: str):
    def reply(req):
        content = req["messages"][-1]["content"]
        out = content.split("output:\n")[1].split()[0] if "output:\n" in content else "(none)"
        return text(f"{prefix} {out}")
    return reply


def kernel_pid(server, kernel_id: str) -> int:
    for child in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            if any(kernel_id in part for part in child.cmdline()):
                return child.pid
        except psutil.Error:  # exited and not yet reaped
            continue
    raise AssertionError("kernel process not found")


async def _wait_kernel_idle(server, kernel_id: str) -> None:
    """Until the (restarted) kernel answers again."""
    for _ in range(200):
        try:
            if (await kernel_eval(server, kernel_id, "print('up')", timeout=5)).strip() == "up":
                return
        except Exception:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the kernel did not come back")


async def _wait_kernel_state(server, kernel_id: str, state: str, timeout: float = 60) -> None:
    """Until the server reports the kernel in ``state``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await server.fetch(f"api/kernels/{kernel_id}")
        if resp.code == 200 and json.loads(resp.body).get("execution_state") == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the kernel never reported {state!r}")


@pytest.mark.parametrize("how", ["os_exit", "sigkill"])
async def test_kernel_dies_in_a_generated_cell(server, scripted_model, how):
    nb = f"dies-{how}.ipynb"
    kernel_id = await server.start_session(nb)
    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(run_code("kept = 'yes'"), text("stored"))
        end, _ = await tab.turn("dies", nb, "first")
        assert end["status"] == "done"
        if how == "os_exit":
            code = "import os\nprint('about to die', flush=True)\nos._exit(1)"
        else:
            code = "import time\nprint('working', flush=True)\ntime.sleep(60)"
        scripted_model.set_script(run_code(code), text("unused"))
        await tab.prompt("dies", nb, "second")
        if how == "sigkill":
            await tab.serve_until({"step"})  # running
            running = await tab.next()
            assert running["type"] == "executor_request"
            run = asyncio.ensure_future(tab.run_cell(running))
            await asyncio.sleep(1.0)
            os.kill(kernel_pid(server, kernel_id), 9)
            result = await run
            assert result["status"] == "aborted"
            await tab.send({"type": "executor_reply", "request_id": running["request_id"], "ok": True,
                            "result": result})
        end = await tab.serve_until({"turn_end"}, timeout=90)
        assert end["status"] == "gave_up"
        assert "could not run code in the notebook" in end["answer"] and "restarted or died" in end["answer"]
        steps = [m for m in tab.received if m["type"] == "step" and m["chat_id"] == "dies"]
        assert steps[-1]["state"] == "aborted"
        # jupyter_server restarted the kernel; the next turn in the same chat works in it
        await _wait_kernel_idle(server, kernel_id)
        scripted_model.set_script(run_code("print(2 + 3)"), answer_with_output("got"))
        end, msgs = await tab.turn("dies", nb, "third")
        assert end["status"] == "done" and end["answer"] == "got 5"
        note = next(m for m in msgs if m["type"] == "context_note")
        assert not [n for n in note["notes"] if "unavailable" in n], note
    finally:
        tab.close()
    assert len(tab.cells) == 3  # the first cell, the one the kernel died in, the new one
    chat = history_file(server, "dies")
    assert [m["status"] for m in chat["display"] if m["type"] == "turn_end"] == ["done", "gave_up", "done"]
    assert (await server.fetch("codeinterp/config")).code == 200


async def test_kernel_restarted_by_the_user_during_a_turn(server, scripted_model):
    nb = "restart.ipynb"
    kernel_id = await server.start_session(nb)
    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(run_code("import time\nfor i in range(600):\n    time.sleep(0.1)"),
                                  text("unused"))
        await tab.prompt("rs", nb, "long cell")
        msg = await tab.next_run_cell()
        run = asyncio.ensure_future(tab.run_cell(msg))
        await _wait_kernel_state(server, kernel_id, "busy")  # the cell is running (slow machines)
        await asyncio.sleep(0.5)
        resp = await server.fetch(f"api/kernels/{kernel_id}/restart", method="POST", body="")
        assert resp.code == 200
        result = await run
        # ipykernel may end the cell with KeyboardInterrupt before it shuts down; otherwise
        # the cell is aborted with the kernel (both are what the browser reports)
        assert result["status"] in ("aborted", "interrupted"), result
        await tab.send({"type": "executor_reply", "request_id": msg["request_id"], "ok": True, "result": result})
        end = await tab.serve_until({"turn_end"})
        if result["status"] == "aborted":
            assert end["status"] == "gave_up" and "restarted" in end["answer"]
        else:  # the model was told and answered
            assert end["status"] == "done"
            tool = scripted_model.requests[1]["messages"][-1]["content"]
            assert "interrupted" in tool
        # the probe pool follows the restarted kernel: variables are seen again
        await kernel_eval(server, kernel_id, "after_restart = 123")
        scripted_model.set_script(text("ok"))
        end, msgs = await tab.turn("rs", nb, "what is there?")
        assert end["status"] == "done"
        body = json.dumps(scripted_model.requests[-1]["messages"])
        assert "after_restart" in body
    finally:
        tab.close()


async def test_kernel_busy_when_context_is_gathered(server, scripted_model):
    nb = "busy.ipynb"
    kernel_id = await server.start_session(nb)
    await kernel_eval(server, kernel_id, "mine = 1")
    users_cell = asyncio.ensure_future(kernel_eval(server, kernel_id, "import time\ntime.sleep(4)\nprint('user done')"))
    await asyncio.sleep(0.5)
    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(text("answer without variables"))
        end, msgs = await tab.turn("busy", nb, "what variables?")
    finally:
        tab.close()
    assert end["status"] == "done" and end["answer"] == "answer without variables"
    note = next(m for m in msgs if m["type"] == "context_note")
    assert any("busy" in n for n in note["notes"]), note
    assert not users_cell.done()  # the turn did not wait for the user's cell
    assert (await users_cell).strip() == "user done"  # ... and did not disturb it
    assert "mine" not in json.dumps(scripted_model.requests[0]["messages"])


async def test_generated_infinite_loop_is_stopped(server, scripted_model):
    nb = "loop.ipynb"
    kernel_id = await server.start_session(nb)
    await kernel_eval(server, kernel_id, "survivor = 'still here'")
    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(run_code("while True:\n    pass"), text("unused"))
        await tab.prompt("loop", nb, "spin")
        msg = await tab.next_run_cell()
        run = asyncio.ensure_future(tab.run_cell(msg))
        await asyncio.sleep(0.5)
        await tab.send({"type": "stop", "chat_id": "loop"})
        end = await tab.serve_until({"turn_end"})
        assert end["status"] == "stopped"
        # the server interrupted the kernel: the loop ends with KeyboardInterrupt
        result = await asyncio.wait_for(run, 30)
        assert result["status"] == "interrupted"
        assert (await kernel_eval(server, kernel_id, "print(survivor)")).strip() == "still here"
    finally:
        tab.close()
    states = [m["state"] for m in history_file(server, "loop")["display"] if m["type"] == "step"]
    assert states == ["running", "interrupted"]


async def test_input_in_a_generated_cell(server, scripted_model):
    nb = "input.ipynb"
    kernel_id = await server.start_session(nb)
    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(run_code("name = input('name? ')"), text("input() is not available here."))
        end, _ = await tab.turn("inp", nb, "ask me")
    finally:
        tab.close()
    assert end["status"] == "done"
    tool = [m for m in scripted_model.requests[1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert "StdinNotImplementedError" in tool


async def test_oversized_executor_reply_closes_the_socket_and_the_chat_recovers(server, scripted_model):
    """What today's frontend does with a 50 MB print (sends every output): the reply frame is
    above the socket limit, so the socket closes (1009) and the turn stops; the server and the
    chat recover. The frontend must clip outputs (head and tail) before replying."""
    nb = "bigprint.ipynb"
    kernel_id = await server.start_session(nb)
    tab = await open_tab(server, kernel_id)
    scripted_model.set_script(run_code("print('x' * 50_000_000)"), text("unused"))
    await tab.prompt("big", nb, "print a lot")
    msg = await tab.next_run_cell()
    result = await tab.run_cell(msg)
    assert len(result["outputs"][0]["text"]) > 50_000_000
    try:
        await tab.send({"type": "executor_reply", "request_id": msg["request_id"], "ok": True, "result": result})
    except Exception:
        pass  # closed while writing
    while (await asyncio.wait_for(tab.ws.read_message(), 20)) is not None:
        pass
    tab.close()
    del result
    tab2 = await open_tab(server, kernel_id)
    try:
        # a frontend that clips: head and tail of the output
        clipped = "x" * 60_000 + "\n... [49,900,000 characters not sent] ...\n" + "x" * 40_000
        seen: list[str] = []

        def saw(req):
            seen.append("saw %d chars" % len(req["messages"][-1]["content"]))
            return text(seen[0])

        # the count is in no output: the loop asks once for a cell printing it, and the
        # model says the same again
        scripted_model.set_script(run_code("print('y' * 50_000_000)"), saw, saw)
        await tab2.prompt("big", nb, "again, clipped")
        msg = await tab2.next_run_cell(timeout=180)  # after a 50 MB frame: slow on a loaded machine
        await tab2.send({"type": "executor_reply", "request_id": msg["request_id"], "ok": True,
                         "result": {"status": "ok", "cell_id": "c1",
                                    "outputs": [{"output_type": "stream", "name": "stdout", "text": clipped}]}})
        end = await tab2.serve_until({"turn_end"})
    finally:
        tab2.close()
    assert end["status"] == "done"
    assert int(end["answer"].split()[1]) < 4000  # the model got the head and tail only
    chat = history_file(server, "big")
    assert [m["status"] for m in chat["display"] if m["type"] == "turn_end"] == ["stopped", "done"]


# ---------------------------------------------------------------------------- headless


@pytest.fixture
async def workspace(tmp_path):
    (tmp_path / "keep.csv").write_text("a\n1\n")
    executor = HeadlessExecutor(str(tmp_path / "nb.ipynb"))
    await executor.start()
    yield tmp_path, executor
    await executor.close()


async def _turn(executor, tmp_path, scripted_config, *script):
    from scripted_model import ScriptedModelServer  # noqa: F401

    sink = CollectingSink()
    client = ModelClient(scripted_config)
    try:
        result = await Agent(config=scripted_config, model=client, executor=executor, sink=sink,
                             root_dir=str(tmp_path)).run_turn(
            Turn(chat_id="h", turn=1, prompt="x", notebook_path="nb.ipynb"), [])
    finally:
        await client.close()
    return result, sink


@pytest.mark.parametrize("shape", ["one_string", "many_lines"])
async def test_50mb_print_headless_keeps_memory_and_notebook_bounded(workspace, scripted_model, scripted_config, shape):
    tmp_path, executor = workspace
    code = ("print('x' * 50_000_000)" if shape == "one_string"
            else "for i in range(500_000):\n    print('%099d' % i)")  # 50 MB in many messages
    scripted_model.set_script(run_code(code), answer_with_output("printed"))
    rss_before = psutil.Process().memory_info().rss
    result, sink = await _turn(executor, tmp_path, scripted_config)
    rss_growth = psutil.Process().memory_info().rss - rss_before
    assert result.status == "done"
    cell = executor.nb.cells[0]
    kept = sum(len(o.get("text", "")) for o in cell.outputs)
    assert kept <= headless.OUTPUT_HEAD_CHARS + headless.OUTPUT_TAIL_CHARS + 200
    assert "characters of output not kept" in cell.outputs[-1]["text"]
    if shape == "many_lines":
        assert cell.outputs[-1]["text"].rstrip().endswith("%099d" % 499_999)  # the tail is the real end
    assert os.path.getsize(tmp_path / "nb.ipynb") < 2 * (headless.OUTPUT_HEAD_CHARS + headless.OUTPUT_TAIL_CHARS)
    tool = [m for m in scripted_model.requests[1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert len(tool) < 4000 and "characters cut" in tool
    assert len(sink.steps("ok")[0].summary) < 4000
    print(f"\n[50 MB print, {shape}] RSS growth {rss_growth / 2**20:.0f} MiB, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    # the kernel is still usable
    scripted_model.set_script(run_code("print(1 + 1)"), answer_with_output("then"))
    result, _ = await _turn(executor, tmp_path, scripted_config)
    assert result.answer == "then 2"


async def test_binary_output_headless(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    code = ("import os, sys\nfrom IPython.display import display\n"
            "os.write(1, bytes(range(256)))\n"
            "print('\\x00\\x1b[31mred\\x1b[0m\\udcff'.encode('utf-8', 'surrogateescape').decode('latin-1'))\n"
            "display({'application/octet-stream': bytes(range(256))}, raw=True)\n"
            "bytes(range(16))")
    scripted_model.set_script(run_code(code), text("binary shown"))
    result, sink = await _turn(executor, tmp_path, scripted_config)
    assert result.status == "done" and result.answer == "binary shown"
    step = sink.steps("ok")[0]
    assert "status: ok" in step.summary and "\x1b[" not in step.summary
    json.dumps([m.model_dump() for m in sink.messages])  # every message is serialisable
    nbformat.validate(nbformat.read(str(tmp_path / "nb.ipynb"), as_version=4))
    assert (tmp_path / "keep.csv").read_text() == "a\n1\n"


async def test_kernel_dies_headless(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    scripted_model.set_script(run_code("kept = 1"), run_code("import os\nos._exit(1)"), text("unused"))
    result, sink = await _turn(executor, tmp_path, scripted_config)
    assert result.status == "gave_up" and "kernel died" in result.answer
    written = nbformat.read(str(tmp_path / "nb.ipynb"), as_version=4)
    assert [c.source for c in written.cells] == ["kept = 1", "import os\nos._exit(1)"]
    assert (tmp_path / "keep.csv").exists()
