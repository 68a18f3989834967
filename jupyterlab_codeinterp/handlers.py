"""HTTP and WebSocket handlers: thin shells over :mod:`.chat.service` and :mod:`.context`.

Every route is authenticated by jupyter_server (token, cookie, XSRF for unsafe HTTP methods,
origin check for the socket) and authorized through its Authorizer, so JupyterHub's scopes
apply: ``read`` on ``codeinterp`` for the configuration, ``read`` on ``kernels`` and
``contents`` for the context, ``execute`` on ``kernels`` for the chat (it runs code).
"""

from __future__ import annotations

import gc
import json
import sys
import time
import weakref
from typing import Any, Optional

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketHandler

from .chat.service import MAX_MESSAGE_BYTES, ChatConnection
from .paths import PathError, resolve_notebook_path


class _Base(APIHandler):
    @property
    def codeinterp(self) -> Any:
        return self.settings["codeinterp"]


class ConfigHandler(_Base):
    auth_resource = "codeinterp"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """The configuration the UI may see (never the API key)."""
        state = self.codeinterp
        self.finish(json.dumps(await state.public_config()))


class ContextHandler(_Base):
    auth_resource = "kernels"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Exactly what the model would be sent as context for a notebook right now."""
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "read", "contents")):
            raise web.HTTPError(403)
        raw = self.get_query_argument("path", "")
        try:
            path = resolve_notebook_path(self.codeinterp.root_dir, raw)
        except PathError as exc:
            raise web.HTTPError(400, str(exc)) from exc
        started = time.perf_counter()
        ctx = await self.codeinterp.context_for(path, kernel_hint=self.get_query_argument("kernel", ""))
        data = ctx.to_json()
        data["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 2)
        self.finish(json.dumps(data))


class ChatWebSocketHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """``WS codeinterp/chat``: the typed chat protocol (see protocol.py)."""

    auth_resource = "kernels"
    connection: Optional[ChatConnection] = None
    #: the handlers still alive, open or not (for the resources debug route: leak checks)
    alive: "weakref.WeakSet[ChatWebSocketHandler]" = weakref.WeakSet()

    def set_default_headers(self) -> None:
        """No CSP/cache headers on a websocket upgrade (as jupyter_server's own sockets do)."""

    @property
    def max_message_size(self) -> int:
        """Frames above this close the socket with 1009 "message too big" before their
        payload is read (tornado cannot skip a payload and go on). It equals the chat's
        own limit, so every frame either gets handled (an error reply at worst) or closes
        with 1009; there is no size that gets one in one place and the other elsewhere."""
        return MAX_MESSAGE_BYTES

    def get_compression_options(self) -> Any:
        return self.settings.get("websocket_compression_options", None)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        user = self.current_user
        if not await ensure_async(self.authorizer.is_authorized(self, user, "execute", "kernels")):
            raise web.HTTPError(403)
        await super().get(*args, **kwargs)

    async def open(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().open()
        # small frames answered by small frames (executor requests): without this, a frame
        # sent while the previous one is unacknowledged waits for the peer's delayed ACK (~40 ms)
        self.set_nodelay(True)
        ChatWebSocketHandler.alive.add(self)
        state = self.settings["codeinterp"]
        user = getattr(self.current_user, "username", "") or ""
        self.connection = ChatConnection(state.chat_service, self._send_text, user=user)
        await self.connection.hello()

    async def _send_text(self, text: str) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        await self.write_message(text)

    async def on_message(self, message: Any) -> None:  # type: ignore[override]
        if self.connection is not None:
            await self.connection.handle(message)

    def on_close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        # WebSocketMixin's keep-alive ping stops itself only at its next tick after the
        # close (every 30 s by default), and until then it keeps this handler alive with
        # its request, headers, cookies and stream buffers: stop it now
        ping = getattr(self, "ping_callback", None)
        if ping is not None:
            ping.stop()
            self.ping_callback = None


class LoopLagHandler(_Base):
    """``GET codeinterp/debug/loop-lag``: only routed when CODEINTERP_DEBUG_LOOP_LAG is set."""

    auth_resource = "codeinterp"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        monitor = self.settings["codeinterp_loop_lag"]
        data = monitor.stats()
        data["chats_running"] = len(self.codeinterp.chat_service.running)
        # what the lag was measured under (the process-wide interval may be set by anyone)
        data["switch_interval"] = sys.getswitchinterval()
        data["model_io_thread"] = bool(self.codeinterp.config.model_io_thread)
        if self.get_query_argument("reset", ""):
            monitor.reset()
        self.finish(json.dumps(data))



class ResourcesHandler(_Base):
    """``GET codeinterp/debug/resources``: only routed when CODEINTERP_DEBUG_RESOURCES is set."""

    auth_resource = "codeinterp"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from .instrumentation import resources

        if self.get_query_argument("collect", ""):
            gc.collect()  # count what is still referenced, not what awaits the collector
        data: dict[str, Any] = dict(resources.counts(self.codeinterp))
        data["chat_sockets"] = len(ChatWebSocketHandler.alive)
        if self.get_query_argument("trim", ""):
            data.update(resources.trimmed())
        types = int(self.get_query_argument("types", "0") or 0)
        if types:
            data["types"] = resources.type_growth(types)
            data["scheduled"] = resources.scheduled(types)
        traces = int(self.get_query_argument("tracemalloc", "0") or 0)
        if traces:
            data["tracemalloc"] = resources.tracemalloc_growth(traces)
        self.finish(json.dumps(data))
