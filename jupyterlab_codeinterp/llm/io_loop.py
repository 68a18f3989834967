"""Model streams on their own event loop, so tokens never queue behind Jupyter's traffic.

A model streams one SSE event per token: 50-100 a second per chat, each worth a socket
read, HTTP/1.1 framing, line splitting and a ``json.loads``.  With many chats at once that
work crowds jupyter_server's event loop, which also carries every kernel's messages, the
contents API and the terminals (bench/bench_load.py measures the lag it causes).

So the server reads model streams on one extra event loop in a daemon thread
(:class:`ModelIOLoop`), and the chat's loop sees only what it needs: the streamed text and
tool-call previews, **coalesced** (whatever arrived since the chat's loop last looked, in
order, as one callback), retry notices, and the final :class:`ModelReply` or
:class:`ProviderError`.  :class:`OffLoopModel` gives the agent the same interface as
:class:`ModelClient`.  Python's GIL is still shared, but the chat's loop now waits at most
a switch interval for it instead of behind hundreds of queued token callbacks.

Cancelling the awaiting task (Stop, a closed tab) cancels the stream on the model loop,
which closes the HTTP response, as before.

Opt-in (``c.CodeInterp.model_io_thread``): it pays when dozens of chats stream at once on one
server; with the handful a single user runs, the server's loop keeps up by itself and the
thread only adds the cost of the hand-overs (bench/README.md, "Realistic load").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
from typing import Any, Awaitable, Callable, Coroutine, Optional, TypeVar

from ..chat.pacing import load_scaled
from .client import ModelClient, RetryNotice, _maybe_await
from .types import ModelReply

T = TypeVar("T")


class ModelIOLoop:
    """One asyncio loop in a daemon thread, started on first use."""

    def __init__(self, name: str = "codeinterp-model-io") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        #: model streams being relayed right now (the load the wake-up pace follows)
        self.streams = 0
        self.waker = _Waker()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> "concurrent.futures.Future[T]":
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the model loop from another loop (cancelling it if cancelled)."""
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            self.waker = _Waker()  # wake-ups planned on the old loop die with it
        if loop is None or loop.is_closed():
            return

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        if thread is not None:
            thread.join(timeout)
        if not loop.is_running():
            loop.close()


class _Waker:
    """Wakes the readers of many relays with one cross-thread call.

    Each call into another thread's loop is a write to its self-pipe and a hand-over of the
    GIL; one per stream per wake-up was a fifth of the model thread's time with 200 streams.
    Relays due now are woken together after the model loop's current pass; relays due later
    join a tick on a TICK-second grid, so streams whose gaps end close together share one
    call.  Lives on the model loop; only ever touched from its thread.
    """

    TICK = 0.01

    def __init__(self) -> None:
        self._due: list[_Relay] = []
        self._ticks: dict[float, list[_Relay]] = {}

    def wake_now(self, relay: "_Relay") -> None:
        if not self._due:
            asyncio.get_running_loop().call_soon(self._flush)
        self._due.append(relay)

    def wake_at(self, relay: "_Relay", when: float) -> None:
        tick = math.ceil(when / self.TICK) * self.TICK
        group = self._ticks.get(tick)
        if group is None:
            group = self._ticks[tick] = []
            asyncio.get_running_loop().call_at(tick, self._fire, tick)
        group.append(relay)

    def _fire(self, tick: float) -> None:
        for relay in self._ticks.pop(tick, ()):
            self.wake_now(relay)

    def _flush(self) -> None:
        due, self._due = self._due, []
        now = asyncio.get_running_loop().time()
        by_home: dict[asyncio.AbstractEventLoop, list[_Relay]] = {}
        for relay in due:
            relay.scheduled = False
            relay.last_wake = now
            by_home.setdefault(relay.home, []).append(relay)
        for home, relays in by_home.items():
            try:
                home.call_soon_threadsafe(_wake_all, relays)
            except RuntimeError:  # the chat's loop is closed: nobody is listening
                pass


def _wake_all(relays: list["_Relay"]) -> None:
    for relay in relays:
        relay.wake()


