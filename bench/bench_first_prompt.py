"""First prompt, cold and warm, over the chat socket (the server's side without a browser).

``overhead/bench_overhead.js`` measures the same through JupyterLab in Chromium, where the
page's own start-up shares the server with the first prompt. Here this script is the only
client: for each of ``--servers`` fresh jupyter servers (fresh kernel, fresh chat history)
it binds a chat to a notebook (``history_request``, as the sidebar does), starts the
notebook's kernel (a session, as JupyterLab does) and sends the first prompt

* ``at once``: right after the session is created, while the kernel is still starting;
* ``settled``: on another notebook of the same server, 3 s after its kernel answered;
* ``warm``: then ``--warm`` more prompts on that notebook.

Printed per case: prompt sent -> first model request received by the scripted model (same
machine clock), and from the server's opt-in turn timing the probe's share; and whether
the context sent said the kernel was starting. The scripted model answers at once.

    .venv/bin/python bench/bench_first_prompt.py --servers 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid

import tornado.httpclient
import tornado.websocket

from bench_soak import Server, TOKEN

STARTING = "the kernel is starting"
NOTEBOOK = {"cells": [], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


async def model_log(model_port: int) -> list[dict]:
    resp = await tornado.httpclient.AsyncHTTPClient().fetch(f"http://127.0.0.1:{model_port}/_control/requests")
    return [e for e in json.loads(resp.body)["log"] if e["path"].endswith("/chat/completions")]


class Chat:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.ws: tornado.websocket.WebSocketClientConnection | None = None

    async def open(self) -> None:
        self.ws = await tornado.websocket.websocket_connect(tornado.httpclient.HTTPRequest(
            self.server.url.replace("http://", "ws://") + "codeinterp/chat",
            headers={"Authorization": f"token {TOKEN}"}))
        self.ws.protocol.stream.set_nodelay(True)  # as browsers do: no Nagle delay on small frames
        assert json.loads(await self.ws.read_message())["type"] == "hello"

    async def send(self, msg: dict) -> None:
        assert self.ws is not None
        await self.ws.write_message(json.dumps(msg))

    async def prompt(self, path: str, model_port: int) -> dict:
        """One turn; the time from sending the prompt to the model receiving its first request."""
        assert self.ws is not None
        before = len(await model_log(model_port))
        sent = time.time()
        await self.send({"type": "prompt", "id": uuid.uuid4().hex[:8], "chat_id": uuid.uuid4().hex[:12],
                         "notebook_path": path, "text": "What is in my kernel?"})
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.read_message(), 120))
            if msg["type"] == "executor_request":
                await self.send({"type": "executor_reply", "request_id": msg["request_id"], "ok": True,
                                 "result": {"cells": []}})
            elif msg["type"] == "turn_end":
                break
        first = (await model_log(model_port))[before]
        return {"a_ms": (first["received_at"] - sent) * 1000,
                "starting": STARTING in json.dumps(first["body"])}


def timing_lines(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


async def one_server(args: argparse.Namespace, results: dict[str, list[dict]]) -> None:
    timing = os.path.join(tempfile.mkdtemp(prefix="codeinterp-first-"), "turns.jsonl")
    server = Server(args.port, args.model_port, extra_env={"CODEINTERP_DEBUG_TURN_TIMING": timing})
    try:
        await server.ready()
        await asyncio.sleep(2)  # the extension's start-up imports done
        chat = Chat(server)
        await chat.open()
        for case in ("at once", "settled"):
            path = f"soak/{case.replace(' ', '_')}.ipynb"
            await server.http("PUT", f"api/contents/{path}", {"type": "notebook", "format": "json",
                                                              "content": NOTEBOOK})
            await chat.send({"type": "history_request", "id": uuid.uuid4().hex[:6], "notebook_path": path})
            session = await server.http("POST", "api/sessions", {"path": path, "type": "notebook", "name": path,
                                                                 "kernel": {"name": "python3"}})
            if case == "settled":
                for _ in range(600):
                    state = (await server.http("GET", f"api/kernels/{session['kernel']['id']}"))["execution_state"]
                    if state in ("idle", "busy"):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(3)
            runs = [case] + (["warm"] * args.warm if case == "settled" else [])
            for kind in runs:
                before = len(timing_lines(timing))
                row = await chat.prompt(path, args.model_port)
                for _ in range(200):  # the turn's line is written right after turn_end
                    lines = timing_lines(timing)
                    if len(lines) > before:
                        break
                    await asyncio.sleep(0.02)
                line = lines[-1]
                row.update(probe_ms=line.get("probe_ms", 0.0), model_call_ms=line.get("model_call_ms"),
                           server_ms=line.get("model_call_server_ms"))
                results[kind].append(row)
                print(f"  {kind:8} a {row['a_ms']:7.1f} ms  probe {row['probe_ms']:6.1f} ms  "
                      f"server's own {row['server_ms']:6.1f} ms  context says starting: {row['starting']}", flush=True)
        chat.ws.close()
    finally:
        server.close()


async def main_async(args: argparse.Namespace) -> None:
    results: dict[str, list[dict]] = {"at once": [], "settled": [], "warm": []}
    for i in range(args.servers):
        print(f"server {i + 1}/{args.servers}", flush=True)
        await one_server(args, results)
    print(f"\n{args.servers} fresh servers; medians (min-max), ms; target: prompt -> first model request <= 150")
    print(f"{'case':10} {'n':>3} {'prompt -> model request':>26} {'probe':>20} {'server own':>20}  starting")
    for kind, rows in results.items():
        def col(key: str) -> str:
            xs = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
            return f"{statistics.median(xs):.1f} ({min(xs):.1f}-{max(xs):.1f})" if xs else "-"
        said = sum(r["starting"] for r in rows)
        print(f"{kind:10} {len(rows):3d} {col('a_ms'):>26} {col('probe_ms'):>20} {col('server_ms'):>20}  "
              f"{said} of {len(rows)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", type=int, default=5)
    p.add_argument("--warm", type=int, default=5, help="warm prompts after the settled one, per server")
    p.add_argument("--port", type=int, default=8872)
    p.add_argument("--model-port", type=int, default=8873)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
