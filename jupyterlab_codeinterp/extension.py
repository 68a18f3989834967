"""The jupyter_server extension: wires config, services and handlers together."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from .chat.history import ChatStore
from .chat.identity import NotebookLocator
from .chat.renames import RenameFollower
from .chat.service import ChatService
from .chat.warmup import preload_modules
from .config import CodeInterp
from .context.gather import gather_context
from .context.probe_clients import KernelClientPool
from .handlers import ChatWebSocketHandler, ConfigHandler, ContextHandler, LoopLagHandler, ResourcesHandler
from .instrumentation import resources
from .instrumentation.loop_lag import LoopLagMonitor, interval_from_env


#: CPython's default thread switch interval (seconds)
PYTHON_DEFAULT_SWITCH_INTERVAL = 0.005


def apply_switch_interval(interval: float, log: Any) -> bool:
    """Shorten the GIL switch interval for the model I/O thread, when configured to.

    While the model thread parses streamed tokens, the server's loop, coming back from each
    socket call, may wait up to the switch interval for the GIL; at 5 ms that wait showed in
    the loop's p99 lag with 200 chats streaming. The interval is the whole process's, and
    with a handful of chats it changed nothing measurable (bench/README.md), so it is off
    (0) unless ``c.CodeInterp.gil_switch_interval`` asks. Someone else's choice (another
    extension, the operator) is kept.
    """
    if interval <= 0 or sys.getswitchinterval() != PYTHON_DEFAULT_SWITCH_INTERVAL:
        return False
    sys.setswitchinterval(interval)
    log.info("jupyterlab-codeinterp: thread switch interval %g s (c.CodeInterp.gil_switch_interval)", interval)
    return True


class CodeInterpState:
    """What the handlers share: config, kernel access, chats. One per server."""

    def __init__(self, *, config: CodeInterp, serverapp: Any, log: Any) -> None:
        from .llm.io_loop import ModelIOLoop

        self.config = config
        self.serverapp = serverapp
        self.log = log
        self.root_dir = os.path.abspath(os.path.expanduser(serverapp.root_dir))
        self.kernel_clients = KernelClientPool(serverapp.kernel_manager, probe_max_bytes=config.probe_max_bytes)
        # a client whose kernel is shut down or restarted is closed at once
        self.kernel_clients.follow_events(getattr(serverapp, "event_logger", None))
        self._binding: dict[str, asyncio.Task[Any]] = {}
        self.model_io = ModelIOLoop()  # its thread starts with the first model call
        if config.model_io_thread:
            apply_switch_interval(config.gil_switch_interval, log)
        locator = NotebookLocator.for_server(serverapp.contents_manager, server_root=self.root_dir,
                                             scope=config.history_scope)
        self.store = ChatStore(config.history_dir, locator)
        self.chat_service = ChatService(
            config=config,
            root_dir=self.root_dir,
            store=self.store,
            kernel_client_for=self.kernel_client_for,
            interrupt_kernel=self.interrupt_kernel,
            model_factory=self._model_factory,
            warm_kernel=self.warm_kernel,
        )
        self._models_cache: tuple[float, list[str]] | None = None
        # chats follow renames made through the server (any client), see chat/renames.py
        self.renames = RenameFollower(getattr(serverapp.contents_manager, "event_logger", None),
                                      self.store, self.chat_service)
        self.renames.start()

    def _model_factory(self, cfg: CodeInterp, model: str) -> Any:
        from .llm.client import ModelClient
        from .llm.io_loop import OffLoopModel

        client = ModelClient(cfg, model=model)
        return OffLoopModel(client, self.model_io) if cfg.model_io_thread else client

    async def kernel_id_for(self, notebook_path: str, kernel_hint: str = "") -> str | None:
        """The kernel of the notebook's session; else ``kernel_hint`` (the kernel the browser
        runs the notebook on) when it is a kernel of this server: right after a rename the
        session may still carry the notebook's previous path."""
        sm = self.serverapp.session_manager
        try:
            session = await sm.get_session(path=notebook_path)
        except Exception:  # web.HTTPError(404) when there is no session
            session = None
        kernel = (session or {}).get("kernel") or {}
        if kernel.get("id"):
            return kernel["id"]
        if kernel_hint and kernel_hint in self.serverapp.kernel_manager:
            return kernel_hint
        return None

    async def kernel_client_for(self, notebook_path: str, kernel_hint: str = "") -> Any:
        kernel_id = await self.kernel_id_for(notebook_path, kernel_hint)
        if not kernel_id:
            return None
        client = await self.kernel_clients.get(kernel_id)
        # a client that has not heard from its kernel yet: ask in the background, so a
        # starting kernel is not waited for now and is ready for the next prompt
        self.kernel_clients.warm(kernel_id)
        return client

    #: how long a chat bound to a notebook without a kernel yet looks for one (JupyterLab
    #: opens the chat with the notebook, and creates the notebook's session meanwhile)
    BIND_KERNEL_WAIT = (0.25, 40)  # seconds between looks, looks

    async def warm_kernel(self, notebook_path: str) -> None:
        """Prepare the probe client of the notebook's kernel (see ``KernelClientPool.warm``)."""
        running = self._binding.get(notebook_path)
        if running is not None and not running.done():
            return
        self._binding[notebook_path] = asyncio.current_task()  # type: ignore[assignment]
        try:
            interval, looks = self.BIND_KERNEL_WAIT
            for _ in range(looks):
                kernel_id = await self.kernel_id_for(notebook_path)
                if kernel_id:
                    self.kernel_clients.warm(kernel_id)
                    return
                await asyncio.sleep(interval)
        finally:
            if self._binding.get(notebook_path) is asyncio.current_task():
                del self._binding[notebook_path]

    async def interrupt_kernel(self, notebook_path: str) -> bool:
        kernel_id = await self.kernel_id_for(notebook_path)
        km = self.serverapp.kernel_manager
        if not kernel_id or kernel_id not in km:
            return False
        await km.get_kernel(kernel_id).interrupt_kernel()
        return True

    async def context_for(self, notebook_path: str, kernel_hint: str = "") -> Any:
        cfg = self.config
        return await gather_context(
            root_dir=self.root_dir,
            notebook_path=notebook_path,
            kernel_client=await self.kernel_client_for(notebook_path, kernel_hint),
            cells=None,
            token_budget=cfg.context_token_budget,
            probe_timeout=cfg.probe_timeout,
            probe_max_bytes=cfg.probe_max_bytes,
        )

    async def public_config(self) -> dict[str, Any]:
        from .llm.discovery import cached_discovery
        from .llm.presets import public_presets

        cfg = self.config
        data = cfg.public_config()
        local: list[dict[str, Any]] = []
        look = cfg.discover_local_servers and not cfg.api_key
        if look:
            # loopback only, ~0.3 s at worst, cached 30 s (see llm/discovery.py)
            local_task = asyncio.ensure_future(cached_discovery(dict(cfg.local_server_ports) or None))
        if not data["models"]:
            data["models"] = await self._endpoint_models()
        if look:
            local = await local_task
        data["presets"] = public_presets()
        data["local_servers"] = local
        return data

    async def _endpoint_models(self) -> list[str]:
        """The endpoint's /models, cached for a minute; [] when it has none."""
        now = asyncio.get_running_loop().time()
        if self._models_cache and now - self._models_cache[0] < 60:
            return self._models_cache[1]
        models: list[str] = []
        try:
            client = self.chat_service.model_for(None)
            self.chat_service.warmer.mark_warm(client)  # this request warms it as well
            models = await client.list_models(timeout=3.0)
        except Exception:
            self.log.debug("could not list models", exc_info=True)
        self._models_cache = (now, models)
        return models

    async def close(self) -> None:
        self.renames.stop()
        await self.chat_service.close()
        await self.kernel_clients.close_all()
        await asyncio.to_thread(self.model_io.stop)


