"""The first prompt of a notebook and the probe clients' lifetime.

A prompt sent while the notebook's kernel is still starting goes to the model without
waiting for the kernel, and the context says the kernel is starting. The kernel here is
gated: its process waits for a file before it starts ipykernel, so "still starting" lasts
exactly as long as the test wants, not some number of milliseconds.

Probe clients hold a ZMQ context (a thread) and sockets: the client of a kernel that is
shut down or restarted is closed at once, not when someone next asks for that kernel.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import pytest
from jupyter_client.manager import AsyncKernelManager

from hardening_support import open_tab
from jupyterlab_codeinterp.context.gather import gather_context
from jupyterlab_codeinterp.context.kernel_probe import STARTING_NOTE, kernel_starting
from jupyterlab_codeinterp.context.probe_clients import KernelClientPool, new_probe_client
from scripted_model import text
from server_fixtures import JupyterServer, start_jupyter_server, stop_jupyter_server

# waits for the file named by CODEINTERP_TEST_GATE, then is an ordinary ipykernel
GATED_KERNEL = (
    "import os, sys, time\n"
    "gate = os.environ['CODEINTERP_TEST_GATE']\n"
    "while not os.path.exists(gate):\n"
    "    time.sleep(0.05)\n"
    "sys.argv = [sys.argv[0], '-f', sys.argv[1]]\n"
    "from ipykernel import kernelapp\n"
    "kernelapp.launch_new_instance()\n"
)


def write_gated_kernelspec(jupyter_path: str, gate: str) -> None:
    folder = os.path.join(jupyter_path, "kernels", "gated")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "kernel.json"), "w", encoding="utf-8") as fh:
        json.dump({"argv": [sys.executable, "-c", GATED_KERNEL, "{connection_file}"],
                   "display_name": "Python (gated)", "language": "python",
                   "env": {"CODEINTERP_TEST_GATE": gate}}, fh)


@pytest.fixture(scope="module")
def gated(tmp_path_factory, scripted_server_session):
    tmp = str(tmp_path_factory.mktemp("first-prompt"))
    jupyter_path = os.path.join(tmp, "share")
    gate = os.path.join(tmp, "gate")
    write_gated_kernelspec(jupyter_path, gate)
    server = start_jupyter_server(tmp, model_url=scripted_server_session.base_url,
                                  env={"JUPYTER_PATH": jupyter_path, "CODEINTERP_DEBUG_RESOURCES": "1"})
    yield server, gate
    stop_jupyter_server(server)


def write_notebook(server: JupyterServer, name: str) -> None:
    with open(os.path.join(server.root, name), "w", encoding="utf-8") as fh:
        json.dump({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, fh)


async def start_session(server: JupyterServer, path: str, kernel: str) -> tuple[str, str]:
    body = json.dumps({"path": path, "type": "notebook", "name": path, "kernel": {"name": kernel}})
    resp = await server.fetch("api/sessions", method="POST", body=body)
    assert resp.code == 201, resp.body
    data = json.loads(resp.body)
    return data["id"], data["kernel"]["id"]


async def execution_state(server: JupyterServer, kernel_id: str) -> str:
    resp = await server.fetch(f"api/kernels/{kernel_id}")
    return json.loads(resp.body).get("execution_state") if resp.code == 200 else "gone"


async def resources(server: JupyterServer) -> dict:
    resp = await server.fetch("codeinterp/debug/resources")
    assert resp.code == 200, resp.body
    return json.loads(resp.body)


async def until(check, what: str, tries: int = 300) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def context_of(request: dict) -> str:
    """The newest workspace context in a request (earlier turns keep theirs)."""
    text = "\n".join(str(m.get("content")) for m in request["messages"] if m["role"] == "user")
    return text[text.rindex("<workspace_context>"):]


async def test_prompt_while_the_kernel_starts_goes_to_the_model_and_says_so(gated, scripted_model):
    server, gate = gated
    if os.path.exists(gate):
        os.unlink(gate)
    write_notebook(server, "starting.ipynb")
    tab = await open_tab(server)
    try:
        # the chat binds to the notebook, then the notebook's kernel is started
        await tab.send({"type": "history_request", "id": "h1", "notebook_path": "starting.ipynb"})
        _, kernel_id = await start_session(server, "starting.ipynb", "gated")
        tab.kernel_id = kernel_id
        scripted_model.set_script(text("Nothing is defined yet."), text("x is 41."))

        end, msgs = await tab.turn("first", "starting.ipynb", "What is in my kernel?")
        assert end["status"] == "done"
        # the model was asked, and the turn ended, with the kernel not started at all
        assert await execution_state(server, kernel_id) == "starting"
        ctx = context_of(scripted_model.requests[0])
        assert STARTING_NOTE in ctx
        note = next(m for m in msgs if m["type"] == "context_note")
        assert "kernel starting: variables skipped" in note["notes"]

        # once the kernel is up, the next prompt sees its variables
        with open(gate, "w"):
            pass
        # the notebook's own connection waits for the kernel (not jupyter_server's
        # execution_state: a status the kernel published at once, while the server's IOPub
        # subscription was still connecting, is lost, and the state stays "starting")
        await tab.run_cell({"code": "x = 41"})
        end, _ = await tab.turn("first", "starting.ipynb", "And now?")
        assert end["status"] == "done"
        ctx = context_of(scripted_model.requests[-1])
        assert STARTING_NOTE not in ctx
        assert "x = 41 (int)" in ctx  # the variables section, not the cell's source
    finally:
        tab.close()


async def test_probe_client_of_a_shut_down_kernel_is_closed_at_once(gated, scripted_model):
    server, gate = gated
    with open(gate, "w"):
        pass
    write_notebook(server, "shutdown.ipynb")
    tab = await open_tab(server)
    try:
        await tab.send({"type": "history_request", "id": "h2", "notebook_path": "shutdown.ipynb"})
        session_id, kernel_id = await start_session(server, "shutdown.ipynb", "python3")
        tab.kernel_id = kernel_id
        before = (await resources(server))["probe_clients"]
        scripted_model.set_script(text("ok"))
        end, _ = await tab.turn("shut", "shutdown.ipynb", "hello")
        assert end["status"] == "done"
        assert (await resources(server))["probe_clients"] == before + 1

        # shut down through the REST API, as JupyterLab's "Shut Down Kernel" does; nothing
        # asks the pool for that kernel afterwards: the server's kernel event closes its client
        resp = await server.fetch(f"api/sessions/{session_id}", method="DELETE")
        assert resp.code == 204

        async def closed() -> bool:
            return (await resources(server))["probe_clients"] == before
        await until(closed, "the shut-down kernel's probe client closed")
    finally:
        tab.close()


# ---- the pool itself, over real kernels -------------------------------------------------

class _Kernels:
    """The two calls KernelClientPool makes of a MultiKernelManager, over real kernels."""

    def __init__(self) -> None:
        self.kernels: dict[str, AsyncKernelManager] = {}

    def __contains__(self, kid: str) -> bool:
        return kid in self.kernels

    def get_kernel(self, kid: str) -> AsyncKernelManager:
        return self.kernels[kid]


async def test_pool_closes_clients_of_kernels_restarted_shut_down_or_gone():
    kernels = _Kernels()
    km1, km2 = AsyncKernelManager(), AsyncKernelManager()
    await asyncio.gather(km1.start_kernel(), km2.start_kernel())
    kernels.kernels.update(k1=km1, k2=km2)
    pool = KernelClientPool(kernels)
    try:
        c1 = await pool.get("k1")
        c2 = await pool.get("k2")
        assert len(pool) == 2

        # restarted: the old client is closed and a new one prepared for the next prompt
        await km1.restart_kernel(now=True)
        await pool.on_kernel_event(data={"action": "restart", "kernel_id": "k1", "status": "success"})
        assert not c1.channels_running
        c1b = await pool.get("k1")
        assert c1b is not c1 and c1b.channels_running

        # shut down: closed at once, nothing left for it
        await km1.shutdown_kernel(now=True)
        del kernels.kernels["k1"]
        await pool.on_kernel_event(data={"action": "shutdown", "kernel_id": "k1", "status": "success"})
        assert not c1b.channels_running
        assert len(pool) == 1

        # gone without an event (died, not restarted): closed the next time the pool is used
        await km2.shutdown_kernel(now=True)
        del kernels.kernels["k2"]
        assert await pool.get("k3") is None
        assert not c2.channels_running
        assert len(pool) == 0
    finally:
        await pool.close_all()
        for km in (km1, km2):
            if km.has_kernel:
                await km.shutdown_kernel(now=True)


async def test_unanswered_kernel_info_counts_as_starting(tmp_path):
    """A kernel manager that tracks no execution state: our kernel_info, unanswered, decides."""
    jupyter_path = str(tmp_path / "share")
    gate = str(tmp_path / "gate")
    write_gated_kernelspec(jupyter_path, gate)
    from jupyter_client.kernelspec import KernelSpecManager

    km = AsyncKernelManager(kernel_name="gated",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[os.path.join(jupyter_path, "kernels")]))
    await km.start_kernel()
    client = new_probe_client(km)
    kernels = _Kernels()
    kernels.kernels["k"] = km
    pool = KernelClientPool(kernels)
    try:
        assert not await kernel_starting(client)  # never asked: the probe will ask
        pooled = await pool.get("k")
        pool.warm("k")  # asks, and waits for the answer in the background
        await until(lambda: kernel_starting(pooled), "an unanswered kernel_info")
        ctx = await gather_context(root_dir=str(tmp_path), notebook_path=f"nb-{uuid.uuid4().hex[:6]}.ipynb",
                                   kernel_client=pooled, cells=[], token_budget=2000,
                                   probe_timeout=30, probe_max_bytes=4000)
        assert ctx.parts["variables"]["data"]["starting"]
        assert STARTING_NOTE in ctx.text

        open(gate, "w").close()

        async def answered() -> bool:
            return not await kernel_starting(pooled)
        await until(answered, "the kernel answered", tries=600)
        ctx = await gather_context(root_dir=str(tmp_path), notebook_path="nb.ipynb", kernel_client=pooled,
                                   cells=[], token_budget=2000, probe_timeout=30, probe_max_bytes=4000)
        assert ctx.parts["variables"]["data"]["ok"]
    finally:
        client.stop_channels()
        await pool.close_all()
        await km.shutdown_kernel(now=True)
