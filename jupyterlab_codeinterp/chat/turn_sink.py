"""A turn's messages on their way to the browser: coalesced, recorded, mirrored to other tabs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Optional

from pydantic import BaseModel

from ..protocol import ApprovalReplyMsg, ApprovalRequestMsg, CodeDeltaMsg, TextDeltaMsg, dump
from .changes import TurnChangeRecorder
from .pacing import delta_interval

if TYPE_CHECKING:
    from .service import ChatConnection

#: what a turn sends that only the tab running it acts on (its cells, its approval buttons)
_NOT_MIRRORED = frozenset({"executor_request", "approval_request"})


class ChatTurnSink:
    """Sends a turn's messages on the socket and records them in the chat's display log.

    Streamed text and streamed code are coalesced: the first piece goes out at once, later
    pieces at most every DELTA_INTERVAL seconds as one ``text_delta`` / ``code_delta`` (the
    browser appends them, so joined pieces mean the same). Models stream a chunk per token
    (50-100 a second per chat); one socket frame each made the frames, not the model, the
    server's main cost under load (bench/bench_load.py) and most of its own time in a turn
    (bench/overhead: a ~150-character run_code call was ~40 code_delta frames, 10-50 ms).
    Any other message flushes the pending piece first, so the order on the socket is unchanged.
    """

    def __init__(self, conn: "ChatConnection", chat: dict[str, Any]) -> None:
        self.conn = conn
        self.chat = chat
        self._pending: Optional[TextDeltaMsg | CodeDeltaMsg] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._last_sent = 0.0
        #: what the turn changes in the notebook, read off its messages (saved with turn_end)
        self.changes = TurnChangeRecorder()

    async def send(self, msg: BaseModel) -> None:
        display = self.chat["display"]
        if isinstance(msg, (TextDeltaMsg, CodeDeltaMsg)):
            kind = msg.type
            if display and display[-1].get("type") == kind and display[-1].get("turn") == msg.turn:
                display[-1]["text"] += msg.text
            else:
                display.append(dump(msg))
            if self._pending is not None and self._pending.type != kind:
                await self.flush()
            if self._pending is None:
                self._pending = type(msg)(chat_id=msg.chat_id, turn=msg.turn, text=msg.text)
            else:
                self._pending.text += msg.text
            loop = asyncio.get_running_loop()
            wait = self._last_sent + delta_interval(len(self.conn.service.running)) - loop.time()
            if wait <= 0:
                await self.flush()
            elif self._timer is None:
                self._timer = loop.call_later(wait, self._flush_later)
            return
        await self.flush()
        self.changes.observe(msg)
        data = dump(msg)
        if data["type"] not in ("executor_request",):
            display.append(data)
        await self.conn.send(msg)
        if data["type"] not in _NOT_MIRRORED:
            await self.mirror(msg)

    async def mirror(self, msg: BaseModel) -> None:
        await self.conn.service.mirror(self.chat["id"], msg, self.conn)

    def _flush_later(self) -> None:
        self._timer = None
        if self._pending is not None:
            asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        """Send the coalesced text now (before any other message, and at the turn's end)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, None
        if pending is not None:
            self._last_sent = asyncio.get_running_loop().time()
            await self.conn.send(pending)
            await self.mirror(pending)

    async def ask_approval(self, request: ApprovalRequestMsg) -> ApprovalReplyMsg:
        fut: asyncio.Future[ApprovalReplyMsg] = asyncio.get_running_loop().create_future()
        self.conn.approvals[request.step_id] = fut
        try:
            await self.send(request)
            return await fut
        finally:
            self.conn.approvals.pop(request.step_id, None)
