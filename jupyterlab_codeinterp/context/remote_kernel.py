"""Probe clients for kernels behind a Jupyter Kernel Gateway or Enterprise Gateway.

With ``--gateway-url`` (``c.GatewayClient.url``) the server's kernels are
``GatewayKernelManager`` instances: there is no ZMQ socket to the kernel, only the
gateway's websocket ``<gateway>/api/kernels/<id>/channels``, which carries JSON messages
that name their channel. :class:`GatewayProbeClient` speaks that websocket with the
small surface the probe and the read-only tools use (``session``, ``shell_channel``,
``control_channel``, ``execute``, ``stop_channels``), so :func:`probe_kernel` and
:func:`eval_expression` run over it unchanged, with the same silent request, the same
bounds and the same "no names left behind" rules.

jupyter_server's own ``GatewayKernelClient`` is not used for this: its
``start_channels`` is a coroutine that opens the websocket with a blocking call on the
server's event loop (waiting up to ``KERNEL_LAUNCH_TIMEOUT``), sends no authorization
header (a gateway started with an auth token refuses it), sends messages without their
channel (a control request lands on shell), its reader thread stops at the first
message of a channel that was not opened (IOPub), and waiting for a reply spins the
event loop. Here the socket is opened with tornado, asynchronously, with the
GatewayClient's own connection arguments (URL, auth header, certificates, cookies,
timeouts), on first use; IOPub traffic (every output of the user's cells also arrives on
this socket) is dropped unread where it can be recognised without decoding it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from queue import Empty
from typing import Any, Optional

#: replies kept per channel while nobody reads them (older ones are dropped)
_MAX_QUEUED = 64
#: messages kept while the websocket is still being opened
_MAX_OUTBOX = 16
_CLOSED = object()
#: what a read-only tool gets when the remote kernel does not answer in time
REMOTE_LATE_TEXT = ("the remote kernel (through the gateway) did not answer in time: it is busy or "
                    "the gateway is slow; try again later")


class GatewayUnreachable(ConnectionError):
    """The gateway refused or closed the websocket. ``note`` is the sentence for the context."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.sentence = f"the remote kernel is unreachable through the gateway ({detail})"
        self.note = f"{self.sentence}; no variables"


def is_gateway_kernel(kernel: Any) -> bool:
    """Is ``kernel`` a jupyter_server GatewayKernelManager (a kernel behind a gateway)?

    Checked through ``sys.modules``: when the gateway module was never imported no kernel
    can come from it, and the headless CLI does not pay for importing it.
    """
    managers = sys.modules.get("jupyter_server.gateway.managers")
    cls = getattr(managers, "GatewayKernelManager", None)
    return cls is not None and isinstance(kernel, cls)


def _late_note(timeout: float) -> str:
    return (f"the remote kernel (through the gateway) did not answer within {timeout:g} s: "
            "it is busy, or the gateway is slow; no variables")


class _RemoteChannel:
    """One channel of the websocket, with the part of jupyter_client's channel API the probe uses."""

    def __init__(self, owner: "GatewayProbeClient", name: str) -> None:
        self._owner = owner
        self.name = name
        self._queue: Optional[asyncio.Queue] = None

    @property
    def queue(self) -> asyncio.Queue:
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._queue

    def is_alive(self) -> bool:
        return not self._owner.connection_lost

    def start(self) -> None:
        self._owner.connect()

    def send(self, msg: dict) -> None:
        self._owner.send(self.name, msg)

    def put(self, item: Any) -> None:
        q = self.queue
        while q.qsize() >= _MAX_QUEUED:
            q.get_nowait()
        q.put_nowait(item)

    async def get_msg(self, timeout: Optional[float] = None) -> dict:
        """The next message; ``queue.Empty`` after ``timeout``; GatewayUnreachable once the socket is gone."""
        self._owner.connect()
        q = self.queue
        try:
            if timeout is not None and timeout <= 0:
                item = q.get_nowait()
            else:
                item = await asyncio.wait_for(q.get(), timeout)
        except (asyncio.QueueEmpty, asyncio.TimeoutError, TimeoutError):
            raise Empty from None
        if item is _CLOSED:
            q.put_nowait(_CLOSED)  # every later read fails the same way
            raise self._owner.error or GatewayUnreachable("connection closed")
        return item


