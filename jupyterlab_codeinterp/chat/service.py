"""Chats over a socket: turns, approvals, executor requests and history, transport-agnostic.

The WebSocket handler only moves text in and out; :class:`ChatConnection` validates each
message, runs turns as tasks and answers every bad message with an ``error`` reply; a
turn's messages go out through its :class:`~.turn_sink.ChatTurnSink`.
:class:`ChatService` holds what outlives a connection: the model clients, the kernel
clients for the probe, the running turns and the history store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

from pydantic import BaseModel, ValidationError

from .. import __version__
from ..agent.loop import Agent, Turn, TurnResult
from ..config import CodeInterp
from ..executors.frontend import ExecutorChannel, FrontendExecutor
from ..instrumentation import turn_timing
from ..paths import PathError, resolve_notebook_path
from ..protocol import (
    PROTOCOL_VERSION,
    ApprovalReplyMsg,
    DeleteChatMsg,
    ErrorMsg,
    ExecutorReplyMsg,
    HelloMsg,
    HistoryMsg,
    HistoryRequestMsg,
    PromptMsg,
    StopMsg,
    TurnEndMsg,
    TurnStartMsg,
    Usage,
    dump,
    parse_client_message,
)
from .history import ChatNotFound, ChatStore, valid_chat_id
from .pacing import TurnPacer
from .turn_sink import ChatTurnSink
from .warmup import Warmer

log = logging.getLogger(__name__)

#: model clients kept open at once (one per model name picked in the UI)
MAX_MODEL_CLIENTS = 8

#: largest client message accepted, in bytes (executor replies carry cell outputs)
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass
class RunningTurn:
    task: asyncio.Task[Any]
    connection: "ChatConnection"
    notebook_path: str
    #: the turn's sink, once the turn has loaded its chat (its live display log)
    sink: Optional[ChatTurnSink] = None


class ChatService:
    """Process-wide state of the chat feature."""

    def __init__(
        self,
        *,
        config: CodeInterp,
        root_dir: str,
        store: ChatStore,
        kernel_client_for: Callable[[str], Awaitable[Any]],
        interrupt_kernel: Callable[[str], Awaitable[bool]],
        model_factory: Callable[[CodeInterp, str], Any],
        warm_kernel: Optional[Callable[[str], Awaitable[None]]] = None,
    ) -> None:
        self.config = config
        self.root_dir = root_dir
        self.store = store
        self.kernel_client_for = kernel_client_for
        self.interrupt_kernel = interrupt_kernel
        self.model_factory = model_factory
        self._models: dict[str, Any] = {}
        #: prepares a notebook's first prompt when a chat binds to it (history request)
        self.warmer = Warmer(self.model_for, warm_kernel)
        self.running: dict[str, RunningTurn] = {}
        self.pacer = TurnPacer()
        #: chat id -> the other tabs showing that chat, which see its turns live
        self.watchers: dict[str, set["ChatConnection"]] = {}

    def watch(self, conn: "ChatConnection", notebook_path: str, chat_id: str) -> None:
        """``conn`` shows ``chat_id`` for that notebook (instead of the chat it showed)."""
        old = conn.watching.get(notebook_path)
        if old is not None and old != chat_id:
            self._unwatch(conn, old)
        conn.watching[notebook_path] = chat_id
        self.watchers.setdefault(chat_id, set()).add(conn)

    def unwatch_all(self, conn: "ChatConnection") -> None:
        for chat_id in conn.watching.values():
            self._unwatch(conn, chat_id)
        conn.watching.clear()

    def _unwatch(self, conn: "ChatConnection", chat_id: str) -> None:
        conns = self.watchers.get(chat_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.watchers[chat_id]

    async def mirror(self, chat_id: str, msg: BaseModel, owner: "ChatConnection") -> None:
        """Send a turn's message to the other tabs showing its chat."""
        conns = self.watchers.get(chat_id)
        if not conns:
            return
        for conn in list(conns):
            if conn is not owner:
                await conn.send(msg)

    def model_for(self, model: Optional[str]) -> Any:
        """One model client per model name (clients keep connections and protocol decisions)."""
        name = model or self.config.effective_model()
        client = self._models.pop(name, None)
        if client is None:
            client = self.model_factory(self.config, name)
            # bounded: the browser may send any model name; close the least recently used
            while len(self._models) >= MAX_MODEL_CLIENTS:
                oldest = next(iter(self._models))
                asyncio.ensure_future(self._models.pop(oldest).close())
        self._models[name] = client  # most recently used last
        return client

    async def close(self) -> None:
        self.warmer.close()
        for running in list(self.running.values()):
            running.task.cancel()
        for client in self._models.values():
            try:
                await client.close()
            except Exception:
                pass
        self._models.clear()


