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
from typing import Any, Optional

from server_fixtures import BrowserStandIn, JupyterServer, start_jupyter_server

PROMPT_DEFAULTS: dict[str, Any] = {}


def server_with(tmp: str, model_url: str, *extra: str, env: Optional[dict[str, str]] = None,
                api_key: str = "sk-test-SERVERKEY-42", request_timeout: float = 1.5) -> JupyterServer:
    """A jupyter server subprocess with short model timeouts (faults must end quickly)."""
    return start_jupyter_server(tmp, model_url=model_url, extra=list(extra), env=env, api_key=api_key,
                                codeinterp={"request_timeout": request_timeout, "max_retries": 1,
                                            "max_retry_wait": 0.5, "probe_timeout": 1})


class Tab(BrowserStandIn):
    """A browser tab (the stand-in, which also reports a cell as aborted when its kernel restarts)."""


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
