"""Getting ready for a chat's first prompt, so that it costs what a later one does.

A first prompt used to pay for things done once per server or per notebook: importing the
model client (``openai``, ``aiohttp``: ~1 s on a busy 2-core machine), creating the model
client and its HTTP session, connecting the probe client to the kernel and the kernel's
first request. Now the imports run in a thread when the extension loads, and the rest when
a chat binds to a notebook (its history request, see ``ChatService.warm_up``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import weakref
from typing import Any, Awaitable, Callable, Iterable, Optional

log = logging.getLogger(__name__)

#: what the first turn would otherwise import (the model client and what it loads lazily)
PRELOAD = (
    "jupyterlab_codeinterp.llm.client",
    "jupyterlab_codeinterp.llm.io_loop",
    "jupyterlab_codeinterp.llm.prices",
    "jupyterlab_codeinterp.llm.discovery",
    "jupyterlab_codeinterp.llm.presets",
    "aiohttp",
    "openai.resources.chat",
    "openai.resources.models",
    "openai.types.chat",
    "nbformat",
)


def _import_all(names: Iterable[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # an optional dependency: the turn will say what is missing
            log.debug("preload of %s failed", name, exc_info=True)


def preload_modules(names: Iterable[str] = PRELOAD) -> threading.Thread:
    """Import ``names`` in a daemon thread (the server goes on starting meanwhile)."""
    thread = threading.Thread(target=_import_all, args=(tuple(names),),
                              name="codeinterp-preload", daemon=True)
    thread.start()
    return thread


class Warmer:
    """Prepares a notebook's first prompt when a chat binds to it (all in the background).

    The notebook's kernel gets its probe client, connected and probed once
    (``KernelClientPool.warm``; a starting kernel is waited for there, never by a prompt).
    The default model client is created and makes its first request, the endpoint's model
    list, once per client: the SDK's lazy set-up is then done and, within the keep-alive
    time, a connection is open for the first prompt.
    """

    def __init__(self, model_for: Callable[[Optional[str]], Any],
                 warm_kernel: Optional[Callable[[str], Awaitable[None]]] = None) -> None:
        self.model_for = model_for
        self.warm_kernel = warm_kernel
        self._warm_models: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._tasks: set[asyncio.Future[Any]] = set()

    def bind(self, notebook_path: str) -> None:
        if self.warm_kernel is not None:
            self._spawn(self.warm_kernel(notebook_path))
        self._spawn(self._warm_model())

    def _spawn(self, coro: Awaitable[Any]) -> None:
        fut = asyncio.ensure_future(coro)
        self._tasks.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: asyncio.Future[Any]) -> None:
        self._tasks.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            log.debug("warm-up failed", exc_info=fut.exception())

    def mark_warm(self, client: Any) -> None:
        """``client`` has made (or is making) a request: nothing to warm."""
        self._warm_models.add(client)

    async def _warm_model(self) -> None:
        client = self.model_for(None)
        if client in self._warm_models or not hasattr(client, "list_models"):
            return
        self._warm_models.add(client)
        try:
            await client.list_models(timeout=5.0)
        except Exception:  # no /models, no network: the turn will report what is wrong
            log.debug("model warm-up request failed", exc_info=True)

    def close(self) -> None:
        for fut in list(self._tasks):
            fut.cancel()
