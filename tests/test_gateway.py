"""Remote kernels: a Jupyter server started with ``--gateway-url`` and a real ``jupyter kernelgateway``.

The kernels run in the gateway's process tree, not the server's; the probe, inspect_variable,
read_file and Stop reach them only through the gateway (websocket and REST). The gateway
requires an auth token, so these tests also show that the token is sent.
"""

from __future__ import annotations

import ast
import asyncio
import json

import psutil
import pytest
import tornado.httpclient

from gateway_fixtures import GatewayTab, KernelSocket, start_kernel_gateway, stdout_of, stop_kernel_gateway
from jupyterlab_codeinterp.context.kernel_probe import eval_expression, probe_kernel
from jupyterlab_codeinterp.context.probe_render import render_probe
from jupyterlab_codeinterp.context.remote_kernel import REMOTE_LATE_TEXT, GatewayProbeClient
from scripted_model import call, run_code, text, tool_calls
from server_fixtures import qs, start_jupyter_server, stop_jupyter_server

SALES = ("import pandas as pd\n"
         "sales = pd.DataFrame({'region': ['north', 'south', 'east'], 'price': [1.5, 2.5, 3.0]})")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = start_kernel_gateway(str(tmp_path_factory.mktemp("kernelgateway")))
    yield gw
    stop_kernel_gateway(gw)


@pytest.fixture(scope="module")
def server(tmp_path_factory, scripted_server_session, gateway):
    srv = start_jupyter_server(str(tmp_path_factory.mktemp("jupyter-gateway")),
                               model_url=scripted_server_session.base_url, extra=gateway.server_args(),
                               codeinterp={"probe_timeout": 2})
    yield srv
    stop_jupyter_server(srv)


def _child_cmdlines(pid: int) -> list[str]:
    """The command lines of a process's descendants (an exited one not yet reaped has none)."""
    lines = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            lines.append(" ".join(p.cmdline()))
        except psutil.Error:
            pass
    return lines


async def _remote_kernel_with_sales(server, gateway, notebook: str) -> tuple[str, KernelSocket]:
    kernel_id = await server.start_session(notebook)
    # the kernel is the gateway's child, not the server's
    assert not any(kernel_id in line for line in _child_cmdlines(server.proc.pid))
    assert any(kernel_id in line for line in _child_cmdlines(gateway.proc.pid))
    sock = await KernelSocket.open(server, kernel_id)
    reply, _ = await sock.execute(SALES)
    assert reply["status"] == "ok", reply
    return kernel_id, sock


async def _open_tab(server, kernel_id: str) -> GatewayTab:
    ws = await server.ws()
    hello = json.loads(await asyncio.wait_for(ws.read_message(), 10))
    assert hello["type"] == "hello"
    return GatewayTab(server, ws, kernel_id)


async def test_context_lists_the_remote_dataframe(server, gateway):
    _, sock = await _remote_kernel_with_sales(server, gateway, "remote.ipynb")
    try:
        before = await sock.user_state()
        for _ in range(2):  # a new probe client, then the same one again
            resp = await server.fetch("codeinterp/context?path=" + qs("remote.ipynb"))
            assert resp.code == 200, resp.body
            data = json.loads(resp.body)
            assert "sales: DataFrame 3 rows × 2 columns" in data["text"], data["text"]
            assert "region (" in data["text"] and "price (float64)" in data["text"]
            assert "unreachable" not in data["text"] and "no variables" not in data["text"]
        # nothing left behind in the remote kernel: no names, the execution count unchanged
        assert await sock.user_state() == before
    finally:
        sock.close()
    log = server.log()
    assert "never awaited" not in log and "Traceback" not in log
    # messages name their channel (a control request does not land on shell)
    assert "No channel specified" not in gateway.log()


