"""Opt-in counts of what a server holds, for ``bench/bench_soak.py`` (leak checks).

Off unless the server starts with ``CODEINTERP_DEBUG_RESOURCES`` set; then
``GET codeinterp/debug/resources`` answers with the counts below. The bench reads the
process's threads, open files and memory from ``/proc`` itself; this adds what only the
server knows (probe clients per kernel, model clients, turns, watching tabs).
"""

from __future__ import annotations

import os
import threading
from typing import Any

ENV = "CODEINTERP_DEBUG_RESOURCES"


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