class CodeInterpExtension(ExtensionApp):
    name = "jupyterlab_codeinterp"
    load_other_extensions = True

    def initialize_settings(self) -> None:
        preload_modules()  # what the first turn needs, imported while the server starts
        config = CodeInterp(parent=self.serverapp)
        self.state = CodeInterpState(config=config, serverapp=self.serverapp, log=self.log)
        self.settings["codeinterp"] = self.state
        interval = interval_from_env()
        self.loop_lag = LoopLagMonitor(interval) if interval is not None else None
        self.settings["codeinterp_loop_lag"] = self.loop_lag
        where = config.base_url or "the OpenAI API"
        self.log.info("jupyterlab-codeinterp: model %s at %s", config.effective_model(), where)

    def initialize_handlers(self) -> None:
        prefix = "codeinterp"
        self.handlers.extend([
            (url_path_join(prefix, "config"), ConfigHandler),
            (url_path_join(prefix, "context"), ContextHandler),
            (url_path_join(prefix, "chat"), ChatWebSocketHandler),
        ])
        if resources.enabled():  # opt-in (CODEINTERP_DEBUG_RESOURCES), for bench/bench_soak.py
            self.handlers.append((url_path_join(prefix, "debug", "resources"), ResourcesHandler))
        if self.loop_lag is not None:  # opt-in (CODEINTERP_DEBUG_LOOP_LAG), for bench/bench_load.py
            self.handlers.append((url_path_join(prefix, "debug", "loop-lag"), LoopLagHandler))
            IOLoop.current().add_callback(self.loop_lag.start)
            self.log.info("jupyterlab-codeinterp: sampling event-loop lag every %g ms", self.loop_lag.interval * 1000)

    async def stop_extension(self) -> None:
        if getattr(self, "loop_lag", None) is not None:
            self.loop_lag.stop()
        state = getattr(self, "state", None)
        if state is not None:
            await state.close()
