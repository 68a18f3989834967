"""Soak: does a long-lived server keep probe clients, sockets, threads or memory per notebook?

One jupyter server with the extension (``CODEINTERP_DEBUG_RESOURCES=1``, which routes
``GET codeinterp/debug/resources``), the scripted model (``tests/scripted_model.py``) in its
own process, and this script playing the browser. Each cycle:

1. a notebook is created and opened through the contents API, a chat socket is opened and
   bound to it (``history_request``);
2. its kernel is started (a session, as JupyterLab does), a cell runs in it;
3. one chat turn over the socket (the probe sees the cell's variable);
4. every ``--restart-every`` cycles the kernel is restarted and a second turn follows;
5. the kernel is shut down (the session deleted), the socket closed.

After each cycle the server process's RSS, threads and open file descriptors (sockets
among them) are read from ``/proc`` (psutil), and the pool's probe clients from the debug
route. Printed: each metric's slope per cycle, least squares over the second half of the
cycles (the first half includes the warm-up: imports, caches, the allocator's arenas), and
whether it is flat: counts gain less than one per 100 cycles, RSS less than
``--rss-flat-kib`` KiB per cycle. No asserts.

``--trim`` also samples RSS after glibc's ``malloc_trim(0)`` in the server (through the debug
route; Linux only): what is left once the allocator has given its free pages back. The trim
then runs once per cycle, so the raw RSS of such a run is what grows again within one cycle.
``--env MALLOC_ARENA_MAX=2`` runs the server with two malloc arenas. ``--diagnose 20,60``
prints, after those cycles, the object types and event-loop timers that grew in the
server since the previous look (``--tracemalloc``: and the allocation tracebacks).

    .venv/bin/python bench/bench_soak.py --cycles 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import psutil
import tornado.httpclient
import tornado.websocket

from processes import wait_port, stop

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
TOKEN = "soak-" + uuid.uuid4().hex[:12]
NOTEBOOK = {"cells": [], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}
METRICS = ("probe_clients", "threads", "fds", "sockets", "rss_kib")
#: with --trim: RSS after glibc's malloc_trim(0), i.e. less what the allocator holds free
TRIMMED = "rss_trimmed_kib"


class Server:
    def __init__(self, port: int, model_port: int, extra_env: dict[str, str] | None = None) -> None:
        self.tmp = tempfile.mkdtemp(prefix="codeinterp-soak-")
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(os.path.join(self.root, "soak"))
        self.runtime = os.path.join(self.tmp, "runtime")
        self.model = subprocess.Popen([sys.executable, os.path.join(TESTS, "scripted_model.py"),
                                       "--port", str(model_port), "--scenario", "echo"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(model_port, self.model, "scripted model")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CODEINTERP"))}
        env.update({"CODEINTERP_DEBUG_RESOURCES": "1", "JUPYTER_CONFIG_DIR": os.path.join(self.tmp, "config"),
                    "JUPYTER_RUNTIME_DIR": self.runtime, "JUPYTER_PLATFORM_DIRS": "1", **(extra_env or {})})
        self.log = os.path.join(self.tmp, "server.log")
        args = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={self.root}",
                "--ServerApp.jpserver_extensions={'jupyterlab_codeinterp': True}",
                f"--CodeInterp.base_url=http://127.0.0.1:{model_port}/v1", "--CodeInterp.api_key=sk-soak",
                "--CodeInterp.model=scripted-model", f"--CodeInterp.history_dir={os.path.join(self.tmp, 'history')}",
                "--ServerApp.log_level=WARN"]
        if os.geteuid() == 0:
            args.append("--allow-root")
        with open(self.log, "w") as fh:
            self.proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=self.root)
        try:
            wait_port(port, self.proc, "jupyter server", self.log)
        except BaseException:  # leave nothing running behind
            self.close()
            raise
        self.url = f"http://127.0.0.1:{port}/"
        self.ps = psutil.Process(self.proc.pid)

    async def http(self, method: str, path: str, body: object = None) -> dict:
        client = tornado.httpclient.AsyncHTTPClient()
        resp = await client.fetch(self.url + path, method=method, headers={"Authorization": f"token {TOKEN}"},
                                  body=None if body is None else json.dumps(body), request_timeout=120,
                                  allow_nonstandard_methods=True)
        return json.loads(resp.body) if resp.body else {}

    async def ready(self) -> None:
        deadline = time.monotonic() + 120
        while True:  # listening is not ready: on a busy machine the extension may still load
            try:
                await self.http("GET", "codeinterp/config")
                return
            except (OSError, tornado.httpclient.HTTPError) as exc:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"jupyter server not ready: {exc}\n" + open(self.log).read())
                await asyncio.sleep(0.5)

    async def sample(self, trim: bool = False) -> dict[str, float]:
        rss_kib = self.ps.memory_info().rss / 1024  # before the route runs (and trims)
        try:
            counts = await self.http("GET", "codeinterp/debug/resources" + ("?trim=1" if trim else ""))
        except tornado.httpclient.HTTPClientError:  # a server without the route (an older version)
            counts = {"probe_clients": float("nan"), "kernels": float("nan")}
        fds = sockets = 0
        for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.proc.pid}/fd/{fd}")
            except OSError:
                continue
            fds += 1
            sockets += target.startswith("socket:")
        return {"probe_clients": counts["probe_clients"], "kernels": counts["kernels"],
                "threads": self.ps.num_threads(), "fds": fds, "sockets": sockets,
                "rss_kib": rss_kib, **({TRIMMED: counts.get(TRIMMED) or float("nan")} if trim else {})}

    def close(self) -> None:
        stop(self.proc)
        stop(self.model)


class Tab:
    """The browser's half: the chat socket, and the cells it runs in the notebook's kernel."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ws: tornado.websocket.WebSocketClientConnection | None = None
        self.kc = None

    async def open(self) -> None:
        self.ws = await tornado.websocket.websocket_connect(tornado.httpclient.HTTPRequest(
            self.server.url.replace("http://", "ws://") + "codeinterp/chat",
            headers={"Authorization": f"token {TOKEN}"}))
        assert json.loads(await self.ws.read_message())["type"] == "hello"

    async def send(self, msg: dict) -> None:
        assert self.ws is not None
        await self.ws.write_message(json.dumps(msg))

    async def turn(self, chat_id: str, path: str, text: str) -> dict:
        assert self.ws is not None
        await self.send({"type": "prompt", "id": uuid.uuid4().hex[:8], "chat_id": chat_id,
                         "notebook_path": path, "text": text})
        context = None
        while True:
            raw = await asyncio.wait_for(self.ws.read_message(), 120)
            if raw is None:
                raise SystemExit("the server closed the chat socket")
            msg = json.loads(raw)
            if msg["type"] == "executor_request":
                await self.send({"type": "executor_reply", "request_id": msg["request_id"], "ok": True,
                                 "result": {"cells": []}})
            elif msg["type"] == "context_note":
                context = msg
            elif msg["type"] == "turn_end":
                msg["context_note"] = context
                return msg

    async def run_cell(self, kernel_id: str, code: str) -> None:
        from jupyter_client import AsyncKernelClient, find_connection_file

        if self.kc is None:
            kc = AsyncKernelClient(connection_file=find_connection_file(f"kernel-{kernel_id}.json",
                                                                        path=[self.server.runtime]))
            kc.load_connection_file()
            kc.start_channels()
            self.kc = kc
        for attempt in range(10):
            try:  # without a manager the client judges by heartbeats, which a restart pauses
                await self.kc.wait_for_ready(timeout=120)
                break
            except RuntimeError:
                if attempt == 9:
                    raise
                await asyncio.sleep(1)
        reply = await self.kc.execute_interactive(code, timeout=120, allow_stdin=False, output_hook=lambda m: None)
        assert reply["content"]["status"] == "ok", reply["content"]

    def close(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.ws is not None:
            self.ws.close()


async def cycle(server: Server, i: int, restart: bool, chat: bool = True) -> list[str]:
    """One notebook's life; returns problems seen (turns that did not end as they should).

    ``chat=False``: the same without the chat socket and turns (what the server itself keeps).
    """
    path = f"soak/nb{i}.ipynb"
    problems: list[str] = []
    await server.http("PUT", f"api/contents/{path}", {"type": "notebook", "format": "json", "content": NOTEBOOK})
    await server.http("GET", f"api/contents/{path}?content=1")
    tab = Tab(server)
    if chat:
        await tab.open()
    try:
        if chat:
            await tab.send({"type": "history_request", "id": f"h{i}", "notebook_path": path})
        session = await server.http("POST", "api/sessions", {"path": path, "type": "notebook", "name": path,
                                                             "kernel": {"name": "python3"}})
        kernel_id = session["kernel"]["id"]
        await tab.run_cell(kernel_id, f"soak_value = {i}")
        if chat:
            end = await tab.turn(f"soak{i}", path, "What is soak_value?")
            notes = [n for n in (end.get("context_note") or {}).get("notes") or [] if "kernel" in n]
            if end["status"] != "done" or notes:
                problems.append(f"cycle {i}: {end['status']} {notes}")
        if restart:
            await server.http("POST", f"api/kernels/{kernel_id}/restart")
            tab.close()  # its kernel client belongs to the process that was restarted
            if chat:
                await tab.open()
            await tab.run_cell(kernel_id, f"soak_value = {i}")
            if chat:
                end = await tab.turn(f"soak{i}", path, "And after the restart?")
                if end["status"] != "done":
                    problems.append(f"cycle {i} after restart: {end['status']}")
        await server.http("DELETE", f"api/sessions/{session['id']}")
    finally:
        tab.close()
    return problems


def slope(ys: list[float]) -> float:
    """Least-squares slope of ys over 0, 1, 2, ..."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx = (n - 1) / 2
    my = statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in enumerate(ys)) / sum((x - mx) ** 2 for x in range(n))


async def diagnose(server: Server, i: int, top: int, traces: bool) -> None:
    """Print what grew in the server's Python heap since the previous call (--diagnose)."""
    data = await server.http("GET", f"codeinterp/debug/resources?types={top}&tracemalloc={top if traces else 0}")
    print(f"--- after cycle {i + 1}: object types whose count changed most since the last look")
    for name, n, d in data.get("types", []):
        print(f"  {d:+7d} {n:8d}  {name}")
    for name, n, cancelled, due in data.get("scheduled", []):
        print(f"  timers {n:5d} ({cancelled} cancelled, the last due in {due:.0f} s)  {name}")
    for stat in data.get("tracemalloc", []):
        where = " <- ".join(reversed(stat["traceback"][-4:]))
        print(f"  {stat['size_diff']:+9d} B {stat['count_diff']:+6d} blocks  {where}")


async def soak(args: argparse.Namespace) -> None:
    env = dict(kv.split("=", 1) for kv in args.env)
    server = Server(args.port, args.model_port, env)
    looks = {int(c) for c in args.diagnose.split(",") if c.strip()}
    metrics = METRICS + ((TRIMMED,) if args.trim else ())
    try:
        await server.ready()
        await asyncio.sleep(2)
        start = await server.sample(args.trim)
        if looks:
            await diagnose(server, -1, args.diagnose_top, args.tracemalloc)
        print(f"server pid {server.proc.pid}; at start: " + ", ".join(f"{k} {v:.0f}" for k, v in start.items()),
              flush=True)
        rows: list[dict[str, float]] = []
        problems: list[str] = []
        t0 = time.monotonic()
        for i in range(args.cycles):
            problems += await cycle(server, i, restart=args.restart_every > 0 and i % args.restart_every == 0,
                                    chat=not args.no_chat)
            await asyncio.sleep(args.settle)  # let the shut-down kernel's process and sockets go
            row = await server.sample(args.trim)
            if i + 1 in looks:
                await diagnose(server, i, args.diagnose_top, args.tracemalloc)
            rows.append(row)
            if i % args.print_every == 0 or i == args.cycles - 1:
                print(f"cycle {i + 1:4d} ({time.monotonic() - t0:6.0f} s): "
                      + ", ".join(f"{k} {row[k]:.0f}" for k in ("kernels",) + metrics), flush=True)
        half = rows[len(rows) // 2:]
        print(f"\n{args.cycles} cycles in {time.monotonic() - t0:.0f} s (kernel restarted every "
              f"{args.restart_every} cycles); slope per cycle over the last {len(half)} (least squares):")
        print(f"{'metric':15} {'start':>9} {'end':>9} {'slope/cycle':>12} {'per 100':>9}  verdict")
        for key in metrics:
            ys = [r[key] for r in half]
            s = slope(ys)
            flat = s < args.rss_flat_kib if key.startswith("rss") else s * 100 < 1
            verdict = "n/a" if s != s else "flat" if flat else "GROWING"  # nan: not measured
            print(f"{key:15} {start[key]:9.0f} {rows[-1][key]:9.0f} {s:12.3f} {s * 100:9.1f}  {verdict}")
        if problems:
            print(f"\n{len(problems)} turns did not go as expected, e.g.: " + "; ".join(problems[:3]))
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"start": start, "rows": rows, "problems": problems}, fh)
    finally:
        server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=200)
    p.add_argument("--restart-every", type=int, default=4, help="restart the kernel in every Nth cycle (0: never)")
    p.add_argument("--settle", type=float, default=0.3, help="seconds after each cycle before sampling")
    p.add_argument("--rss-flat-kib", type=float, default=16.0, help="RSS slope (KiB/cycle) still called flat")
    p.add_argument("--port", type=int, default=8870)
    p.add_argument("--model-port", type=int, default=8871)
    p.add_argument("--print-every", type=int, default=10)
    p.add_argument("--json", default="", help="write every sample here")
    p.add_argument("--trim", action="store_true",
                   help="also sample RSS after malloc_trim(0) in the server (glibc; the debug route)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="set in the server's environment, e.g. MALLOC_ARENA_MAX=2")
    p.add_argument("--diagnose", default="", metavar="C1,C2,...",
                   help="after these cycles print the object types, the event loop's timers and "
                        "(--tracemalloc) the allocation tracebacks that grew since the previous look")
    p.add_argument("--diagnose-top", type=int, default=15)
    p.add_argument("--tracemalloc", action="store_true",
                   help="with --diagnose: also the allocation tracebacks that grew (tracing starts at "
                        "the first look and costs memory and time itself)")
    p.add_argument("--no-chat", action="store_true",
                   help="notebooks and kernels only, no chat socket or turn (the server's own baseline)")
    asyncio.run(soak(p.parse_args()))


if __name__ == "__main__":
    main()
