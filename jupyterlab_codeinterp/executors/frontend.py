"""The executor the browser fulfils: requests over the chat socket, answered by the open notebook.

Each request carries an id and a timeout; the browser answers with ``executor_reply``.
When the socket closes, every pending request fails at once with a clear error, so a
turn never waits on a tab that is gone.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Awaitable, Callable, Optional

from pydantic import BaseModel, ValidationError

from ..protocol import CellOutcome, ExecutorReplyMsg, ExecutorRequestMsg
from .base import ExecutorError, NotebookExecutor

#: seconds the browser gets to insert a cell / read cells / interrupt, beyond the cell's own run time
ACTION_GRACE = 30.0


class ExecutorChannel:
    """Pending executor requests of one socket connection."""

    def __init__(self, send: Callable[[BaseModel], Awaitable[None]]) -> None:
        self._send = send
        self._pending: dict[str, asyncio.Future[ExecutorReplyMsg]] = {}
        self.closed_reason: Optional[str] = None

    async def request(self, msg: ExecutorRequestMsg, timeout: float) -> ExecutorReplyMsg:
        if self.closed_reason:
            raise ExecutorError(self.closed_reason)
        fut: asyncio.Future[ExecutorReplyMsg] = asyncio.get_running_loop().create_future()
        self._pending[msg.request_id] = fut
        try:
            await self._send(msg)
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise ExecutorError(f"the notebook did not answer '{msg.action}' within {timeout:g}s") from None
        finally:
            self._pending.pop(msg.request_id, None)

    def resolve(self, reply: ExecutorReplyMsg) -> bool:
        fut = self._pending.get(reply.request_id)
        if fut is None or fut.done():
            return False
        fut.set_result(reply)
        return True

    def close(self, reason: str) -> None:
        self.closed_reason = reason
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ExecutorError(reason))
        self._pending.clear()


class FrontendExecutor(NotebookExecutor):
    def __init__(self, channel: ExecutorChannel, *, chat_id: str, notebook_path: str,
                 kernel_client: Callable[[], Awaitable[Any]]) -> None:
        self.channel = channel
        self.chat_id = chat_id
        self.notebook_path = notebook_path
        self._kernel_client = kernel_client

    def _request(self, action: str, **kw: Any) -> ExecutorRequestMsg:
        return ExecutorRequestMsg(request_id=uuid.uuid4().hex, chat_id=self.chat_id, action=action, **kw)

    async def run_cell(self, code: str, *, metadata: dict[str, Any], replace_cell_id: Optional[str] = None,
                       anchor_cell_id: Optional[str] = None, timeout: float = 600.0) -> CellOutcome:
        req = self._request("run_cell", code=code, metadata=metadata, replace_cell_id=replace_cell_id,
                            anchor_cell_id=anchor_cell_id, timeout=timeout)
        try:
            reply = await self.channel.request(req, timeout + ACTION_GRACE)
        except ExecutorError:
            # the browser went quiet past the cell's timeout: stop the kernel work too
            if self.channel.closed_reason is None:
                await self.interrupt()
            raise
        if not reply.ok:
            raise ExecutorError(reply.error or "the notebook could not run the cell")
        try:
            return CellOutcome.model_validate(reply.result or {})
        except ValidationError as exc:
            raise ExecutorError(f"the notebook sent an unreadable cell result: {exc.errors()[0]['msg']}") from exc

    async def interrupt(self) -> None:
        try:
            await self.channel.request(self._request("interrupt"), ACTION_GRACE)
        except ExecutorError:
            pass  # the caller also interrupts through the kernel manager when it can

    async def read_cells(self) -> list[dict[str, Any]]:
        reply = await self.channel.request(self._request("read_cells"), ACTION_GRACE)
        if not reply.ok:
            raise ExecutorError(reply.error or "the notebook could not be read")
        cells = (reply.result or {}).get("cells", [])
        if not isinstance(cells, list):
            raise ExecutorError("the notebook sent cells in an unreadable shape")
        return [c for c in cells if isinstance(c, dict)]

    async def kernel_client(self) -> Any:
        return await self._kernel_client()