class _Relay:
    """Streamed pieces from the model loop, handed to the chat's loop in order, coalesced.

    The model loop appends under a lock and has the chat's loop woken (through the
    :class:`_Waker`) only when the queue was empty; the chat's loop takes everything queued
    at once and joins neighbouring text pieces, so its work follows its own pace, not the
    token rate.
    """

    #: the chat's loop is woken at most this often per stream (the first piece at once)...
    WAKE_GAP = 0.025
    #: ...and less often when many streams run, up to this: each wake-up resumes the turn's
    #: task on the chat's loop, ~8,000 a second with 200 streams at 25 ms, more than the
    #: socket frames they feed (chat/turn_sink.py sends one per 250 ms per turn at that load)
    MAX_WAKE_GAP = 0.25
    #: streams up to which the wake-up gap stays at WAKE_GAP
    BUSY_STREAMS = 20

    def __init__(self, home: asyncio.AbstractEventLoop, streams: Callable[[], int] = lambda: 1,
                 waker: Optional[_Waker] = None) -> None:
        self.home = home
        self._streams = streams
        self._waker = waker or _Waker()
        self._lock = threading.Lock()
        self._queue: list[tuple[str, Any]] = []
        self._waiter: Optional[asyncio.Future[None]] = None
        #: model loop side: when the chat's loop was last woken, and whether a wake is due
        self.last_wake = float("-inf")
        self.scheduled = False

    # -- model loop side
    def put(self, kind: str, value: Any) -> None:
        """Queue a piece; have the chat's loop woken now, or WAKE_GAP after the last wake."""
        with self._lock:
            was_empty = not self._queue
            self._queue.append((kind, value))
        if not was_empty or self.scheduled:
            return
        self.scheduled = True
        due = self.last_wake + self.wake_gap()
        if due <= asyncio.get_running_loop().time():
            self._waker.wake_now(self)
        else:
            self._waker.wake_at(self, due)

    def wake_gap(self) -> float:
        return load_scaled(self._streams(), self.WAKE_GAP, self.MAX_WAKE_GAP, self.BUSY_STREAMS)

    def wake_threadsafe(self) -> None:
        """Wake the chat's loop now, from any thread (the stream ended)."""
        try:
            self.home.call_soon_threadsafe(self.wake)
        except RuntimeError:  # the chat's loop is closed: nobody is listening
            pass

    # -- chat loop side
    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> None:
        with self._lock:
            if self._queue:
                return
            self._waiter = self.home.create_future()
        await self._waiter

    def take(self) -> list[tuple[str, Any]]:
        with self._lock:
            items, self._queue = self._queue, []
        merged: list[tuple[str, Any]] = []
        for kind, value in items:
            if merged and kind == merged[-1][0] == "text":
                merged[-1] = ("text", merged[-1][1] + value)
            elif merged and kind == merged[-1][0] == "tool" and value[0] == merged[-1][1][0]:
                merged[-1] = ("tool", value)  # arguments so far: the latest says it all
            else:
                merged.append((kind, value))
        return merged


class OffLoopModel:
    """A :class:`ModelClient` whose network I/O runs on a :class:`ModelIOLoop`.

    Same interface for the agent: ``stream``, ``list_models``, ``close``; everything else
    (``model``, ``protocol``, ``quirks``...) is the wrapped client's.
    """

    def __init__(self, client: ModelClient, io: ModelIOLoop) -> None:
        self._client = client
        self._io = io

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def stream(
        self,
        messages: list[dict],
        *,
        tools: Optional[list[dict]] = None,
        on_text: Optional[Callable[[str], Any]] = None,
        on_retry: Optional[Callable[[RetryNotice], Any]] = None,
        on_tool_delta: Optional[Callable[[str, str], Any]] = None,
    ) -> ModelReply:
        relay = _Relay(asyncio.get_running_loop(), lambda: self._io.streams, self._io.waker)
        work = self._io.submit(self._client.stream(
            messages, tools=tools,
            on_text=(lambda s: relay.put("text", s)) if on_text else None,
            on_retry=(lambda n: relay.put("retry", n)) if on_retry else None,
            on_tool_delta=(lambda name, args: relay.put("tool", (name, args))) if on_tool_delta else None,
        ))
        work.add_done_callback(lambda _: relay.wake_threadsafe())
        handlers: dict[str, Callable[[Any], Awaitable[None]]] = {
            "text": lambda s: _maybe_await(on_text(s) if on_text else None),
            "retry": lambda n: _maybe_await(on_retry(n) if on_retry else None),
            "tool": lambda v: _maybe_await(on_tool_delta(*v) if on_tool_delta else None),
        }
        self._io.streams += 1  # only changed on the chat's loop; read by the relays
        try:
            while True:
                if not work.done():
                    await relay.wait()
                finished = work.done()
                for kind, value in relay.take():
                    await handlers[kind](value)
                if finished:
                    break
        except BaseException:
            work.cancel()  # cancels the stream's task on the model loop
            raise
        finally:
            self._io.streams -= 1
        return work.result()

    async def list_models(self, *, timeout: Optional[float] = None) -> list[str]:
        return await self._io.run(self._client.list_models(timeout=timeout))

    async def close(self) -> None:
        await self._io.run(self._client.close())
