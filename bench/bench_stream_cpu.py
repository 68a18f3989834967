"""CPU per streamed token of our model client, per HTTP transport of the openai SDK.

N concurrent answers stream from the scripted OpenAI-compatible model (its own process,
on another CPU when there are two) into ``ModelClient.stream`` in this process, which
is pinned to one CPU; the process's CPU time over the tokens received is the client's
cost per token: socket reads, HTTP framing, SSE decoding, our bookkeeping.  This is the
work that `llm/io_loop.py` moves off jupyter_server's loop and that `http_backend`
chooses.  No asserts; it prints numbers.

    .venv/bin/python bench/bench_stream_cpu.py --streams 200 --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request

from bench_load import free_port, wait_port  # this folder: run as a script

from jupyterlab_codeinterp.config import CodeInterp
from jupyterlab_codeinterp.llm.client import ModelClient

HERE = os.path.dirname(os.path.abspath(__file__))


async def run(base_url: str, backend: str, streams: int, rounds: int) -> dict:
    cfg = CodeInterp(base_url=base_url, api_key="sk-bench", model="scripted-model",
                     request_timeout=120, http_backend=backend)
    async with ModelClient(cfg) as client:
        assert client.http_backend == backend, f"{backend} is not available"
        chunks = [0]

        def on_text(_: str) -> None:
            chunks[0] += 1

        async def chat() -> None:
            for _ in range(rounds):
                await client.stream([{"role": "user", "content": "go"}], on_text=on_text)

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(chat() for _ in range(streams)))
        return {"backend": backend, "cpu_s": time.process_time() - cpu0,
                "wall_s": time.perf_counter() - t0, "answers": streams * rounds, "chunks": chunks[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--chunks", type=int, default=100, help="chunks per answer")
    p.add_argument("--delay", type=float, default=0.05, help="seconds between chunks")
    p.add_argument("--backends", nargs="+", default=["httpx", "aiohttp"])
    args = p.parse_args()

    port = free_port()
    model = subprocess.Popen([sys.executable, os.path.join(HERE, "..", "tests", "scripted_model.py"),
                              "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[0]})
        os.sched_setaffinity(model.pid, set(cpus[1:]))
    try:
        wait_port(port, model, "scripted model")
        words = " ".join(f"w{i:03d}" for i in range(args.chunks))
        reply = {"text": words, "chunk_size": 5, "delay": args.delay, "finish_reason": "stop"}
        print(f"{args.streams} concurrent answers x {args.rounds}, {args.chunks} chunks each, "
              f"{args.delay * 1000:.0f} ms apart; client pinned to CPU {cpus[0] if cpus else '?'}")
        for backend in args.backends:
            body = json.dumps({"replies": [reply] * (args.streams * args.rounds + 5)}).encode()
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/_control/script", data=body, method="POST"))
            r = asyncio.run(run(f"http://127.0.0.1:{port}/v1", backend, args.streams, args.rounds))
            per_chunk = r["cpu_s"] / max(1, r["answers"] * args.chunks) * 1e6
            print(f"  {backend:8s} CPU {r['cpu_s']:.2f} s in {r['wall_s']:.1f} s for {r['answers']} answers: "
                  f"{per_chunk:.0f} us per streamed chunk, {r['cpu_s'] / r['answers'] * 1000:.1f} ms per answer")
    finally:
        model.terminate()
        model.wait(10)


if __name__ == "__main__":
    main()
