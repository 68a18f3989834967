"""Opt-in timing of the server-side part of each chat turn, for ``bench/bench_overhead.js``.

Off unless the server starts with ``CODEINTERP_DEBUG_TURN_TIMING`` set: to a file path (one
JSON line per turn is appended to it) or to ``1`` (the line goes to the log at INFO). A turn's
wall time, from the prompt frame arriving on the socket to its ``turn_end`` being written, is
split into the waits that are not the server's own work — the model stream, the browser
running a cell or reading the notebook (``executor``), the kernel probe and getting a kernel
client — and the rest, ``server_ms``. Our own work done inside such a wait (the callbacks that
forward streamed text and code to the browser while the model streams) is timed with
:func:`own` and counted as the server's. When off, every hook is a shared no-op context manager
or an early return: nothing is measured, allocated or written.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import time
from typing import Any, Iterator, Optional

ENV = "CODEINTERP_DEBUG_TURN_TIMING"

log = logging.getLogger(__name__)

_TARGET = os.environ.get(ENV, "").strip()
ENABLED = bool(_TARGET) and _TARGET not in ("0", "false", "no")

_current: contextvars.ContextVar[Optional["TurnTiming"]] = contextvars.ContextVar(
    "codeinterp_turn_timing", default=None)
_NOOP = contextlib.nullcontext()


class TurnTiming:
    def __init__(self, received: float) -> None:
        self.t0 = received
        self.waits: dict[str, float] = {}
        self.owns: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.marks: dict[str, float] = {}

    def add(self, kind: str, seconds: float) -> None:
        self.waits[kind] = self.waits.get(kind, 0.0) + seconds
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def add_own(self, kind: str, seconds: float) -> None:
        self.owns[kind] = self.owns.get(kind, 0.0) + seconds

    def server_seconds(self, total: float) -> float:
        return total - sum(self.waits.values()) + sum(self.owns.values())

    def mark(self, name: str) -> None:
        """The first time something happened in the turn (later calls are ignored)."""
        if name not in self.marks:
            self.marks[name] = time.perf_counter() - self.t0
            # what the server itself spent before this point
            self.marks[name + "_server"] = self.server_seconds(self.marks[name])

    def report(self, **extra: Any) -> dict[str, Any]:
        total = time.perf_counter() - self.t0
        data: dict[str, Any] = {"total_ms": round(total * 1000, 3),
                                "server_ms": round(self.server_seconds(total) * 1000, 3)}
        for kind, seconds in sorted(self.waits.items()):
            data[f"{kind}_ms"] = round(seconds * 1000, 3)
            data[f"{kind}_count"] = self.counts[kind]
        for kind, seconds in sorted(self.owns.items()):
            data[f"{kind}_ms"] = round(seconds * 1000, 3)
        for name, seconds in self.marks.items():
            data[f"{name}_ms"] = round(seconds * 1000, 3)
        data.update(extra)
        return data


def start(received: float) -> Optional[contextvars.Token[Optional[TurnTiming]]]:
    """Begin timing a turn whose prompt arrived at ``received`` (``time.perf_counter()``).

    Call right before the turn's task is created (the task copies the context), then
    :func:`detach` with the returned token."""
    if not ENABLED:
        return None
    return _current.set(TurnTiming(received))


def detach(token: Optional[contextvars.Token[Optional[TurnTiming]]]) -> None:
    if token is not None:
        _current.reset(token)


def waiting(kind: str) -> contextlib.AbstractContextManager[Any]:
    """``with waiting("model"): ...`` — time spent waiting on something that is not us."""
    if not ENABLED:
        return _NOOP
    timing = _current.get()
    if timing is None:
        return _NOOP
    return _measure(timing, kind)


def own(kind: str) -> contextlib.AbstractContextManager[Any]:
    """``with own("stream_callbacks"): ...`` — our work inside a :func:`waiting` block."""
    if not ENABLED:
        return _NOOP
    timing = _current.get()
    if timing is None:
        return _NOOP
    return _measure(timing, kind, mine=True)


@contextlib.contextmanager
def _measure(timing: TurnTiming, kind: str, mine: bool = False) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        (timing.add_own if mine else timing.add)(kind, time.perf_counter() - started)


def mark(name: str) -> None:
    if ENABLED:
        timing = _current.get()
        if timing is not None:
            timing.mark(name)


def finish(**extra: Any) -> None:
    """The turn's ``turn_end`` was written: record the line."""
    if not ENABLED:
        return
    timing = _current.get()
    if timing is None:
        return
    _current.set(None)
    line = json.dumps({"time": time.time(), **timing.report(**extra)})
    if _TARGET in ("1", "true", "yes"):
        log.info("codeinterp turn timing: %s", line)
        return
    try:
        with open(_TARGET, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError:
        log.warning("could not write turn timing to %s", _TARGET, exc_info=True)
