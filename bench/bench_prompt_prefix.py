"""Prompt reuse on a real llama.cpp server: two turns of three requests each, as the agent
sends them, now and with the history of before (requests kept without their context).

llama.cpp's servers (llama-cpp-python's and llama-server) keep the last prompt's tokens
and read again only from the first token that differs, so what a request costs is the
part of its prompt that is new.  Each request here asks for one token (``max_tokens=1``),
so its time is the time to read the prompt; ``usage.prompt_tokens`` is the whole prompt.
The conversation is fixed (the code, outputs and answers a model gave on this task), so
both orders send the same text and differ only in what later turns keep of earlier ones:

* ``now``: the chat keeps each request as sent, context included, so turn 2's prompt
  starts with everything turn 1 sent;
* ``before``: the chat kept each request without its context (the earlier behaviour), so
  turn 2's prompt differs from turn 1's right after the system prompt.

A request with another system prompt goes first in each run, so no order starts with the
other's prompt cached.  The server must not serve anyone else meanwhile (another user's
request replaces the cached prompt).  No asserts; it prints numbers.

    .venv/bin/python bench/bench_prompt_prefix.py --base-url http://127.0.0.1:8080/v1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import urllib.request
from typing import Any

from jupyterlab_codeinterp.agent import prompts
from jupyterlab_codeinterp.agent.codeblocks import CODEBLOCK_INSTRUCTIONS, compact_system_prompt
from jupyterlab_codeinterp.agent.tools import TOOL_SPECS
from jupyterlab_codeinterp.agent.window import stable_window
from jupyterlab_codeinterp.config import CodeInterp
from jupyterlab_codeinterp.context.gather import gather_context
from jupyterlab_codeinterp.context.tokens import estimate_messages_tokens
from jupyterlab_codeinterp.llm.client import ModelClient
from jupyterlab_codeinterp.llm.messages import wire_messages

SALES = "region,units,price\n" + "".join(
    f"{r},{u},{p}\n" for r, u, p in [("North", 10, 2.5), ("South", 4, 10.0), ("North", 6, 2.5),
                                     ("East", 3, 4.0), ("South", 1, 10.0), ("East", 10, 4.0)] * 5)

LOAD = "import pandas as pd\ndf = pd.read_csv('sales.csv')\ndf.head()"
LOAD_OUT = ("status: ok\noutput:\n  region  units  price\n0  North     10    2.5\n"
            "1  South      4   10.0\n2  North      6    2.5\n3   East      3    4.0\n"
            "4  South      1   10.0")
TOTALS = "totals = df.groupby('region')['units'].sum()\nprint(totals.sort_values())"
TOTALS_OUT = "status: ok\noutput:\nregion\nSouth    25\nEast     65\nNorth    80\nName: units, dtype: int64"
REVENUE = "df['revenue'] = df['units'] * df['price']\nrevenue = df.groupby('region')['revenue'].sum()\nprint(revenue)"
REVENUE_OUT = "status: ok\noutput:\nregion\nEast     260.0\nNorth    200.0\nSouth    250.0\nName: revenue, dtype: float64"
SHARE = "print((revenue / revenue.sum() * 100).round(1))"
SHARE_OUT = "status: ok\noutput:\nregion\nEast     36.1\nNorth    27.8\nSouth    34.7\nName: revenue, dtype: float64"

TURNS = [
    ("Load sales.csv and tell me which region sold the most units.",
     [(LOAD, LOAD_OUT), (TOTALS, TOTALS_OUT)], "North sold the most units (80)."),
    ("Which region brings the most revenue, and what share of the total?",
     [(REVENUE, REVENUE_OUT), (SHARE, SHARE_OUT)], "East: 260.0, 36.1% of the revenue."),
]


def cell(source: str, output: str, n: int) -> dict:
    text = output.split("output:\n", 1)[-1]
    return {"cell_type": "code", "id": f"c{n}", "source": source, "execution_count": n,
            "metadata": {"codeinterp": {"generated": True}},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}


async def context(root: str, cells: list[dict]) -> str:
    ctx = await gather_context(root_dir=root, notebook_path="sales.ipynb", kernel_client=None,
                               cells=cells, token_budget=6000, probe_timeout=1,
                               probe_max_bytes=16000)
    return ctx.text


async def requests_of(order: str, root: str, system: str) -> list[list[dict[str, Any]]]:
    """The message lists the agent sends for the two turns, in ``order``."""
    history: list[dict[str, Any]] = []
    cells: list[dict] = []
    out = []
    for t, (prompt, steps, answer) in enumerate(TURNS):
        text = prompts.user_message(prompt, await context(root, cells), None, history)
        user = {"role": "user", "content": text, "turn_start": True}
        conversation = stable_window(list(history), 12000) + [user]
        kept = dict(user) if order == "now" else \
            {"role": "user", "content": f"User request:\n{prompt}", "turn_start": True}
        new = [kept]
        for i, (code, result) in enumerate(steps):
            out.append([{"role": "system", "content": system}] + conversation)
            call = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{t}_{i}", "type": "function",
                 "function": {"name": "run_code", "arguments": json.dumps({"code": code})}}]}
            tool = {"role": "tool", "tool_call_id": f"call_{t}_{i}",
                    "content": prompts.workspace_data("cell-output", result)}
            conversation += [call, tool]
            new += [call, tool]
            cells.append(cell(code, result, len(cells) + 1))
        out.append([{"role": "system", "content": system}] + conversation)
        new.append({"role": "assistant", "content": answer})
        history += new
    return out


def unshared(previous: list[dict], messages: list[dict]) -> int:
    """Estimated tokens of ``messages`` from the first message that differs from
    ``previous`` on: what a server that reuses the previous prompt has to read."""
    wire = wire_messages(messages, codeblocks=False)
    before = wire_messages(previous, codeblocks=False)
    same = 0
    while same < min(len(wire), len(before)) and wire[same] == before[same]:
        same += 1
    return estimate_messages_tokens(wire[same:])


async def measure(base_url: str, model: str, order: str, style: str) -> list[dict]:
    cfg = CodeInterp(base_url=base_url, model=model, api_key="", max_tokens=1, temperature=0.0,
                     request_timeout=1800, max_retries=0)
    system = compact_system_prompt(codeblocks=False) if style == "compact" else \
        prompts.system_prompt(mode="chat", codeblocks=False,
                              codeblock_instructions=CODEBLOCK_INSTRUCTIONS)
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "sales.csv"), "w") as fh:
            fh.write(SALES)
        batches = await requests_of(order, root, system)
    rows = []
    async with ModelClient(cfg, protocol="tools") as client:
        # another prompt first: neither order starts with its own prompt cached
        await client.stream([{"role": "system", "content": f"Reset {time.time()}."},
                             {"role": "user", "content": "Say OK."}], tools=None)
        previous: list[dict] = []
        for n, messages in enumerate(batches, 1):
            fresh = unshared(previous, messages)
            previous = messages
            started = time.perf_counter()
            reply = await client.stream(messages, tools=TOOL_SPECS)
            seconds = time.perf_counter() - started
            rows.append({"order": order, "request": n, "turn": 1 + (n - 1) // 3,
                         "prompt_tokens": reply.usage.prompt_tokens, "new_tokens": fresh,
                         "seconds": seconds, "estimated": reply.usage.estimated})
            print(f"{order:>6}  turn {rows[-1]['turn']} request {n}: "
                  f"{reply.usage.prompt_tokens:>5} prompt tokens, ~{fresh:>5} not in the "
                  f"previous prompt, {seconds:6.1f} s", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    p.add_argument("--model", default="", help="default: the first one the server lists")
    p.add_argument("--orders", nargs="+", default=["before", "now"], choices=["before", "now"])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--prompt-style", choices=["full", "compact"], default="full")
    p.add_argument("--json", help="write the rows to this file")
    args = p.parse_args()
    model = args.model
    if not model:
        with urllib.request.urlopen(args.base_url + "/models", timeout=10) as resp:
            model = json.load(resp)["data"][0]["id"]
    rows: list[dict] = []
    for _ in range(args.repeats):
        for order in args.orders:
            rows += asyncio.run(measure(args.base_url, model, order, args.prompt_style))
    print("\norder   turn  prompt tokens (3 requests)  ~not in the previous prompt  "
          "seconds (median of repeats)")
    for order in args.orders:
        for turn in (1, 2):
            mine = [r for r in rows if r["order"] == order and r["turn"] == turn]
            sums = [sum(r["seconds"] for r in mine[i:i + 3]) for i in range(0, len(mine), 3)]
            tokens = sum(r["prompt_tokens"] for r in rows
                         if r["order"] == order and r["turn"] == turn) // args.repeats
            fresh = sum(r["new_tokens"] for r in mine) // args.repeats
            print(f"{order:>6}  {turn:>4}  {tokens:>25}  {fresh:>27}  "
                  f"{statistics.median(sums):8.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
