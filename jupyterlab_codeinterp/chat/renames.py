"""Chats follow their notebook when it is renamed, moved or deleted through the server.

jupyter_server reports every successful rename through its contents manager's event
logger (schema ``contents_service/v1``, ``action: rename``, ``source_path`` -> ``path``),
whichever client asked: JupyterLab's file browser, "Rename Notebook…", the REST API, a
script. For each one the chats stored under the old location are moved to the new one
(a folder rename moves the chats of every notebook below it), and what the server holds
in memory is updated at once: running turns save to the new place, and tabs watching
the chat go on seeing its turns. The browser's own chat model follows through the
document context's ``pathChanged`` (``src/service.ts``). A deleted notebook's chats are set
aside, so a new notebook created under its name does not inherit them.

Notebooks moved outside the server (``mv`` in a terminal, another program) send no
event; see ``ChatStore.list`` for how their chats are found again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Optional

from .history import ChatStore

if TYPE_CHECKING:
    from .service import ChatService

log = logging.getLogger(__name__)

CONTENTS_EVENTS = "https://events.jupyter.org/jupyter_server/contents_service/v1"


def moved_path(path: str, old: str, new: str) -> Optional[str]:
    """``path`` after ``old`` was renamed to ``new`` (None if the rename does not touch it)."""
    if path == old:
        return new
    if old and path.startswith(old + "/"):
        return new + path[len(old):]
    return None


def follow_in_memory(service: "ChatService", old: str, new: str) -> None:
    """Point running turns and watching tabs at the notebook's new path."""
    for running in service.running.values():
        moved = moved_path(running.notebook_path, old, new)
        if moved is None:
            continue
        running.notebook_path = moved
        if running.sink is not None:
            running.sink.chat["notebook_path"] = moved  # its saves land at the new place
    connections = {conn for conns in service.watchers.values() for conn in conns}
    for conn in connections:
        for path in list(conn.watching):
            moved = moved_path(path, old, new)
            if moved is not None:
                conn.watching[moved] = conn.watching.pop(path)


class RenameFollower:
    """Listens to the contents manager's events for renames (see the module doc)."""

    def __init__(self, event_logger: Any, store: ChatStore, service: "ChatService") -> None:
        self.event_logger = event_logger
        self.store = store
        self.service = service
        self._listening = False

    def start(self) -> bool:
        if self.event_logger is None or not hasattr(self.event_logger, "add_listener"):
            log.warning("jupyterlab-codeinterp: no contents event logger; chats will not follow renames")
            return False
        self.event_logger.add_listener(schema_id=CONTENTS_EVENTS, listener=self.on_event)
        self._listening = True
        return True

    def stop(self) -> None:
        if self._listening:
            self.event_logger.remove_listener(schema_id=CONTENTS_EVENTS, listener=self.on_event)
            self._listening = False

    async def on_event(self, logger: Any = None, schema_id: str = "", data: Optional[dict[str, Any]] = None) -> None:
        data = data or {}
        action = data.get("action")
        if action == "delete":
            path = str(data.get("path") or "").strip("/")
            if path:
                self.store.queue_delete(path)  # a new notebook under that name starts afresh
                await self._apply()
            return
        if action != "rename":
            return
        old = str(data.get("source_path") or "").strip("/")
        new = str(data.get("path") or "").strip("/")
        if not old or not new or old == new:
            return
        # queued now, before the loop handles anything else: no read or write of these
        # chats can come before the move (the store applies it first)
        self.store.queue_move(old, new)
        follow_in_memory(self.service, old, new)
        await self._apply()

    async def _apply(self) -> None:
        try:
            await asyncio.to_thread(self.store.apply_moves)
        except Exception:
            log.exception("jupyterlab-codeinterp: could not follow a rename or deletion")