class GatewayProbeClient:
    """A client of one gateway kernel for silent, read-only requests (the probe, inspect).

    Not a full KernelClient: shell and control only, replies matched by the caller on
    ``parent_header.msg_id``. Connecting starts on first use and never blocks the loop;
    the caller's own deadline bounds every wait. ``connection_lost`` tells the pool to
    make a new client.
    """

    remote = True

    def __init__(self, kernel_id: str, session: Any, *, gateway: Any = None) -> None:
        self.kernel_id = kernel_id
        self.session = session
        self._gateway = gateway
        self.shell_channel = _RemoteChannel(self, "shell")
        self.control_channel = _RemoteChannel(self, "control")
        self._channels = {"shell": self.shell_channel, "control": self.control_channel}
        self._ws: Any = None
        self._task: Optional[asyncio.Task] = None
        self._outbox: list[str] = []
        self.error: Optional[GatewayUnreachable] = None
        self.connection_lost = False
        self._stopped = False

    # -------------------------------------------------------------- connection

    def _request(self) -> Any:
        from jupyter_server.gateway.gateway_client import GatewayClient
        from jupyter_server.utils import url_path_join
        from tornado.escape import url_escape
        from tornado.httpclient import HTTPRequest

        gw = self._gateway or GatewayClient.instance()
        url = url_path_join(gw.ws_url or "", gw.kernels_endpoint, url_escape(self.kernel_id), "channels")
        url += f"?session_id={url_escape(self.session.session)}"
        return HTTPRequest(url, **gw.load_connection_args())

    def connect(self) -> None:
        """Start opening the websocket (once); returns at once."""
        if self._task is None and not self._stopped:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        from tornado.websocket import websocket_connect

        try:
            ws = await websocket_connect(self._request())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code = getattr(exc, "code", None)
            refused = isinstance(code, int) and code >= 400
            self._lost(f"HTTP {code}" if refused else f"{type(exc).__name__}: {exc}"[:200])
            return
        if self._stopped:
            ws.close()
            return
        self._ws = ws
        outbox, self._outbox = self._outbox, []
        for data in outbox:  # in order, before anything sent from now on
            self._write(data)
        try:
            while True:
                raw = await ws.read_message()
                if raw is None:
                    reason = ws.close_reason or (f"code {ws.close_code}" if ws.close_code else "")
                    self._lost("the gateway closed the connection" + (f": {reason}" if reason else ""))
                    return
                self._route(raw)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._lost(f"{type(exc).__name__}: {exc}"[:200])

    def _route(self, raw: Any) -> None:
        if isinstance(raw, bytes):
            return  # binary frames carry buffers of IOPub messages (comms, widgets), never a reply
        # jupyter_server writes "channel" last: IOPub, most of the traffic, is dropped undecoded
        if raw[-30:].rstrip().endswith('"iopub"}'):
            return
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        channel = self._channels.get(msg.get("channel")) if isinstance(msg, dict) else None
        if channel is not None:
            channel.put(msg)

    def _lost(self, detail: str) -> None:
        self.connection_lost = True
        if self.error is None:
            self.error = GatewayUnreachable(detail)
        self._ws = None
        for channel in self._channels.values():
            channel.put(_CLOSED)

    def send(self, channel: str, msg: dict) -> None:
        from jupyter_client.jsonutil import json_default

        if self.connection_lost:
            return  # the next get_msg says why
        self.connect()
        data = json.dumps({**msg, "channel": channel}, default=json_default)
        if self._ws is None:
            self._outbox = (self._outbox + [data])[-_MAX_OUTBOX:]
            return
        self._write(data)

    def _write(self, data: str) -> None:
        """Queue one frame (tornado buffers it at once, in call order); a closed socket is lost."""
        ws = self._ws
        if ws is None:
            return
        try:
            sent = ws.write_message(data)
        except Exception as exc:  # WebSocketClosedError: the reader reports it too
            self._lost(f"{type(exc).__name__}: {exc}"[:200])
            return
        sent.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no "never retrieved" log

    # -------------------------------------------------------------- KernelClient surface

    def execute(self, code: str, silent: bool = False, store_history: bool = True,
                user_expressions: Optional[dict] = None, allow_stdin: Optional[bool] = None,
                stop_on_error: bool = True) -> str:
        """Send an execute_request on shell (same content as jupyter_client's) and return its msg_id."""
        content = {"code": code, "silent": silent, "store_history": store_history,
                   "user_expressions": user_expressions or {}, "allow_stdin": bool(allow_stdin),
                   "stop_on_error": stop_on_error}
        msg = self.session.msg("execute_request", content)
        self.send("shell", msg)
        return msg["header"]["msg_id"]

    def late_note(self, timeout: float) -> str:
        return _late_note(timeout)

    def stop_channels(self) -> None:
        """Close the websocket; never blocks."""
        self._stopped = True
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if not self.connection_lost:
            self.connection_lost = True
            self.error = GatewayUnreachable("the probe client was closed")
            for channel in self._channels.values():
                if channel._queue is not None:
                    channel.put(_CLOSED)


def new_gateway_probe_client(kernel: Any) -> GatewayProbeClient:
    """A probe client of a GatewayKernelManager's kernel, with its own Session."""
    from jupyter_client.session import Session

    base = kernel.session
    session = Session(username=getattr(base, "username", "codeinterp"))
    return GatewayProbeClient(str(kernel.kernel_id), session)
