"""Load: N concurrent chats streaming from the scripted model against one real jupyter server.

Three processes, so the measured server's event loop is honest: the scripted
OpenAI-compatible model (tests/scripted_model.py), the jupyter server with the extension
(started with CODEINTERP_DEBUG_LOOP_LAG=1, so it samples its own loop lag and serves it at
``GET codeinterp/debug/loop-lag``), and this script, which plays N browser tabs: one chat
socket per chat, each sending prompts, answering the server's ``read_cells`` request and
reading the streamed answer to its ``turn_end``.

Reports (no asserts): the server's event-loop lag p50/p99/max while the chats stream,
server memory per chat (RSS peak during the run minus RSS before the sockets opened, over
N), throughput (turns/s, streamed chunks/s), and time to the first streamed chunk.

    .venv/bin/python bench/bench_load.py --chats 200 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import psutil
import tornado.httpclient
import tornado.websocket

from processes import free_port, wait_port, stop

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
TOKEN = "bench-" + uuid.uuid4().hex[:12]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    data = sorted(values)
    return data[min(len(data) - 1, int(p * len(data)))]


async def http(method: str, url: str, body: object = None, token: bool = True) -> dict:
    client = tornado.httpclient.AsyncHTTPClient()
    headers = {"Authorization": f"token {TOKEN}"} if token else {}
    resp = await client.fetch(url, method=method, headers=headers,
                              body=None if body is None else json.dumps(body), request_timeout=60)
    return json.loads(resp.body) if resp.body else {}


class Chat:
    def __init__(self, server_url: str, index: int) -> None:
        self.url = server_url.replace("http://", "ws://") + "codeinterp/chat"
        self.chat_id = f"load{index}"
        self.notebook = f"load/nb{index}.ipynb"
        self.ws: tornado.websocket.WebSocketClientConnection | None = None
        self.chunks = 0
        self.turns = 0
        self.first_chunk: list[float] = []
        self.turn_times: list[float] = []
        self.errors: list[str] = []

    async def connect(self) -> None:
        self.ws = await tornado.websocket.websocket_connect(tornado.httpclient.HTTPRequest(
            self.url, headers={"Authorization": f"token {TOKEN}"}), max_message_size=64 << 20)
        hello = json.loads(await self.ws.read_message())
        assert hello["type"] == "hello"

    async def run(self, rounds: int, think: float = 0.0) -> None:
        assert self.ws is not None
        for r in range(rounds):
            if think:  # a person reads, then types the next prompt
                await asyncio.sleep(random.uniform(0, think))
            t0 = time.perf_counter()
            first = None
            await self.ws.write_message(json.dumps({"type": "prompt", "id": f"p{r}", "chat_id": self.chat_id,
                                                    "notebook_path": self.notebook, "text": f"question {r}"}))
            while True:
                raw = await self.ws.read_message()
                if raw is None:
                    self.errors.append("socket closed")
                    return
                msg = json.loads(raw)
                kind = msg["type"]
                if kind == "text_delta":
                    self.chunks += 1
                    if first is None:
                        first = time.perf_counter() - t0
                elif kind == "executor_request":
                    await self.ws.write_message(json.dumps({"type": "executor_reply", "request_id": msg["request_id"],
                                                            "ok": True, "result": {"cells": []}}))
                elif kind == "error":
                    self.errors.append(f"{msg['code']}: {msg['message'][:120]}")
                elif kind == "turn_end":
                    self.turns += 1
                    self.turn_times.append(time.perf_counter() - t0)
                    if first is not None:
                        self.first_chunk.append(first)
                    break

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


async def sample_rss(proc: psutil.Process, out: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            out.append(sum(p.memory_info().rss for p in [proc]))
        except psutil.Error:
            return
        await asyncio.sleep(0.1)


async def bench(args: argparse.Namespace, server_url: str, model_url: str, server_pid: int) -> dict:
    # the model: one streamed answer per turn, `chunks` pieces, `delay` seconds apart
    words = " ".join(f"w{i:03d}" for i in range(args.chunks))
    reply = {"text": words, "chunk_size": 5, "delay": args.delay, "finish_reason": "stop"}
    await http("POST", model_url + "/_control/script",
               {"replies": [reply] * (args.chats * args.rounds + 10)}, token=False)
    proc = psutil.Process(server_pid)

    await http("GET", server_url + "codeinterp/debug/loop-lag?reset=1")
    await asyncio.sleep(args.idle)
    idle = await http("GET", server_url + "codeinterp/debug/loop-lag?reset=1")
    rss_before = proc.memory_info().rss

    chats = [Chat(server_url, i) for i in range(args.chats)]
    for i in range(0, len(chats), 50):  # open sockets in batches (a page load opens one)
        await asyncio.gather(*(c.connect() for c in chats[i:i + 50]))
    rss_connected = proc.memory_info().rss

    rss: list[int] = []
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(sample_rss(proc, rss, stop))
    cpu0 = proc.cpu_times()
    await http("GET", server_url + "codeinterp/debug/loop-lag?reset=1")
    t0 = time.perf_counter()
    await asyncio.gather(*(c.run(args.rounds, args.think) for c in chats))
    elapsed = time.perf_counter() - t0
    lag = await http("GET", server_url + "codeinterp/debug/loop-lag")
    cpu1 = proc.cpu_times()
    stop.set()
    await sampler
    for c in chats:
        c.close()
    await asyncio.sleep(1)
    rss_after = proc.memory_info().rss

    turns = sum(c.turns for c in chats)
    chunks = sum(c.chunks for c in chats)
    firsts = [x for c in chats for x in c.first_chunk]
    turn_times = [x for c in chats for x in c.turn_times]
    errors = [e for c in chats for e in c.errors]
    peak = max(rss) if rss else rss_connected
    return {
        "chats": args.chats, "rounds": args.rounds, "chunks_per_answer": len(words) // 5 + 1,
        "chunk_delay_ms": args.delay * 1000, "elapsed_s": elapsed, "think_s": args.think,
        "idle_lag": idle, "lag": lag, "turns": turns, "turns_per_s": turns / elapsed,
        "frames": chunks, "frames_per_s": chunks / elapsed,
        "model_chunks_per_s": turns * (len(words) // 5 + 1) / elapsed,
        # Little's law: the mean number of turns in flight (streaming or starting)
        "mean_turns_in_flight": sum(turn_times) / elapsed,
        "first_chunk_p50_ms": pct(firsts, 0.5) * 1000, "first_chunk_p99_ms": pct(firsts, 0.99) * 1000,
        "turn_p50_s": pct(turn_times, 0.5), "turn_p99_s": pct(turn_times, 0.99),
        "rss_before_mib": rss_before / 2**20, "rss_connected_mib": rss_connected / 2**20,
        "rss_peak_mib": peak / 2**20, "rss_after_mib": rss_after / 2**20,
        "per_chat_kib": (peak - rss_before) / args.chats / 1024,
        "per_socket_kib": (rss_connected - rss_before) / args.chats / 1024,
        "server_cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        "errors": errors[:5], "error_count": len(errors),
    }


def report(r: dict) -> None:
    lag, idle = r["lag"], r["idle_lag"]
    print(f"\n{r['chats']} concurrent chats x {r['rounds']} turns, {r['chunks_per_answer']} streamed chunks "
          f"per answer, {r['chunk_delay_ms']:.0f} ms apart, think time 0..{r['think_s']:g} s")
    print(f"  event-loop lag while streaming: p50 {lag['p50_ms']:.2f} ms, p99 {lag['p99_ms']:.2f} ms, "
          f"p99.9 {lag['p999_ms']:.2f} ms, max {lag['max_ms']:.1f} ms ({lag['samples']} samples)")
    print(f"  event-loop lag idle:            p50 {idle['p50_ms']:.2f} ms, p99 {idle['p99_ms']:.2f} ms")
    print(f"  server: model streams read {'on the model I/O thread' if lag.get('model_io_thread') else 'on its loop'}"
          f", thread switch interval {lag.get('switch_interval', float('nan')) * 1000:g} ms")
    print(f"  throughput: {r['turns_per_s']:.1f} turns/s, {r['model_chunks_per_s']:.0f} model chunks/s streamed, "
          f"{r['frames_per_s']:.0f} text frames/s to the tabs ({r['turns']} turns, {r['frames']} text frames in "
          f"{r['elapsed_s']:.1f} s; server CPU {r['server_cpu_s']:.1f} s); "
          f"{r['mean_turns_in_flight']:.0f} turns in flight on average")
    print(f"  first chunk after the prompt: p50 {r['first_chunk_p50_ms']:.0f} ms, p99 {r['first_chunk_p99_ms']:.0f} ms; "
          f"turn p50 {r['turn_p50_s']:.2f} s, p99 {r['turn_p99_s']:.2f} s")
    print(f"  server RSS: {r['rss_before_mib']:.0f} MiB before, {r['rss_connected_mib']:.0f} MiB with the sockets open, "
          f"{r['rss_peak_mib']:.0f} MiB peak, {r['rss_after_mib']:.0f} MiB after")
    print(f"  memory per chat: {r['per_chat_kib']:.0f} KiB at peak ({r['per_socket_kib']:.0f} KiB per open socket)")
    verdict = "PASS" if lag["p99_ms"] <= 20 else "FAIL"
    print(f"  target p99 loop lag <= 20 ms: {verdict}")
    if r["error_count"]:
        print(f"  ERRORS: {r['error_count']}, e.g. {r['errors']}")


#: server configurations --compare can run (CodeInterp options)
CONFIGS = {
    "thread+gil1ms": {"model_io_thread": True, "gil_switch_interval": 0.001},
    "thread": {"model_io_thread": True, "gil_switch_interval": 0},
    "loop": {"model_io_thread": False, "gil_switch_interval": 0},
}


class Stack:
    """The scripted model and, per configuration, one jupyter server (see the module doc)."""

    def __init__(self, pin: bool, server_nice: int = 0) -> None:
        self.server_nice = server_nice
        self.tmp = tempfile.mkdtemp(prefix="codeinterp-load-")
        self.model_port = free_port()
        self.model = subprocess.Popen([sys.executable, os.path.join(TESTS, "scripted_model.py"),
                                       "--port", str(self.model_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.cpus = cpus
        self.pinned = pin and len(cpus) >= 2
        if self.pinned:  # a load generator must not steal the measured server's core
            os.sched_setaffinity(self.model.pid, set(cpus[1:]))
            os.sched_setaffinity(0, set(cpus[1:]))
        wait_port(self.model_port, self.model, "scripted model")
        self.model_url = f"http://127.0.0.1:{self.model_port}"
        self.server: subprocess.Popen | None = None

    def start_server(self, options: dict) -> str:
        """A jupyter server with the extension and these CodeInterp options; its URL."""
        self.stop_server()
        port = free_port()
        root = tempfile.mkdtemp(dir=self.tmp, prefix="root-")
        os.makedirs(os.path.join(root, "load"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CODEINTERP"))}
        env.update({"CODEINTERP_DEBUG_LOOP_LAG": "1", "JUPYTER_CONFIG_DIR": os.path.join(self.tmp, "config"),
                    "JUPYTER_RUNTIME_DIR": os.path.join(self.tmp, "runtime"), "JUPYTER_PLATFORM_DIRS": "1"})
        self.log = os.path.join(root, "server.log")
        server_args = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                       f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
                       "--ServerApp.jpserver_extensions={'jupyterlab_codeinterp': True}",
                       f"--CodeInterp.base_url={self.model_url}/v1", "--CodeInterp.api_key=sk-bench",
                       "--CodeInterp.model=scripted-model", f"--CodeInterp.history_dir={os.path.join(root, '.history')}",
                       "--CodeInterp.request_timeout=120", "--ServerApp.log_level=WARN"]
        server_args += [f"--CodeInterp.{k}={v}" for k, v in options.items()]
        if os.geteuid() == 0:
            server_args.append("--allow-root")
        with open(self.log, "w") as fh:
            nice = self.server_nice
            self.server = subprocess.Popen(server_args, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=root,
                                           preexec_fn=(lambda: os.nice(nice)) if nice else None)
        if self.pinned:
            os.sched_setaffinity(self.server.pid, {self.cpus[0]})
        wait_port(port, self.server, "jupyter server", self.log)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 90
        while True:  # listening is not ready: on a busy machine the extension may still load
            try:
                asyncio.run(http("GET", url + "codeinterp/debug/loop-lag"))
                break
            except (OSError, tornado.httpclient.HTTPError) as exc:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    raise SystemExit(f"jupyter server not ready: {exc}\n" + open(self.log).read())
                time.sleep(0.5)
        time.sleep(1.0)
        return url

    def stop_server(self) -> None:
        if self.server is not None:
            stop(self.server)
            self.server = None

    def close(self) -> None:
        self.stop_server()
        stop(self.model)

    def describe(self) -> str:
        return (f"cores: {os.cpu_count()}, python {sys.version.split()[0]}; client, model and server are separate "
                "processes; " + (f"server pinned to CPU {self.cpus[0]}, model and client to {self.cpus[1:]}"
                                 if self.pinned else "not pinned")
                + (f"; server at nice {self.server_nice:+d}" if self.server_nice else ""))


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """median (min–max) of repeated runs"""
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def compare(args: argparse.Namespace, stack: Stack) -> None:
    """Each configuration ``--repeats`` times, interleaved (noise on a shared machine hits all
    of them alike), every chat count per server; then medians and spread per cell."""
    results: dict[tuple[str, int], list[dict]] = {}
    loads: list[float] = []
    for rep in range(args.repeats):
        for name in args.compare:
            server_url = stack.start_server(CONFIGS[name])
            for n in args.chats:
                loads.append(os.getloadavg()[0])
                args_n = argparse.Namespace(**{**vars(args), "chats": n})
                r = asyncio.run(bench(args_n, server_url, stack.model_url, stack.server.pid))
                results.setdefault((name, n), []).append(r)
                print(f"run {rep + 1}/{args.repeats} {name:14s} {n:4d} chats: p99 {r['lag']['p99_ms']:.2f} ms, "
                      f"p50 {r['lag']['p50_ms']:.2f} ms, max {r['lag']['max_ms']:.1f} ms, "
                      f"{r['turns_per_s']:.1f} turns/s, server CPU {r['server_cpu_s']:.1f} s, "
                      f"load avg {loads[-1]:.1f}; switch interval {r['lag'].get('switch_interval', 0) * 1000:g} ms"
                      + (f", {r['error_count']} ERRORS" if r["error_count"] else ""),
                      flush=True)
            stack.stop_server()
    print(f"\n{args.repeats} runs per cell, median (min–max); lockstep, {args.rounds} turns per chat, "
          f"{args.chunks} chunks per answer {args.delay * 1000:.0f} ms apart; 1-minute load average during the "
          f"runs {min(loads):.1f}–{max(loads):.1f}")
    print("| chats | configuration | loop lag p99 ms | p50 ms | p99.9 ms | server CPU ms per turn | "
          "first chunk p50 ms | turns/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in args.chats:
        for name in args.compare:
            rs = results[(name, n)]
            print(f"| {n} | {name} | {spread([r['lag']['p99_ms'] for r in rs])} | "
                  f"{spread([r['lag']['p50_ms'] for r in rs], '{:.2f}')} | "
                  f"{spread([r['lag']['p999_ms'] for r in rs])} | "
                  f"{spread([r['server_cpu_s'] * 1000 / max(1, r['turns']) for r in rs])} | "
                  f"{spread([r['first_chunk_p50_ms'] for r in rs], '{:.0f}')} | "
                  f"{spread([r['turns_per_s'] for r in rs], '{:.2f}')} |")
    if args.json:
        print(json.dumps({f"{k[0]}/{k[1]}": v for k, v in results.items()}, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chats", type=int, nargs="+", default=[200])
    p.add_argument("--rounds", type=int, default=3, help="turns per chat")
    p.add_argument("--chunks", type=int, default=100, help="streamed chunks (~tokens) per answer")
    p.add_argument("--delay", type=float, default=0.02, help="seconds between chunks (50 tokens/s)")
    p.add_argument("--think", type=float, default=0.0,
                   help="each prompt waits a random 0..THINK s first (0: all chats in lockstep, the worst case)")
    p.add_argument("--idle", type=float, default=2.0, help="seconds of idle loop-lag baseline")
    p.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="let the OS place the processes (default: the server gets CPU 0 to itself, "
                        "the scripted model and this load generator share the other CPUs)")
    p.add_argument("--model-io-thread", choices=["on", "off"], default=None,
                   help="CodeInterp.model_io_thread for the server (default: the shipped default, off)")
    p.add_argument("--model-on-main-loop", action="store_true", help="the same as --model-io-thread off")
    p.add_argument("--gil-switch-interval", type=float, default=None,
                   help="CodeInterp.gil_switch_interval for the server (default: the shipped default)")
    p.add_argument("--compare", nargs="+", choices=sorted(CONFIGS), metavar="CONFIG",
                   help=f"compare server configurations ({', '.join(CONFIGS)}), each --repeats times")
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration with --compare")
    p.add_argument("--server-nice", type=int, default=0,
                   help="start the server at this nice value (negative, as root: other work on a shared "
                        "machine then preempts the measured server less)")
    args = p.parse_args()

    stack = Stack(args.pin, args.server_nice)
    try:
        print(stack.describe(), flush=True)
        if args.compare:
            compare(args, stack)
            return
        options: dict = {}
        if args.model_io_thread or args.model_on_main_loop:
            options["model_io_thread"] = args.model_io_thread == "on" and not args.model_on_main_loop
        if args.gil_switch_interval is not None:
            options["gil_switch_interval"] = args.gil_switch_interval
        server_url = stack.start_server(options)
        print("server options: " + (", ".join(f"{k}={v}" for k, v in options.items()) or "as shipped"))
        for n in args.chats:
            args_n = argparse.Namespace(**{**vars(args), "chats": n})
            result = asyncio.run(bench(args_n, server_url, stack.model_url, stack.server.pid))
            report(result)
            if args.json:
                print(json.dumps(result, indent=1))
    finally:
        stack.close()


if __name__ == "__main__":
    main()