def _snapshot(chat: dict[str, Any]) -> dict[str, Any]:
    """A copy of a chat record safe to serialize in a thread while the turn appends to it."""
    return {**chat, "display": list(chat.get("display", [])),
            "conversation": list(chat.get("conversation", [])), "usage": dict(chat.get("usage", {}))}


class ChatConnection:
    """One browser tab's socket."""

    def __init__(self, service: ChatService, send_text: Callable[[str], Awaitable[None]], *, user: str = "") -> None:
        self.service = service
        self._send_text = send_text
        self.user = user
        self.channel = ExecutorChannel(self.send)
        self.approvals: dict[str, asyncio.Future[ApprovalReplyMsg]] = {}
        self.closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._early_saves: dict[str, asyncio.Future[Any]] = {}
        self._received = 0.0
        #: notebook path -> the chat this tab shows for it (see ChatService.watch)
        self.watching: dict[str, str] = {}

    async def send(self, msg: BaseModel) -> None:
        if self.closed:
            return
        try:
            await self._send_text(json.dumps(dump(msg), ensure_ascii=False))
        except Exception:  # socket gone: the close handler cancels the turn
            log.debug("send failed", exc_info=True)

    async def hello(self) -> None:
        await self.send(HelloMsg(protocol_version=PROTOCOL_VERSION, server_version=__version__))

    async def error(self, code: str, message: str, *, reply_to: Optional[str] = None,
                    chat_id: Optional[str] = None, hint: str = "") -> None:
        await self.send(ErrorMsg(code=code, message=message, reply_to=reply_to, chat_id=chat_id, hint=hint))

    # ------------------------------------------------------------------ incoming

    async def handle(self, raw: Any) -> None:
        """Validate and dispatch one incoming frame; every bad frame gets an error reply."""
        self._received = time.perf_counter()  # start of a turn for turn_timing (opt-in)
        if isinstance(raw, bytes):
            await self.error("bad_message", "binary frames are not accepted; send JSON text")
            return
        if not isinstance(raw, str) or len(raw) > MAX_MESSAGE_BYTES:
            await self.error("bad_message", f"message too large (limit {MAX_MESSAGE_BYTES // 1024 // 1024} MiB)")
            return
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, RecursionError, ValueError) as exc:
            await self.error("bad_message", f"not valid JSON: {str(exc)[:200]}")
            return
        reply_to = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None
        try:
            msg = parse_client_message(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            await self.error("bad_message", f"invalid message: {where}: {first.get('msg')}"[:500], reply_to=reply_to)
            return
        except (ValueError, TypeError, RecursionError) as exc:
            await self.error("bad_message", str(exc)[:500], reply_to=reply_to)
            return
        try:
            if isinstance(msg, PromptMsg):
                await self._on_prompt(msg)
            elif isinstance(msg, StopMsg):
                await self._on_stop(msg)
            elif isinstance(msg, ExecutorReplyMsg):
                if not self.channel.resolve(msg):
                    log.debug("executor reply for an unknown request %s", msg.request_id)
            elif isinstance(msg, ApprovalReplyMsg):
                fut = self.approvals.get(msg.step_id)
                if fut is None or fut.done():
                    await self.error("bad_message", "no step is waiting for that approval")
                else:
                    fut.set_result(msg)
            elif isinstance(msg, HistoryRequestMsg):
                await self._on_history(msg)
            elif isinstance(msg, DeleteChatMsg):
                await self._on_delete(msg)
        except PathError as exc:
            await self.error("bad_path", str(exc), reply_to=reply_to)
        except Exception as exc:  # never let one message take the connection down
            log.exception("chat message failed")
            await self.error("internal", f"the server could not handle that message: {type(exc).__name__}", reply_to=reply_to)

    def _check_path(self, path: str) -> str:
        return resolve_notebook_path(self.service.root_dir, path)

    async def _on_history(self, msg: HistoryRequestMsg) -> None:
        path = self._check_path(msg.notebook_path)
        self.service.warmer.bind(path)  # this tab's chat is bound to the notebook now
        store = self.service.store
        if msg.chat_id is None:
            chats = await asyncio.to_thread(store.list, path)
            await self.send(HistoryMsg(notebook_path=path, reply_to=msg.id, chats=chats))
            return
        if not valid_chat_id(msg.chat_id):
            await self.error("bad_message", "invalid chat id", reply_to=msg.id)
            return
        running = self.service.running.get(msg.chat_id)
        if running is not None and running.sink is not None and running.notebook_path == path:
            # running (in another tab, or before this tab reconnected): the live log, then
            # the rest of the turn as it happens
            await running.sink.flush()  # so no streamed text is both in the log and sent
            messages = list(running.sink.chat.get("display", []))
        else:
            try:
                chat = await asyncio.to_thread(store.load, path, msg.chat_id)
            except ChatNotFound:
                await self.error("not_found", "no such chat", reply_to=msg.id, chat_id=msg.chat_id)
                return
            messages = chat.get("display", [])
        self.service.watch(self, path, msg.chat_id)
        await self.send(HistoryMsg(notebook_path=path, reply_to=msg.id, chat_id=msg.chat_id,
                                   messages=messages))

    async def _on_delete(self, msg: DeleteChatMsg) -> None:
        path = self._check_path(msg.notebook_path)
        if not valid_chat_id(msg.chat_id):
            await self.error("bad_message", "invalid chat id", reply_to=msg.id)
            return
        running = self.service.running.get(msg.chat_id)
        if running:
            running.task.cancel()
        await asyncio.to_thread(self.service.store.delete, path, msg.chat_id)
        chats = await asyncio.to_thread(self.service.store.list, path)
        await self.send(HistoryMsg(notebook_path=path, reply_to=msg.id, chats=chats))

    async def _on_stop(self, msg: StopMsg) -> None:
        running = self.service.running.get(msg.chat_id)
        if running is None:
            await self.error("not_running", "nothing is running in this chat", reply_to=msg.id, chat_id=msg.chat_id)
            return
        running.task.cancel()

    async def _on_prompt(self, msg: PromptMsg) -> None:
        path = self._check_path(msg.notebook_path)
        if not valid_chat_id(msg.chat_id):
            await self.error("bad_message", "invalid chat id (letters, digits, - and _ only)", reply_to=msg.id)
            return
        if not msg.text.strip():
            await self.error("bad_message", "the prompt is empty", reply_to=msg.id, chat_id=msg.chat_id)
            return
        if msg.mode in ("fix", "generate") and not msg.cell_id:
            await self.error("bad_message", f"mode {msg.mode!r} needs a cell_id", reply_to=msg.id, chat_id=msg.chat_id)
            return
        if msg.chat_id in self.service.running:
            await self.error("busy", "a turn is already running in this chat; stop it or wait",
                             reply_to=msg.id, chat_id=msg.chat_id)
            return
        timing = turn_timing.start(self._received)
        task = asyncio.create_task(self._run_turn(msg, path))
        turn_timing.detach(timing)
        self.service.running[msg.chat_id] = RunningTurn(task, self, path)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            current = self.service.running.get(msg.chat_id)
            if current is not None and current.task is t:
                del self.service.running[msg.chat_id]

        task.add_done_callback(done)

    async def _run_turn(self, msg: PromptMsg, path: str) -> None:
        service = self.service
        store = service.store
        await service.pacer.wait(len(service.running))
        chat = await asyncio.to_thread(store.load_or_new, path, msg.chat_id)
        turn_no = int(chat.get("turns", 0)) + 1
        if not chat.get("title"):
            chat["title"] = msg.text.strip().splitlines()[0][:80]
        sink = ChatTurnSink(self, chat)
        running = service.running.get(msg.chat_id)
        if running is not None and running.task is asyncio.current_task():
            running.sink = sink
        await sink.send(TurnStartMsg(chat_id=msg.chat_id, turn=turn_no, mode=msg.mode, prompt=msg.text, reply_to=msg.id))
        chat["turns"] = turn_no
        # The prompt reaches the disk while the turn goes on (the model need not wait for it);
        # a snapshot, so the turn can append to the live lists meanwhile. _finish awaits it.
        self._early_saves[msg.chat_id] = asyncio.ensure_future(asyncio.to_thread(store.save, _snapshot(chat)))

        model = service.model_for(msg.model)
        executor = FrontendExecutor(self.channel, chat_id=msg.chat_id, notebook_path=path,
                                    kernel_client=lambda: service.kernel_client_for(path))

        async def interrupt() -> None:
            if not await service.interrupt_kernel(path):
                await FrontendExecutor.interrupt(executor)

        executor.interrupt = interrupt  # type: ignore[method-assign]
        agent = Agent(config=service.config, model=model, executor=executor, sink=sink, root_dir=service.root_dir)
        turn = Turn(chat_id=msg.chat_id, turn=turn_no, prompt=msg.text, notebook_path=path, mode=msg.mode,
                    cell_id=msg.cell_id, auto_run=msg.auto_run, max_repairs=msg.max_repairs,
                    vision=msg.vision, context_token_budget=msg.context_token_budget)
        result: Optional[TurnResult] = None
        try:
            result = await agent.run_turn(turn, chat.get("conversation", []))
        except asyncio.CancelledError:
            result = agent.partial
            if result is None:
                raise
        except Exception as exc:
            log.exception("turn failed")
            await sink.send(ErrorMsg(code="internal", message=f"the turn failed: {type(exc).__name__}: {exc}"[:500],
                                     chat_id=msg.chat_id, retryable=True))
            result = TurnResult(status="failed", answer="", usage=Usage(), messages=[])
        finally:
            if result is not None:
                await self._finish(chat, sink, msg, turn_no, result)

    async def _finish(self, chat: dict[str, Any], sink: ChatTurnSink, msg: PromptMsg, turn_no: int,
                      result: TurnResult) -> None:
        if result.status != "failed":
            chat.setdefault("conversation", []).extend(result.messages)
        total = chat.setdefault("usage", {})
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            total[key] = int(total.get(key) or 0) + getattr(result.usage, key)
        if result.usage.cost is not None:
            total["cost"] = round(float(total.get("cost") or 0) + result.usage.cost, 6)
        total["estimated"] = bool(total.get("estimated")) or result.usage.estimated
        chat_usage = Usage(prompt_tokens=total["prompt_tokens"], completion_tokens=total["completion_tokens"],
                           total_tokens=total["total_tokens"], cost=total.get("cost"),
                           estimated=total["estimated"])
        await sink.flush()
        end = TurnEndMsg(chat_id=msg.chat_id, turn=turn_no, status=result.status, answer=result.answer,
                         usage=result.usage, chat_usage=chat_usage, grounding=result.grounding,
                         cells_run=result.cells_run)
        end.changes = sink.changes.result()
        # Save, free the chat, then say the turn ended: a client may send the next prompt
        # the moment it sees turn_end, and that prompt must neither get "busy" nor load the
        # history from before this turn was saved.
        chat["display"].append(dump(end))
        try:
            early = self._early_saves.pop(msg.chat_id, None)
            if early is not None:
                await asyncio.shield(early)  # never let the start's save land after this one
            await asyncio.to_thread(self.service.store.save, chat)
        except OSError:
            log.exception("could not save chat history")
            await self.error("history", "the chat could not be saved to disk", chat_id=msg.chat_id)
        current = self.service.running.get(msg.chat_id)
        if current is not None and current.task is asyncio.current_task():
            del self.service.running[msg.chat_id]
        await self.send(end)
        await sink.mirror(end)
        turn_timing.finish(chat_id=msg.chat_id, turn=turn_no, status=result.status)

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """The socket closed: stop this connection's turns, then fail what is still pending.

        Turns are cancelled first, exactly as Stop does: a turn waiting on a cell then takes
        the Stop path (the kernel is interrupted, the turn saved as "stopped"). Failing the
        pending requests in the same tick would end it as an executor error instead
        (``wait_for`` returns a result that is already there rather than the cancellation),
        leaving a runaway generated cell running in the kernel with nobody to watch it. So
        the pending requests fail on the next loop pass, after the cancelled turns woke up.
        """
        self.closed = True
        self.service.unwatch_all(self)
        for task in list(self._tasks):
            task.cancel()
        for fut in self.approvals.values():
            if not fut.done():
                fut.cancel()
        self.channel.closed_reason = "the browser tab disconnected"  # no new requests
        asyncio.get_running_loop().call_soon(self.channel.close, "the browser tab disconnected")
