"""Helpers shared by the hardening tests (faults, fuzzing, secrets, injection, paths).

``Tab`` is a :class:`server_fixtures.BrowserStandIn` that behaves like the real frontend
executor when the kernel goes away under a running cell: it reports the cell as aborted
(as ``src/executor.ts`` does when the kernel future is disposed) instead of waiting for an
``idle`` that never comes. Everything else is the stand-in: cells run in the session's real
kernel, approvals follow ``approve``.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import time
import uuid
from typing import Any, Optional

from server_fixtures import BrowserStandIn, JupyterServer

PROMPT_DEFAULTS: dict[str, Any] = {}


def server_with(tmp: str, model_url: str, *extra: str, env: Optional[dict[str, str]] = None,
                api_key: str = "sk-test-SERVERKEY-42", request_timeout: float = 1.5) -> JupyterServer:
    """A jupyter server subprocess like ``server_fixtures``' one, with short model timeouts
    (faults must end quickly) and room for more options and environment."""
    import socket
    import subprocess
    import sys

    from server_fixtures import TOKEN, free_port

    root, runtime, history = (os.path.join(tmp, d) for d in ("root", "runtime", "history"))
    for d in (root, runtime, history):
        os.makedirs(d, exist_ok=True)
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CODEINTERP"))}
    full_env.update({"JUPYTER_CONFIG_DIR": os.path.join(tmp, "config"), "JUPYTER_RUNTIME_DIR": runtime,
                     "JUPYTER_PLATFORM_DIRS": "1"})
    full_env.update(env or {})
    log_path = os.path.join(tmp, "server.log")
    args = [
        sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}",
        "--ServerApp.jpserver_extensions={'jupyterlab_codeinterp': True}",
        f"--CodeInterp.base_url={model_url}", "--CodeInterp.model=scripted-model",
        f"--CodeInterp.history_dir={history}", f"--CodeInterp.request_timeout={request_timeout}",
        "--CodeInterp.max_retries=1", "--CodeInterp.max_retry_wait=0.5", "--CodeInterp.probe_timeout=1",
    ]
    if api_key:
        args.append(f"--CodeInterp.api_key={api_key}")
    if os.geteuid() == 0:
        args.append("--allow-root")
    args += list(extra)
    log_file = open(log_path, "w")
    proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, env=full_env, cwd=root)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("jupyter server exited:\n" + open(log_path).read())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("jupyter server did not start:\n" + open(log_path).read())
    server = JupyterServer(f"http://127.0.0.1:{port}/", TOKEN, root, runtime, proc, history, log_path)
    if "extension failed loading" in server.log():
        raise RuntimeError(server.log())
    return server


class Tab(BrowserStandIn):
    """A browser tab: the stand-in plus abort-on-restart and a few conveniences."""

    approve: Optional[str] = "run"  # None: leave approval requests unanswered

    async def run_cell(self, req: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        kc = self.kernel_client()
        started = time.monotonic()
        if req.get("replace_cell_id"):
            cell = next(c for c in self.cells if c["id"] == req["replace_cell_id"])
            cell["source"] = req["code"]
        else:
            cell = {"id": uuid.uuid4().hex[:8], "cell_type": "code", "source": req["code"],
                    "metadata": req.get("metadata", {}), "outputs": []}
            self.cells.append(cell)
        msg_id = kc.execute(req["code"], allow_stdin=False)
        outputs: list[dict[str, Any]] = []
        status, ename, evalue, tb, count = "ok", "", "", [], None
        deadline = time.monotonic() + 120
        seen_ours = False
        pid = self._kernel_pid()
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

    async def serve_until(self, types: set[str], timeout: float = 60) -> dict[str, Any]:  # type: ignore[override]
        """As the stand-in, but approval requests are left alone when ``approve`` is None."""
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


async def open_tab(server: JupyterServer, kernel_id: str = "") -> Tab:
    ws = await server.ws()
    hello = json.loads(await asyncio.wait_for(ws.read_message(), 10))
    assert hello["type"] == "hello"
    return Tab(server, ws, kernel_id)


async def kernel_eval(server: JupyterServer, kernel_id: str, code: str, timeout: float = 30) -> str:
    """Run ``code`` in the kernel from a separate client (the user's own activity); its stdout."""
    from jupyter_client import AsyncKernelClient, find_connection_file

    kc = AsyncKernelClient(connection_file=find_connection_file(f"kernel-{kernel_id}.json",
                                                                 path=[server.runtime_dir]))
    kc.load_connection_file()
    kc.start_channels()
    out: list[str] = []
    try:
        await kc.wait_for_ready(timeout=timeout)
        await kc.execute_interactive(code, timeout=timeout, allow_stdin=False,
                                     output_hook=lambda m: out.append(m["content"].get("text", ""))
                                     if m["msg_type"] == "stream" else None)
    finally:
        kc.stop_channels()
    return "".join(out)


def history_file(server: JupyterServer, chat_id: str) -> dict[str, Any]:
    """The chat's history file on disk (there is exactly one with that id in these tests)."""
    for folder, _dirs, files in os.walk(server.history_dir):
        if f"{chat_id}.json" in files:
            with open(os.path.join(folder, f"{chat_id}.json"), encoding="utf-8") as fh:
                return json.load(fh)
    raise AssertionError(f"no history file for chat {chat_id}")


def free_port_url() -> str:
    """A base URL where nothing listens (connection refused)."""
    from server_fixtures import free_port

    return f"http://127.0.0.1:{free_port()}/v1"


class CollectingSink:
    """A TurnSink for Agent tests: keeps every message, answers approvals with ``decision``
    (None: never answers, the step keeps waiting)."""

    def __init__(self, decision: Optional[str] = "run") -> None:
        self.messages: list[Any] = []
        self.approvals: list[Any] = []
        self.decision = decision

    async def send(self, msg: Any) -> None:
        self.messages.append(msg)

    async def ask_approval(self, request: Any) -> Any:
        from jupyterlab_codeinterp.protocol import ApprovalReplyMsg

        self.approvals.append(request)
        if self.decision is None:
            await asyncio.Event().wait()
        return ApprovalReplyMsg(step_id=request.step_id, decision=self.decision)

    def of(self, kind: str) -> list[Any]:
        return [m for m in self.messages if type(m).__name__ == kind]

    def steps(self, state: Optional[str] = None) -> list[Any]:
        return [m for m in self.of("StepMsg") if state is None or m.state == state]


def errors_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "error"]
