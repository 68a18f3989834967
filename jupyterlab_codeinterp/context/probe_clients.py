"""Probe clients: one per kernel of the server, opened, warmed and closed with the kernel.

A probe client holds a ZMQ context (an I/O thread) and two sockets, so its lifetime follows
its kernel's: it is closed when the server shuts the kernel down or restarts it, and a new
one is made for the restarted kernel. What a client is used for lives in kernel_probe.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .kernel_probe import ProbeResult, forget_client, kernel_answered, probe_kernel
from .remote_kernel import is_gateway_kernel, new_gateway_probe_client

def new_probe_client(kernel: Any) -> Any:
    """A client of ``kernel`` (a KernelManager) with its own Session, channels started.

    A kernel behind a gateway (``--gateway-url``) gets a websocket client instead, which
    connects on first use (see remote_kernel.py); the local path below is unchanged.

    ``KernelManager.client()`` shares the manager's Session, hence its ZMQ identity;
    two DEALER sockets with one identity on the kernel's ROUTER make replies go to only
    one of them, so a second client made that way can silently starve the first.
    Only shell and control are opened (an unread IOPub subscription buffers every output).
    """
    from jupyter_client.session import Session

    if is_gateway_kernel(kernel):
        return new_gateway_probe_client(kernel)
    base = kernel.session
    session = Session(key=base.key, signature_scheme=base.signature_scheme,
                      username=getattr(base, "username", "codeinterp"))
    client = kernel.client(session=session)
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=True)
    return client


KERNEL_EVENTS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


class KernelClientPool:
    """One probe client per kernel of a jupyter_server MultiKernelManager, reused across requests.

    Clients open only the shell and control channels: an IOPub subscription nobody
    reads would buffer every output of the user's cells. ``wait_for_ready`` is not
    used either: it blocks on a busy kernel, while the probe's own control-channel
    ``kernel_info`` already checks readiness within the probe timeout.

    Each client holds a ZMQ context (an I/O thread) and two sockets that reconnect for
    ever: a client whose kernel is gone is closed at once, on the server's kernel events
    (:meth:`follow_events`: shutdown, restart) and, for kernels that vanish without one
    (a kernel that died and was not restarted), whenever the pool is used.
    """

    def __init__(self, kernel_manager: Any, *, probe_max_bytes: int = 16000,
                 warm_timeout: float = 60.0) -> None:
        self.kernel_manager = kernel_manager
        self.probe_max_bytes = probe_max_bytes
        #: how long a warm-up waits for a starting kernel to answer
        self.warm_timeout = warm_timeout
        self._clients: dict[str, tuple[Any, tuple]] = {}
        self._warming: dict[str, asyncio.Task[Any]] = {}
        self._lock = asyncio.Lock()
        self._event_logger: Any = None

    def __len__(self) -> int:
        return len(self._clients)

    @staticmethod
    def _identity(kernel: Any) -> tuple:
        """Changes when the kernel restarts (new provisioner / process, maybe new ports)."""
        prov = getattr(kernel, "provisioner", None)
        pid = getattr(prov, "pid", None) or getattr(getattr(prov, "process", None), "pid", None)
        try:
            conn = kernel.get_connection_info()
            ports = tuple(conn.get(k) for k in ("shell_port", "control_port", "ip", "key"))
        except Exception:
            ports = ()
        return (id(kernel), id(prov), pid, ports)

    async def get(self, kernel_id: str) -> Any | None:
        """The probe client for kernel_id, or None when no such kernel is running."""
        async with self._lock:
            self.prune()
            if kernel_id not in self.kernel_manager:
                self.drop(kernel_id)
                return None
            kernel = self.kernel_manager.get_kernel(kernel_id)
            ident = self._identity(kernel)
            entry = self._clients.get(kernel_id)
            # a gateway client whose websocket closed is replaced (connection_lost)
            if entry is not None and entry[1] == ident and not getattr(entry[0], "connection_lost", False):
                return entry[0]
            self.drop(kernel_id)
            client = new_probe_client(kernel)
            self._clients[kernel_id] = (client, ident)
            return client

    async def probe(self, kernel_id: str, *, timeout: float, max_bytes: int) -> ProbeResult:
        client = await self.get(kernel_id)
        if client is None:
            return ProbeResult(ok=False, note="no kernel running: no variables")
        return await probe_kernel(client, timeout=timeout, max_bytes=max_bytes)

    def warm(self, kernel_id: str) -> None:
        """Connect to the kernel and probe it once, in the background, unless done already.

        The first probe of a client pays for connecting, the kernel_info round trip and
        the kernel's first request (~20-30 ms on a settled kernel, the kernel's whole start
        on a starting one); a chat bound to the notebook should not pay it on its first
        prompt. While a starting kernel has not answered, prompts do not wait for it
        (:func:`kernel_starting`).
        """
        task = self._warming.get(kernel_id)
        if task is not None and not task.done():
            return
        entry = self._clients.get(kernel_id)
        if entry is not None and kernel_answered(entry[0]):
            return
        task = asyncio.ensure_future(self._warm(kernel_id))
        self._warming[kernel_id] = task

        def forget(t: asyncio.Task[Any]) -> None:
            if self._warming.get(kernel_id) is t:
                del self._warming[kernel_id]

        task.add_done_callback(forget)

    async def _warm(self, kernel_id: str) -> None:
        client = await self.get(kernel_id)
        if client is None or kernel_answered(client):
            return
        await probe_kernel(client, timeout=self.warm_timeout, max_bytes=self.probe_max_bytes)

    def drop(self, kernel_id: str) -> None:
        task = self._warming.pop(kernel_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        entry = self._clients.pop(kernel_id, None)
        if entry is not None:
            forget_client(entry[0])
            try:
                entry[0].stop_channels()
            except Exception:
                pass

    def prune(self) -> None:
        """Forget clients of kernels that are gone."""
        for kid in list(self._clients):
            if kid not in self.kernel_manager:
                self.drop(kid)

    def follow_events(self, event_logger: Any) -> bool:
        """Close a kernel's client as soon as the server shuts the kernel down or restarts it."""
        if event_logger is None or not hasattr(event_logger, "add_listener"):
            return False
        event_logger.add_listener(schema_id=KERNEL_EVENTS, listener=self.on_kernel_event)
        self._event_logger = event_logger
        return True

    async def on_kernel_event(self, logger: Any = None, schema_id: str = "",
                              data: dict[str, Any] | None = None) -> None:
        data = data or {}
        kernel_id = data.get("kernel_id")
        action = data.get("action")
        if kernel_id and action in ("shutdown", "restart"):
            had = kernel_id in self._clients or kernel_id in self._warming
            self.drop(kernel_id)
            if action == "restart" and had and kernel_id in self.kernel_manager:
                self.warm(kernel_id)  # it was in use: be ready for the next prompt
        self.prune()

    async def close_all(self) -> None:
        if self._event_logger is not None:
            try:
                self._event_logger.remove_listener(schema_id=KERNEL_EVENTS, listener=self.on_kernel_event)
            except Exception:
                pass
            self._event_logger = None
        async with self._lock:
            for kid in list(set(self._clients) | set(self._warming)):
                self.drop(kid)
