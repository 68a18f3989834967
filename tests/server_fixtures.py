"""A real Jupyter server in a subprocess, with the real token and XSRF checks on, for route tests.

A subprocess (not an in-process app) so auth, origin checks, kernels and our extension run
exactly as a user's ``jupyter lab`` runs them. ``BrowserStandIn`` plays the browser's half
of the chat protocol for server-side tests: it answers executor requests by running the
cells in the notebook session's real kernel (the Galata tests cover the real browser).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional
from urllib.parse import quote

import pytest
import tornado.httpclient
import tornado.websocket

TOKEN = "test-token-" + uuid.uuid4().hex[:12]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JupyterServer:
    url: str
    token: str
    root: str
    runtime_dir: str
    proc: subprocess.Popen
    history_dir: str
    log_path: str

    def http(self, path: str, *, token: bool = True, **kw: Any) -> tornado.httpclient.HTTPRequest:
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"token {self.token}"
        return tornado.httpclient.HTTPRequest(self.url + path, headers=headers, **kw)

    async def fetch(self, path: str, *, token: bool = True, **kw: Any) -> tornado.httpclient.HTTPResponse:
        client = tornado.httpclient.AsyncHTTPClient()
        return await client.fetch(self.http(path, token=token, **kw), raise_error=False)

    async def ws(self, path: str = "codeinterp/chat", *, token: bool = True,
                 headers: Optional[dict] = None) -> tornado.websocket.WebSocketClientConnection:
        url = self.url.replace("http://", "ws://") + path
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"token {self.token}"
        return await tornado.websocket.websocket_connect(tornado.httpclient.HTTPRequest(url, headers=h))

    async def start_session(self, notebook_path: str) -> str:
        body = json.dumps({"path": notebook_path, "type": "notebook", "name": os.path.basename(notebook_path),
                           "kernel": {"name": "python3"}})
        resp = await self.fetch("api/sessions", method="POST", body=body)
        assert resp.code == 201, resp.body
        return json.loads(resp.body)["kernel"]["id"]

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()


def start_jupyter_server(tmp: str, *, model_url: str, extra: Optional[list[str]] = None,
                         base_url: str = "/", env: Optional[dict[str, str]] = None,
                         api_key: str = "sk-test-SERVERKEY-42",
                         codeinterp: Optional[dict[str, Any]] = None) -> JupyterServer:
    """Start ``jupyter server`` with our extension; ``codeinterp`` overrides CodeInterp options."""
    root = os.path.join(tmp, "root")
    runtime = os.path.join(tmp, "runtime")
    history = os.path.join(tmp, "history")
    for d in (root, runtime, history):
        os.makedirs(d, exist_ok=True)
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CODEINTERP"))}
    full_env.update({"JUPYTER_CONFIG_DIR": os.path.join(tmp, "config"), "JUPYTER_RUNTIME_DIR": runtime,
                     "JUPYTER_PLATFORM_DIRS": "1"})
    full_env.update(env or {})
    log_path = os.path.join(tmp, "server.log")
    options: dict[str, Any] = {"base_url": model_url, "model": "scripted-model", "history_dir": history,
                               "request_timeout": 10, "max_retry_wait": 0.2}
    if api_key:
        options["api_key"] = api_key
    options.update(codeinterp or {})
    args = [
        sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}", f"--ServerApp.base_url={base_url}",
        "--ServerApp.jpserver_extensions={'jupyterlab_codeinterp': True}",
    ] + [f"--CodeInterp.{k}={v}" for k, v in options.items()]
    if os.geteuid() == 0:
        args.append("--allow-root")
    args += extra or []
    log_file = open(log_path, "w")
    proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, env=full_env, cwd=root)
    url = f"http://127.0.0.1:{port}{base_url}"
    wait_for_port(proc, port, log_path, "jupyter server")
    server = JupyterServer(url, TOKEN, root, runtime, proc, history, log_path)
    if "extension failed loading" in server.log():
        raise RuntimeError(server.log())
    return server


def stop_jupyter_server(server: JupyterServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory, scripted_server_session) -> Iterator[JupyterServer]:
    server = start_jupyter_server(str(tmp_path_factory.mktemp("jupyter")), model_url=scripted_server_session.base_url)
    yield server
    stop_jupyter_server(server)



def wait_for_port(proc: subprocess.Popen, port: int, log_path: str, what: str, timeout: float = 60) -> None:
    """Until ``proc`` listens on ``port`` on loopback; raises with its log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n" + open(log_path).read())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{what} did not start:\n" + open(log_path).read())

