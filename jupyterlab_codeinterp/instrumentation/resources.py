"""Opt-in counts of what a server holds, for ``bench/bench_soak.py`` (leak checks).

Off unless the server starts with ``CODEINTERP_DEBUG_RESOURCES`` set; then
``GET codeinterp/debug/resources`` answers with the counts below. The bench reads the
process's threads, open files and memory from ``/proc`` itself; this adds what only the
server knows (probe clients per kernel, model clients, turns, watching tabs).

Query arguments, each opt-in and only on this debug route:

* ``collect=1``: a garbage collection first, so ``chat_sockets`` (chat socket handlers
  alive, open or closed) counts what is still referenced.
* ``trim=1``: ``rss_kib`` before and ``rss_trimmed_kib`` after glibc's ``malloc_trim(0)``
  (Linux only), which gives memory that is free inside the allocator back to the system:
  what the trim takes back was freed and kept by the allocator, not held by the server
  (see bench/README.md, Soak).
* ``types=N``: the N object types whose instance counts (``gc.get_objects()``) changed most
  since the previous ``types`` call, with the change.
* ``tracemalloc=N``: the N tracebacks whose allocations grew most since the previous call;
  the first call starts tracing (12 frames; ``PYTHONTRACEMALLOC`` would slow the start too).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import gc
import os
import sys
import threading
from typing import Any, Optional

ENV = "CODEINTERP_DEBUG_RESOURCES"

_last_types: dict[str, int] = {}
_last_snapshot: Any = None


def enabled() -> bool:
    return os.environ.get(ENV, "").strip() not in ("", "0", "false", "no")


def counts(state: Any) -> dict[str, int]:
    service = state.chat_service
    pool = state.kernel_clients
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = -1
    return {
        "probe_clients": len(pool),
        "probe_warmups": len(getattr(pool, "_warming", {})),
        "kernels": len(list(state.serverapp.kernel_manager.list_kernel_ids())),
        "model_clients": len(service._models),
        "turns_running": len(service.running),
        "watched_chats": len(service.watchers),
        "threads": threading.active_count(),
        "fds": fds,
    }


def rss_kib() -> Optional[float]:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024
    except (OSError, ValueError, IndexError):
        return None


def malloc_trim() -> bool:
    """glibc's ``malloc_trim(0)``: free pages at the top of every arena and inside them go back."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return False


def trimmed() -> dict[str, Any]:
    before = rss_kib()
    released = malloc_trim()
    return {"rss_kib": before, "rss_trimmed_kib": rss_kib(), "malloc_trim": released}


def _type_name(t: type) -> str:
    module = t.__dict__.get("__module__") if isinstance(t.__dict__.get("__module__"), str) else "builtins"
    return f"{module}.{t.__qualname__}"


def type_growth(top: int) -> list[tuple[str, int, int]]:
    """(type, count now, change since the previous call) for the ``top`` largest changes."""
    global _last_types
    gc.collect()
    now = collections.Counter(_type_name(type(o)) for o in gc.get_objects())
    diff = [(name, n, n - _last_types.get(name, 0)) for name, n in now.items() if n != _last_types.get(name, 0)]
    _last_types = dict(now)
    diff.sort(key=lambda row: -abs(row[2]))
    return diff[:top]


def scheduled(top: int) -> list[tuple[str, int, int, float]]:
    """The event loop's timers by callback: (callback, count, cancelled, latest due in s)."""
    import asyncio

    loop = asyncio.get_running_loop()
    now = loop.time()
    groups: dict[str, list[Any]] = {}
    for handle in list(getattr(loop, "_scheduled", [])):
        cb = getattr(handle, "_callback", None)
        name = "(cancelled)" if cb is None else getattr(cb, "__qualname__", None) or type(cb).__qualname__
        row = groups.setdefault(name, [0, 0, 0.0])
        row[0] += 1
        row[1] += handle.cancelled()
        row[2] = max(row[2], handle.when() - now)
    out = [(name, n, c, round(due, 1)) for name, (n, c, due) in groups.items()]
    out.sort(key=lambda row: -row[1])
    return out[:top]


def tracemalloc_growth(top: int) -> list[dict[str, Any]]:
    """Tracebacks whose allocations grew most since the previous call (the first starts tracing)."""
    import tracemalloc

    global _last_snapshot
    if not tracemalloc.is_tracing():
        tracemalloc.start(12)
        _last_snapshot = None
    snap = tracemalloc.take_snapshot().filter_traces((tracemalloc.Filter(False, tracemalloc.__file__),))
    out: list[dict[str, Any]] = []
    if _last_snapshot is not None:
        for stat in snap.compare_to(_last_snapshot, "traceback")[:top]:
            out.append({"size_diff": stat.size_diff, "count_diff": stat.count_diff,
                        "traceback": [f"{f.filename}:{f.lineno}" for f in stat.traceback][-8:]})
    _last_snapshot = snap
    return out