async def test_inspect_and_read_file_reach_the_remote_kernel(server, gateway, scripted_model):
    with open(f"{server.root}/prices.csv", "w") as fh:
        fh.write("region,price\nnorth,1.5\nsouth,2.5\n")
    kernel_id, sock = await _remote_kernel_with_sales(server, gateway, "tools.ipynb")
    before = await sock.user_state()
    tab = await _open_tab(server, kernel_id)
    try:
        scripted_model.set_script(
            tool_calls(call("inspect_variable", {"name": "sales"}), call("read_file", {"path": "prices.csv"})),
            text("The mean price is 2.33."))
        end, msgs = await tab.turn("tools", "tools.ipynb", "what is in sales?")
    finally:
        tab.close()
    assert end["status"] == "done", end
    note = next(m for m in msgs if m["type"] == "context_note")
    assert not any("unreachable" in n or "did not answer" in n for n in note["notes"]), note
    first = json.dumps(scripted_model.requests[0]["messages"])
    assert "sales: DataFrame 3 rows" in first
    tools = [m["content"] for m in scripted_model.requests[1]["messages"] if m["role"] == "tool"]
    assert "DataFrame shape=(3, 2)" in tools[0] and "region" in tools[0]
    assert "north,1.5" in tools[1]
    try:
        assert await sock.user_state() == before
    finally:
        sock.close()


async def test_stop_interrupts_the_remote_kernel(server, gateway, scripted_model):
    nb = "stop.ipynb"
    kernel_id, sock = await _remote_kernel_with_sales(server, gateway, nb)
    tab = await _open_tab(server, kernel_id)
    try:
        scripted_model.set_script(run_code("while True:\n    pass"), text("unused"))
        await tab.prompt("stop", nb, "spin")
        msg = await tab.next_run_cell()
        run = asyncio.ensure_future(tab.run_cell(msg))
        while tab.cell_started is None:
            await asyncio.sleep(0.05)
        await asyncio.wait_for(tab.cell_started.wait(), 30)
        await tab.send({"type": "stop", "chat_id": "stop"})
        end = await tab.serve_until({"turn_end"})
        assert end["status"] == "stopped"
        # the server interrupted the kernel through the gateway's REST API
        result = await asyncio.wait_for(run, 30)
        assert result["status"] == "interrupted", result
        _, iopub = await sock.execute("print(sales.shape)")
        assert stdout_of(iopub).strip() == "(3, 2)"
    finally:
        tab.close()
        sock.close()


async def test_a_busy_remote_kernel_is_named_in_the_context(server, gateway):
    kernel_id, sock = await _remote_kernel_with_sales(server, gateway, "busy.ipynb")
    user = await KernelSocket.open(server, kernel_id)
    try:
        before = await sock.user_state()
        started = asyncio.Event()
        cell = asyncio.ensure_future(user.execute("import time\ntime.sleep(6)\nprint('user done')", started=started))
        await asyncio.wait_for(started.wait(), 30)
        resp = await server.fetch("codeinterp/context?path=" + qs("busy.ipynb"))
        data = json.loads(resp.body)
        assert "did not answer within 2 s" in data["text"] and "through the gateway" in data["text"], data["text"]
        assert "sales" not in data["text"]
        _, iopub = await cell
        assert stdout_of(iopub).strip() == "user done"  # the user's cell was not disturbed
        # the late probe ran after it and left nothing behind: only the user's cell counts
        after = await sock.user_state()
        assert int(after["count"]) == int(before["count"]) + 1
        added = set(ast.literal_eval(after["names"])) - set(ast.literal_eval(before["names"]))
        assert added == {"time", f"_i{before['count']}"}, added
    finally:
        user.close()
        sock.close()


async def test_restarted_remote_kernel_is_probed_again(server, gateway):
    kernel_id, sock = await _remote_kernel_with_sales(server, gateway, "restart.ipynb")
    sock.close()
    resp = await server.fetch("codeinterp/context?path=" + qs("restart.ipynb"))
    assert "sales: DataFrame" in json.loads(resp.body)["text"]
    resp = await server.fetch(f"api/kernels/{kernel_id}/restart", method="POST", body="{}")
    assert resp.code == 200, resp.body
    sock = await KernelSocket.open(server, kernel_id)
    try:
        reply, _ = await sock.execute("fresh = [1, 2, 3]")
        assert reply["status"] == "ok"
        resp = await server.fetch("codeinterp/context?path=" + qs("restart.ipynb"))
        text_ = json.loads(resp.body)["text"]
        assert "fresh: list len 3" in text_ and "sales" not in text_, text_
    finally:
        sock.close()


# ---------------------------------------------------------------------------
# the probe client on its own, against the gateway (no Jupyter server)

