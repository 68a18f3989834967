"""A real Jupyter Kernel Gateway in a subprocess, and a Jupyter server whose kernels live there.

``start_kernel_gateway`` runs ``python -m kernel_gateway`` on a loopback port with an auth
token (so the tests also show that the token reaches the gateway). ``GatewayTab`` is the
browser stand-in for remote kernels: it runs cells through the Jupyter server's own kernel
websocket (``api/kernels/<id>/channels``), which the server proxies to the gateway, exactly
the path JupyterLab takes; there is no connection file to read for a remote kernel.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

import tornado.httpclient
import tornado.websocket

from server_fixtures import wait_for_port, BrowserStandIn, JupyterServer, free_port

GATEWAY_TOKEN = "gateway-token-" + uuid.uuid4().hex[:12]


@dataclass
class KernelGateway:
    url: str
    token: str
    proc: subprocess.Popen
    log_path: str
    cwd: str

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def server_args(self) -> list[str]:
        """Arguments that make a Jupyter server use this gateway for its kernels."""
        return [f"--gateway-url={self.url}", f"--GatewayClient.auth_token={self.token}",
                "--GatewayClient.request_timeout=60"]


def start_kernel_gateway(tmp: str, *, port: Optional[int] = None, token: str = GATEWAY_TOKEN) -> KernelGateway:
    """``jupyter kernelgateway`` on 127.0.0.1 (CODEINTERP_GATEWAY_PORT, else a free port)."""
    port = port or int(os.environ.get("CODEINTERP_GATEWAY_PORT") or 0) or free_port()
    cwd = os.path.join(tmp, "gateway")
    os.makedirs(cwd, exist_ok=True)
    log_path = os.path.join(tmp, "gateway.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CODEINTERP", "KG_"))}
    env.update({"JUPYTER_RUNTIME_DIR": os.path.join(tmp, "gateway-runtime"), "JUPYTER_PLATFORM_DIRS": "1"})
    args = [sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
            f"--KernelGatewayApp.port={port}", f"--KernelGatewayApp.auth_token={token}",
            "--KernelGatewayApp.port_retries=0",
            # the server lists the gateway's kernels (JupyterLab polls api/kernels)
            "--JupyterWebsocketPersonality.list_kernels=True"]
    log_file = open(log_path, "w")
    proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    wait_for_port(proc, port, log_path, "the kernel gateway")
    return KernelGateway(f"http://127.0.0.1:{port}", token, proc, log_path, cwd)


def stop_kernel_gateway(gateway: KernelGateway) -> None:
    gateway.proc.terminate()
    try:
        gateway.proc.wait(15)
    except subprocess.TimeoutExpired:
        gateway.proc.kill()


class KernelSocket:
    """The server's websocket to one kernel (what JupyterLab opens), for the user's own activity."""

    def __init__(self, ws: tornado.websocket.WebSocketClientConnection, session: str) -> None:
        self.ws = ws
        self.session = session

    @classmethod
    async def open(cls, server: JupyterServer, kernel_id: str) -> "KernelSocket":
        session = uuid.uuid4().hex
        url = server.url.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels?session_id={session}"
        req = tornado.httpclient.HTTPRequest(url, headers={"Authorization": f"token {server.token}"})
        return cls(await tornado.websocket.websocket_connect(req), session)

    def send(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "username": "test", "session": self.session,
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "version": "5.3"}
        self.ws.write_message(json.dumps({"header": header, "parent_header": {}, "metadata": {},
                                          "content": content, "channel": channel, "buffers": []}))
        return msg_id

    async def execute(self, code: str, *, silent: bool = False, user_expressions: Optional[dict] = None,
                      timeout: float = 60, started: Optional[asyncio.Event] = None,
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run ``code``: (the execute_reply's content, the IOPub messages it caused); ``started``
        is set when the kernel begins running it."""
        msg_id = self.send("execute_request", {"code": code, "silent": silent, "store_history": not silent,
                                               "user_expressions": user_expressions or {},
                                               "allow_stdin": False, "stop_on_error": True})
        iopub: list[dict[str, Any]] = []
        reply: Optional[dict[str, Any]] = None
        idle = False
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            raw = await asyncio.wait_for(self.ws.read_message(), max(0.1, deadline - time.monotonic()))
            assert raw is not None, "the kernel socket closed"
            if isinstance(raw, bytes):
                continue
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["channel"] == "shell":
                reply = msg["content"]
            elif msg["channel"] == "iopub":
                iopub.append(msg)
                if msg["msg_type"] == "execute_input" and started is not None:
                    started.set()
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
        return reply, iopub

    async def user_state(self) -> dict[str, Any]:
        """The user namespace's names and the execution count, read silently."""
        reply, _ = await self.execute("", silent=True, user_expressions={
            "names": "sorted(get_ipython().user_ns)", "count": "get_ipython().execution_count"})
        values = reply["user_expressions"]
        return {k: values[k]["data"]["text/plain"] for k in ("names", "count")}

    def close(self) -> None:
        self.ws.close()


def stdout_of(iopub: list[dict[str, Any]]) -> str:
    return "".join(m["content"]["text"] for m in iopub if m["msg_type"] == "stream")


class GatewayTab(BrowserStandIn):
    """The browser stand-in, running cells through the server's kernel websocket."""

    _socket: Optional[KernelSocket] = None
    cell_started: Optional[asyncio.Event] = None

    async def kernel_socket(self) -> KernelSocket:
        if self._socket is None:
            self._socket = await KernelSocket.open(self.server, self.kernel_id)
        return self._socket

    async def run_cell(self, req: dict[str, Any]) -> dict[str, Any]:
        sock = await self.kernel_socket()
        started = time.monotonic()
        cell = {"id": uuid.uuid4().hex[:8], "cell_type": "code", "source": req["code"],
                "metadata": req.get("metadata", {}), "outputs": []}
        if req.get("replace_cell_id"):
            cell = next(c for c in self.cells if c["id"] == req["replace_cell_id"])
            cell["source"] = req["code"]
        else:
            self.cells.append(cell)
        self.cell_started = asyncio.Event()
        reply, iopub = await sock.execute(req["code"], timeout=120, started=self.cell_started)
        outputs: list[dict[str, Any]] = []
        for msg in iopub:
            t, c = msg["msg_type"], msg["content"]
            if t == "stream":
                outputs.append({"output_type": "stream", "name": c["name"], "text": c["text"]})
            elif t in ("execute_result", "display_data"):
                outputs.append({"output_type": t, "data": c["data"], "metadata": c.get("metadata", {}),
                                **({"execution_count": c["execution_count"]} if t == "execute_result" else {})})
            elif t == "error":
                outputs.append({"output_type": "error", **c})
        cell["outputs"] = outputs
        ename = reply.get("ename", "")
        status = "ok" if reply["status"] == "ok" else ("interrupted" if ename == "KeyboardInterrupt" else "error")
        return {"status": status, "cell_id": cell["id"], "execution_count": reply.get("execution_count"),
                "outputs": outputs, "ename": ename, "evalue": reply.get("evalue", ""),
                "traceback": reply.get("traceback", []), "elapsed": time.monotonic() - started}

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self.ws.close()