@dataclass
class BrowserStandIn:
    """Plays the browser's side of the chat socket: runs cells in the session's kernel."""

    server: JupyterServer
    ws: tornado.websocket.WebSocketClientConnection
    kernel_id: str
    cells: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    approve: Optional[str] = "run"
    """The answer to approval requests; None leaves them unanswered."""
    _kc: Any = None
    _kc_ready: bool = False

    async def ready_kernel_client(self) -> Any:
        """The client, once its IOPub subscription is live: a cell executed right after
        start_channels() can publish before the SUB socket has joined (ZMQ's slow joiner), and
        its outputs and idle status are then never seen (on a loaded machine, often)."""
        kc = self.kernel_client()
        if not self._kc_ready:
            await kc.wait_for_ready(timeout=120)  # a kernel start can take 30 s and more under load
            self._kc_ready = True
        return kc

    def kernel_client(self) -> Any:
        if self._kc is None:
            from jupyter_client import AsyncKernelClient, find_connection_file

            cf = find_connection_file(f"kernel-{self.kernel_id}.json", path=[self.server.runtime_dir])
            kc = AsyncKernelClient(connection_file=cf)
            kc.load_connection_file()
            kc.start_channels()
            self._kc = kc
        return self._kc

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.write_message(json.dumps(msg))

    async def next(self, timeout: float = 30) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.read_message(), timeout)
        assert raw is not None, "the server closed the socket"
        msg = json.loads(raw)
        self.received.append(msg)
        return msg

    async def run_cell(self, req: dict[str, Any]) -> dict[str, Any]:
        kc = await self.ready_kernel_client()
        started = time.monotonic()
        if req.get("replace_cell_id"):
            cell = next(c for c in self.cells if c["id"] == req["replace_cell_id"])
            cell["source"] = req["code"]
        else:
            cell = {"id": uuid.uuid4().hex[:8], "cell_type": "code", "source": req["code"],
                    "metadata": req.get("metadata", {}), "outputs": []}
            self.cells.append(cell)
        # the kernel's process before the cell starts: a cell that kills it at once (os._exit)
        # can have it restarted before a lookup made after execute() would run, and the new
        # process would then pass for the one the cell ran in
        pid = self._kernel_pid()
        msg_id = kc.execute(req["code"], allow_stdin=False)
        outputs: list[dict[str, Any]] = []
        status, ename, evalue, tb, count = "ok", "", "", [], None
        deadline = time.monotonic() + 120
        seen_ours = False
        while True:
            if time.monotonic() > deadline:
                raise AssertionError("the cell never finished")
            try:
                msg = await kc.get_iopub_msg(timeout=0.5)
            except (queue.Empty, asyncio.TimeoutError, TimeoutError):
                if await self._kernel_restarted(pid):
                    status, ename, evalue = "aborted", "ExecutionAborted", "the kernel restarted or died"
                    break
                continue
            t, c = msg["msg_type"], msg["content"]
            if t == "status" and c["execution_state"] in ("restarting", "starting", "dead") and seen_ours:
                # a kernel that starts again after our cell began: the cell is gone
                status, ename, evalue = "aborted", "ExecutionAborted", "the kernel restarted or died"
                break
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            seen_ours = True
            if t == "stream":
                outputs.append({"output_type": "stream", "name": c["name"], "text": c["text"]})
            elif t in ("execute_result", "display_data"):
                outputs.append({"output_type": t, "data": c["data"], "metadata": c.get("metadata", {}),
                                **({"execution_count": c["execution_count"]} if t == "execute_result" else {})})
            elif t == "error":
                status, ename, evalue, tb = "error", c["ename"], c["evalue"], c["traceback"]
                outputs.append({"output_type": "error", **c})
            elif t == "execute_input":
                count = c.get("execution_count")
            elif t == "status" and c["execution_state"] == "idle":
                break
        if ename == "KeyboardInterrupt":
            status = "interrupted"
        cell["outputs"] = outputs
        return {"status": status, "cell_id": cell["id"], "execution_count": count, "outputs": outputs,
                "ename": ename, "evalue": evalue, "traceback": tb, "elapsed": time.monotonic() - started}

    def _kernel_pid(self) -> Optional[int]:
        import psutil

        try:
            for child in psutil.Process(self.server.proc.pid).children(recursive=True):
                if any(self.kernel_id in part for part in child.cmdline()):
                    return child.pid
        except psutil.Error:
            pass
        return None

    async def _kernel_restarted(self, pid: Optional[int]) -> bool:
        """Did this kernel restart (or die) while the cell ran? (its process changed, or the
        server says so)"""
        if pid is not None and self._kernel_pid() != pid:
            return True
        resp = await self.server.fetch(f"api/kernels/{self.kernel_id}")
        if resp.code != 200:
            return True
        state = json.loads(resp.body).get("execution_state")
        return state in ("restarting", "dead")

    async def next_run_cell(self, timeout: float = 60) -> dict[str, Any]:
        """Answer other executor requests until the server asks to run a cell; return that
        request unanswered (for tests that act while the cell would be running)."""
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.next(max(0.1, deadline - time.monotonic()))
            if msg["type"] == "executor_request" and msg["action"] == "run_cell":
                return msg
            if msg["type"] == "executor_request":
                await self.send({"type": "executor_reply", "request_id": msg["request_id"], "ok": True,
                                 "result": {"cells": self.cells}})

    async def serve_until(self, types: set[str], timeout: float = 60) -> dict[str, Any]:
        """Answer executor and approval requests until a message of one of ``types`` arrives
        (approval requests are left alone when ``approve`` is None)."""
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.next(max(0.1, deadline - time.monotonic()))
            if msg["type"] in types:
                return msg
            if msg["type"] == "executor_request":
                if msg["action"] == "run_cell":
                    result = await self.run_cell(msg)
                    reply = {"type": "executor_reply", "request_id": msg["request_id"], "ok": True,
                             "result": result}
                elif msg["action"] == "read_cells":
                    reply = {"type": "executor_reply", "request_id": msg["request_id"], "ok": True,
                             "result": {"cells": self.cells}}
                else:
                    reply = {"type": "executor_reply", "request_id": msg["request_id"], "ok": True}
                await self.send(reply)
            elif msg["type"] == "approval_request" and self.approve is not None:
                await self.send({"type": "approval_reply", "step_id": msg["step_id"], "decision": self.approve})

    async def prompt(self, chat_id: str, notebook_path: str, text: str, **kw: Any) -> None:
        await self.send({"type": "prompt", "id": uuid.uuid4().hex[:8], "chat_id": chat_id,
                         "notebook_path": notebook_path, "text": text, **kw})

    async def turn(self, chat_id: str, notebook_path: str, text: str, timeout: float = 60,
                   **kw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send a prompt and serve it to its end: (turn_end, messages of this turn)."""
        start = len(self.received)
        await self.prompt(chat_id, notebook_path, text, **kw)
        end = await self.serve_until({"turn_end"}, timeout)
        return end, self.received[start:]

    def close(self) -> None:
        if self._kc is not None:
            self._kc.stop_channels()
        self.ws.close()


def qs(path: str) -> str:
    return quote(path, safe="")