async def _gateway_kernel(gateway) -> str:
    client = tornado.httpclient.AsyncHTTPClient()
    resp = await client.fetch(f"{gateway.url}/api/kernels", method="POST", body=json.dumps({"name": "python3"}),
                              headers={"Authorization": f"token {gateway.token}"})
    return json.loads(resp.body)["id"]


def _client(gateway, kernel_id: str, token: str) -> GatewayProbeClient:
    from jupyter_client.session import Session
    from jupyter_server.gateway.gateway_client import GatewayClient

    gw = GatewayClient(url=gateway.url, auth_token=token)
    return GatewayProbeClient(kernel_id, Session(), gateway=gw)


async def test_probe_client_against_the_gateway(gateway):
    kernel_id = await _gateway_kernel(gateway)
    client = _client(gateway, kernel_id, gateway.token)
    try:
        names = "sorted(get_ipython().user_ns), get_ipython().execution_count"
        assert (await eval_expression(client, "1 + 1", timeout=30)) == "2"
        before = await eval_expression(client, names, timeout=10)
        result = await probe_kernel(client, timeout=10, max_bytes=16000)
        assert result.ok, result.note
        assert result.language == "python"
        assert "(the namespace has no user variables)" in render_probe(result)
        assert await eval_expression(client, names, timeout=10) == before
        # a kernel that cannot answer in time is named as remote, for the probe and the tools
        client.execute("__import__('time').sleep(3)", silent=True, store_history=False)
        assert await eval_expression(client, "1", timeout=0.5) == REMOTE_LATE_TEXT
        late = await probe_kernel(client, timeout=0.5, max_bytes=16000)
        assert not late.ok and late.note.startswith("the remote kernel (through the gateway) did not answer within 0.5 s")
        # the late ones ran afterwards and left nothing behind
        assert await eval_expression(client, names, timeout=30) == before
    finally:
        client.stop_channels()
    # once closed it says so instead of raising
    result = await probe_kernel(client, timeout=1, max_bytes=16000)
    assert not result.ok and "through the gateway" in result.note


async def test_a_refused_token_is_a_note_not_an_error(gateway):
    kernel_id = await _gateway_kernel(gateway)
    client = _client(gateway, kernel_id, "not-the-token")
    try:
        result = await probe_kernel(client, timeout=10, max_bytes=16000)
        assert not result.ok
        assert result.note.startswith("the remote kernel is unreachable through the gateway (HTTP 401")
        assert (await eval_expression(client, "1", timeout=5)).startswith("the remote kernel is unreachable")
    finally:
        client.stop_channels()


async def test_pool_replaces_a_gateway_client_whose_socket_closed(gateway):
    """The server's pool makes gateway kernels' probe clients, and a new one once the socket is gone."""
    from jupyter_server.gateway.gateway_client import GatewayClient
    from jupyter_server.gateway.managers import GatewayKernelManager

    from jupyterlab_codeinterp.context.probe_clients import KernelClientPool

    kernel_id = await _gateway_kernel(gateway)
    previous = GatewayClient._instance if GatewayClient.initialized() else None
    GatewayClient.clear_instance()
    GatewayClient.instance(url=gateway.url, auth_token=gateway.token)
    try:
        km = GatewayKernelManager()
        km.kernel_id, km.kernel = kernel_id, {"id": kernel_id}

        class Kernels(dict):
            def get_kernel(self, kid):
                return self[kid]

        pool = KernelClientPool(Kernels({kernel_id: km}))
        first = await pool.get(kernel_id)
        assert isinstance(first, GatewayProbeClient)
        assert (await pool.probe(kernel_id, timeout=30, max_bytes=16000)).ok
        assert await pool.get(kernel_id) is first
        first._ws.close()  # the gateway went away under it
        await asyncio.wait_for(_until(lambda: first.connection_lost), 30)
        second = await pool.get(kernel_id)
        assert second is not first
        result = await pool.probe(kernel_id, timeout=30, max_bytes=16000)
        assert result.ok, result.note
        await pool.close_all()
        assert second.connection_lost
    finally:
        GatewayClient.clear_instance()
        if previous is not None:
            GatewayClient._instance = previous


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.02)
