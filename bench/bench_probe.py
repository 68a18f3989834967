"""Benchmark: the kernel probe vs a naive inspector on a heavy namespace.

Starts a real ipykernel, builds the namespace of issue 2 in it, then times both
over N runs (each a silent execute through user_expressions from the server side,
i.e. the full round trip the server pays) and prints medians and output sizes.

    .venv/bin/python bench/bench_probe.py [--runs 15] [--max-bytes 16000]

Targets: probe median <= 50 ms, output <= 16 KB, every DataFrame named with its
shape and columns. Exit code 1 when a target is missed (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jupyter_client.manager import AsyncKernelManager  # noqa: E402

from jupyterlab_codeinterp.context.kernel_probe import probe_kernel  # noqa: E402
from jupyterlab_codeinterp.context.probe_clients import new_probe_client  # noqa: E402
from jupyterlab_codeinterp.context.probe_render import render_probe  # noqa: E402

HEAVY_NAMESPACE = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
n = 2_000_000
sales = pd.DataFrame({f"m{i}": rng.random(n) for i in range(20)})
sales["region"] = pd.Categorical(rng.choice(["north", "south", "east", "west"], n))
wide = pd.DataFrame(rng.random((500, 5000)), columns=[f"feature_{j}" for j in range(5000)])
signal = rng.random(10_000_000)
ids = list(range(3_000_000))
lookup = {f"key{i}": i for i in range(500_000)}
corpus = "lorem ipsum " * 2_000_000
for _k in range(1000):
    globals()[f"cfg_{_k}"] = {"id": _k, "name": f"item{_k}", "enabled": True}
del _k
"""
FRAMES = {"sales": (2_000_000, 21), "wide": (500, 5000)}

# What a straightforward inspector does: JSON-dump every global, five sample values per
# DataFrame column, repr() of everything else (cut to 200 characters after the fact).
NAIVE = r"""
(lambda: __import__('json').dumps({
    k: ({"type": "DataFrame", "shape": list(v.shape),
         "columns": {str(c): {"dtype": str(v[c].dtype), "sample": v[c].head(5).tolist()}
                     for c in v.columns}}
        if type(v).__name__ == "DataFrame" else
        {"type": type(v).__name__, "repr": repr(v)[:200]})
    for k, v in list(globals().items())
    if not k.startswith('_') and k not in ('In', 'Out', 'get_ipython', 'exit', 'quit')
       and type(v).__name__ != 'module'
}, default=str))()
"""


async def timed_naive(client, timeout: float = 120) -> tuple[float, int]:
    t0 = time.perf_counter()
    reply = await client.execute("", silent=True, store_history=False, allow_stdin=False,
                                 user_expressions={"naive": NAIVE}, reply=True, timeout=timeout)
    elapsed = (time.perf_counter() - t0) * 1000.0
    value = reply["content"]["user_expressions"]["naive"]
    if value.get("status") != "ok":
        raise RuntimeError(f"naive inspector failed: {value.get('ename')}: {value.get('evalue')}")
    text = ast.literal_eval(value["data"]["text/plain"])
    return elapsed, len(text.encode("utf-8"))


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--max-bytes", type=int, default=16000)
    ap.add_argument("--show", action="store_true", help="print the rendered probe text")
    args = ap.parse_args()

    km = AsyncKernelManager()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        t0 = time.perf_counter()
        reply = await kc.execute(HEAVY_NAMESPACE, reply=True, timeout=600)
        assert reply["content"]["status"] == "ok", reply["content"]
        print(f"heavy namespace built in {time.perf_counter() - t0:.1f} s")
        pc = new_probe_client(km)

        await probe_kernel(pc, timeout=30, max_bytes=args.max_bytes)  # warm-up (first call, imports)
        probe_ms, probe_bytes, kernel_ms = [], [], []
        result = None
        for _ in range(args.runs):
            result = await probe_kernel(pc, timeout=30, max_bytes=args.max_bytes)
            if not result.ok:
                print(f"probe failed: {result.note}")
                return 1
            probe_ms.append(result.elapsed_ms)
            kernel_ms.append(result.kernel_ms or 0.0)
            probe_bytes.append(result.bytes)
        naive_ms, naive_bytes = [], []
        for _ in range(args.runs):
            ms, nbytes = await timed_naive(kc)
            naive_ms.append(ms)
            naive_bytes.append(nbytes)
        pc.stop_channels()
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)

    assert result is not None
    text = render_probe(result)
    med = statistics.median
    print()
    print(f"{'':24} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'output bytes':>13}")
    print(f"{'probe (round trip)':24} {med(probe_ms):10.1f} {min(probe_ms):8.1f} {max(probe_ms):8.1f} "
          f"{int(med(probe_bytes)):13,}")
    print(f"{'  of which in kernel':24} {med(kernel_ms):10.1f} {min(kernel_ms):8.1f} {max(kernel_ms):8.1f}")
    print(f"{'naive inspector':24} {med(naive_ms):10.1f} {min(naive_ms):8.1f} {max(naive_ms):8.1f} "
          f"{int(med(naive_bytes)):13,}")
    print(f"rendered for the model: {len(text.encode()):,} bytes")
    if args.show:
        print()
        print(text)

    by_name = {v["name"]: v for v in result.variables}
    checks = [(f"probe median {med(probe_ms):.1f} ms <= 50 ms", med(probe_ms) <= 50.0),
              (f"probe output {max(probe_bytes):,} B <= {args.max_bytes:,} B",
               max(probe_bytes) <= args.max_bytes)]
    for name, shape in FRAMES.items():
        v = by_name.get(name, {})
        ok = v.get("shape") == list(shape) and bool(v.get("columns"))
        checks.append((f"DataFrame {name} named with shape {shape} and columns", ok))
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(load average {load:.2f} on {os.cpu_count()} CPUs)")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
