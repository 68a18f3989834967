"""Opt-in event-loop lag sampling, for load benchmarks (``bench/bench_load.py``).

Off unless the server starts with ``CODEINTERP_DEBUG_LOOP_LAG`` set (to ``1``, or to the
sampling interval in milliseconds). A task sleeps ``interval`` again and again and records
how late each wake-up is: the time the loop was busy with other callbacks, which is what a
chat (or any other Jupyter request) waits before it is served. Costs one timer per interval.
``GET codeinterp/debug/loop-lag`` returns the percentiles (``?reset=1`` starts afresh).
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from typing import Any, Optional

ENV = "CODEINTERP_DEBUG_LOOP_LAG"


def interval_from_env() -> Optional[float]:
    """The sampling interval in seconds when lag sampling is on, else None."""
    raw = os.environ.get(ENV, "").strip()
    if not raw or raw in ("0", "false", "no"):
        return None
    try:
        ms = float(raw)
    except ValueError:
        ms = 10.0
    if raw in ("1", "true", "yes") or ms <= 0:
        ms = 10.0
    return ms / 1000.0


class LoopLagMonitor:
    def __init__(self, interval: float = 0.01, keep: int = 200_000) -> None:
        self.interval = interval
        self.samples: collections.deque[float] = collections.deque(maxlen=keep)
        self.started = time.monotonic()
        self._task: Optional[asyncio.Task[None]] = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.samples.append(max(0.0, loop.time() - due))

    def reset(self) -> None:
        self.samples.clear()
        self.started = time.monotonic()

    def stats(self) -> dict[str, Any]:
        data = sorted(self.samples)
        n = len(data)

        def pct(p: float) -> float:
            return round(data[min(n - 1, int(p * n))] * 1000, 3) if n else 0.0

        return {"samples": n, "interval_ms": self.interval * 1000, "seconds": round(time.monotonic() - self.started, 3),
                "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
                "max_ms": round(data[-1] * 1000, 3) if n else 0.0}

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
