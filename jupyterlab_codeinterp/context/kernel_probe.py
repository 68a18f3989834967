"""The kernel probe: what variables live in the user's kernel, cheaply and safely.

One silent ``execute_request`` (``silent=True, store_history=False,
allow_stdin=False``) whose code is empty and whose single ``user_expressions``
entry exec's the kernel-side script (``_probe_kernel_describe.py`` followed by
``_probe_kernel_side.py``) in a throw-away dict and returns its JSON as a string.
Consequences, all by design:

* no names are created in the user namespace (the script's functions live in a
  dict that is cleared before the expression returns), ``_``/``__``/``_i*``,
  ``Out`` and the execution count do not move, nothing reaches a cell (no
  ``execute_input``/``execute_result``; the script never prints or raises);
* the cost does not depend on the size of the data: only O(1) attributes are
  read (shape, dtypes, ``len``, the first element, a 3-row head), never
  ``describe()``, deep memory usage or ``repr`` of unknown objects;
* the output is bounded by ``max_bytes`` inside the kernel, by priority:
  DataFrames/Series/arrays, then names assigned in recent cells (parsed from
  IPython's ``In``), then the rest as type counts;
* when the kernel is busy the request waits in its queue: we give up after
  ``timeout`` and say so. The late reply is discarded by msg_id; while it is
  still outstanding a new probe waits for it instead of queueing another.

A client given to :func:`probe_kernel` must be dedicated to probing (use
``KernelClientPool`` in probe_clients.py): replies on its shell channel that are
not ours are read and dropped. The findings read as text through probe_render.py.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import time
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from .remote_kernel import REMOTE_LATE_TEXT, GatewayProbeClient, GatewayUnreachable

# one script, in this order: how one value is described, then the walk over the namespace
_KERNEL_SIDE = "\n\n".join(
    Path(__file__).with_name(name).read_text(encoding="utf-8")
    for name in ("_probe_kernel_describe.py", "_probe_kernel_side.py"))
_EXPR_KEY = "codeinterp_probe"
# Seconds after which an unanswered probe is presumed lost (e.g. kernel restarted
# under a client we were given) and a fresh request is sent instead of waiting on it.
_PENDING_STALE_S = 30.0

BUSY_NOTE = "kernel busy; no variables"
STARTING_NOTE = "the kernel is starting; it holds no variables of the user's yet"
# A kernel_info request of ours younger than this is waited for before the kernel is called
# starting: a settled kernel answers in a few ms (the request may have just been sent).
_STARTING_GRACE_S = 0.1
# Through a gateway the first answer also waits for the websocket to open (~0.2 s on a busy
# machine): a longer wait, so a settled remote kernel is not taken for a starting one.
_REMOTE_STARTING_GRACE_S = 1.0
NO_PYTHON_NOTE = "no variable context (kernel language: {lang})"


@dataclass
class ProbeResult:
    """What the probe found. ``ok`` is False when there is no variable context."""

    ok: bool
    variables: list[dict] = field(default_factory=list)
    summary: str = ""
    note: str = ""
    elapsed_ms: float = 0.0
    bytes: int = 0
    language: str = ""
    kernel_ms: float | None = None
    busy: bool = False
    summary_data: dict = field(default_factory=dict)
    msg_id: str | None = None
    total_names: int = 0
    #: the kernel had not answered yet (not asked: see :func:`kernel_starting`)
    starting: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _compiled_payload() -> tuple[str, str, bytes]:
    """Source, base64 marshalled bytecode and this interpreter's bytecode magic.

    Compiling the ~500-line script costs 8-40 ms per probe on a busy 2-core box, more than
    the probe itself; ``marshal.loads`` takes 0.2 ms. The kernel uses the bytecode only
    when its magic number equals ours (same CPython minor version), else the source.
    """
    import importlib.util
    import marshal

    code = compile(_KERNEL_SIDE, "<codeinterp-probe>", "exec")
    return _KERNEL_SIDE, base64.b64encode(marshal.dumps(code)).decode("ascii"), importlib.util.MAGIC_NUMBER


_SRC, _BYTECODE, _MAGIC = _compiled_payload()


def build_probe_expression(max_bytes: int, **options: Any) -> str:
    """The ``user_expressions`` entry that runs the kernel-side script and returns its JSON.

    Everything happens inside a lambda whose only argument is a fresh dict: the
    script's functions are defined there, and the dict is cleared afterwards, so
    the user namespace is untouched (``globals()`` is only read).
    """
    args = {"max_bytes": int(max_bytes), **options}
    return (
        "(lambda __ci_g: (__import__('builtins').exec("
        "__import__('marshal').loads(__import__('binascii').a2b_base64(__ci_g.pop('__ci_bc__'))) "
        "if __ci_g.pop('__ci_magic__') == "
        "__import__('importlib.util', fromlist=['MAGIC_NUMBER']).MAGIC_NUMBER "
        "else __ci_g.pop('__ci_src__'), __ci_g), "
        "__ci_g.pop('__ci_out__', None), __ci_g.clear())[1])"
        "({'__ci_src__': %r, '__ci_bc__': %r, '__ci_magic__': %r, "
        "'__ci_ns__': __import__('builtins').globals(), "
        "'__ci_args__': %r, '__name__': '__codeinterp_probe__'})"
        % (_SRC, _BYTECODE, _MAGIC, args)
    )


class _ClientState:
    """Per-client bookkeeping: serialisation lock, language, probes still unanswered."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.language: str | None = None
        self.pending: dict[str, tuple[float, int]] = {}  # msg_id -> (sent at, max_bytes)
        #: when our first kernel_info request went out; set once the kernel answered it
        self.info_sent: float | None = None
        self.answered = asyncio.Event()


_STATES: weakref.WeakKeyDictionary[Any, _ClientState] = weakref.WeakKeyDictionary()


def _state(client: Any) -> _ClientState:
    st = _STATES.get(client)
    if st is None:
        st = _STATES[client] = _ClientState()
    return st


def kernel_answered(client: Any) -> bool:
    """Whether the kernel behind ``client`` has answered our kernel_info request."""
    return _state(client).answered.is_set()


def forget_client(client: Any) -> None:
    """Drop the bookkeeping of a client that is being closed."""
    _STATES.pop(client, None)


async def _drain(channel: Any) -> list[dict]:
    """Read whatever is already queued on a channel without waiting."""
    msgs = []
    while True:
        try:
            msgs.append(await channel.get_msg(timeout=0))
        except Empty:
            return msgs


async def _wait_reply(channel: Any, msg_ids: set[str], deadline: float) -> dict | None:
    """The first reply whose parent is one of msg_ids, or None at the deadline. Others are dropped."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            msg = await channel.get_msg(timeout=remaining)
        except Empty:
            return None
        if msg.get("parent_header", {}).get("msg_id") in msg_ids:
            return msg


async def _kernel_language(client: Any, deadline: float) -> str | None:
    """The kernel's language, asked on the control channel (answered even while a cell runs)."""
    channel = client.control_channel
    if not channel.is_alive():
        channel.start()
    msg = client.session.msg("kernel_info_request")
    await _drain(channel)
    channel.send(msg)
    reply = await _wait_reply(channel, {msg["header"]["msg_id"]}, deadline)
    if reply is None:
        return None
    info = reply.get("content", {}).get("language_info") or {}
    return str(info.get("name") or reply.get("content", {}).get("language") or "").lower()


def _parse_expression(value: dict) -> tuple[dict | None, str]:
    """Decode the user_expressions entry: the repr of a JSON string, or an error."""
    if not isinstance(value, dict):
        return None, "probe returned nothing"
    if value.get("status") != "ok":
        return None, f"probe failed in the kernel: {value.get('ename', '?')}: {value.get('evalue', '')}"[:300]
    text = (value.get("data") or {}).get("text/plain", "")
    try:
        s = ast.literal_eval(text)
        if not isinstance(s, str):
            raise ValueError("not a string")
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        s = text
    try:
        data = json.loads(s)
    except ValueError:
        return None, "probe output was not JSON"
    if not isinstance(data, dict):
        return None, "probe output was not an object"
    return data, ""


def _summary_text(summary: dict) -> str:
    parts = []
    if summary.get("omitted"):
        types = ", ".join(f"{n:,} {t}" for t, n in (summary.get("omitted_types") or {}).items())
        names = ", ".join(summary.get("omitted_names") or [])
        more = f" (e.g. {names}{', …' if summary['omitted'] > len(summary.get('omitted_names') or []) else ''})" if names else ""
        parts.append(f"{summary['omitted']:,} more not listed: {types}{more}")
    for key in ("modules", "functions", "classes"):
        names = summary.get(key)
        if names:
            extra = summary.get(f"{key}_omitted")
            parts.append(f"{key}: {', '.join(names)}" + (f" (+{extra} more)" if extra else ""))
    return "\n".join(parts)


async def probe_kernel(client: Any, *, timeout: float, max_bytes: int) -> ProbeResult:
    """Probe the kernel behind ``client`` (an AsyncKernelClient with running channels).

    Never raises for kernel-side trouble: a busy kernel, a non-Python kernel, a
    dead kernel or a failing probe all come back as ``ok=False`` with a note.
    """
    t0 = time.monotonic()
    deadline = t0 + max(float(timeout), 0.0)

    def done(result: ProbeResult) -> ProbeResult:
        result.elapsed_ms = round((time.monotonic() - t0) * 1000.0, 2)
        return result

    def late(note: str) -> str:
        """A kernel behind a gateway that does not answer in time says so plainly."""
        return client.late_note(timeout) if isinstance(client, GatewayProbeClient) else note

    if client is None:
        return done(ProbeResult(ok=False, note="no kernel: no variables"))
    st = _state(client)
    try:
        await asyncio.wait_for(st.lock.acquire(), timeout=max(deadline - time.monotonic(), 0.001))
    except (asyncio.TimeoutError, TimeoutError):
        return done(ProbeResult(ok=False, busy=True, note=late(BUSY_NOTE)))
    try:
        if st.language is None:
            if st.info_sent is None:
                st.info_sent = time.monotonic()
            try:
                lang = await _kernel_language(client, deadline)
            except Exception as e:  # closed sockets, stopped channels...
                if isinstance(e, GatewayUnreachable):
                    return done(ProbeResult(ok=False, note=e.note))
                return done(ProbeResult(ok=False, note=f"kernel unreachable ({type(e).__name__}); no variables"))
            if lang is None:
                return done(ProbeResult(ok=False, busy=True, note=late("kernel not responding; no variables")))
            st.language = lang
            st.answered.set()
        if st.language != "python":
            return done(ProbeResult(ok=False, language=st.language,
                                    note=NO_PYTHON_NOTE.format(lang=st.language or "unknown")))

        shell = client.shell_channel
        if not shell.is_alive():
            shell.start()
        # Replies already queued belong to probes answered while nobody listened: stale.
        for msg in await _drain(shell):
            st.pending.pop(msg.get("parent_header", {}).get("msg_id"), None)
        now = time.monotonic()
        waiting = {mid for mid, (sent, mb) in st.pending.items()
                   if mb == max_bytes and now - sent < _PENDING_STALE_S}
        if not waiting:
            msg_id = client.execute(
                "",
                silent=True,
                store_history=False,
                allow_stdin=False,
                user_expressions={_EXPR_KEY: build_probe_expression(max_bytes)},
                stop_on_error=False,
            )
            st.pending[msg_id] = (now, max_bytes)
            while len(st.pending) > 16:
                st.pending.pop(next(iter(st.pending)))
            waiting = {msg_id}
        reply = await _wait_reply(shell, waiting, deadline)
        if reply is None:
            return done(ProbeResult(ok=False, busy=True, language="python", note=late(BUSY_NOTE)))
        msg_id = reply["parent_header"]["msg_id"]
        st.pending.pop(msg_id, None)
        content = reply.get("content", {})
        if content.get("status") != "ok":
            # 'aborted': a cell ahead of us failed and the kernel dropped its queue
            return done(ProbeResult(ok=False, busy=True, language="python", msg_id=msg_id,
                                    note=f"probe {content.get('status', 'failed')}; no variables"))
        value = (content.get("user_expressions") or {}).get(_EXPR_KEY)
        text_len = len(((value or {}).get("data") or {}).get("text/plain", ""))
        data, err = _parse_expression(value)
        if data is None:
            return done(ProbeResult(ok=False, language="python", msg_id=msg_id, note=err))
        if not data.get("ok"):
            return done(ProbeResult(ok=False, language="python", msg_id=msg_id,
                                    note=f"probe failed in the kernel: {data.get('error', '?')}"))
        raw_bytes = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        summary = data.get("summary") or {}
        return done(ProbeResult(
            ok=True,
            variables=list(data.get("variables") or []),
            summary=_summary_text(summary),
            summary_data=summary,
            note=str(data.get("note") or ("output truncated to fit" if data.get("truncated") else "")),
            bytes=raw_bytes if raw_bytes else text_len,
            language="python",
            kernel_ms=data.get("elapsed_ms"),
            msg_id=msg_id,
            total_names=int(data.get("total_names") or 0),
        ))
    except GatewayUnreachable as e:  # the gateway's websocket closed
        return done(ProbeResult(ok=False, note=e.note))
    except Exception as e:  # a probe must never take the turn down with it
        return done(ProbeResult(ok=False, note=f"probe error ({type(e).__name__}: {e}); no variables"[:300]))
    finally:
        st.lock.release()


async def kernel_starting(client: Any, *, grace: float = _STARTING_GRACE_S) -> bool:
    """Is the kernel behind ``client`` still starting (so a probe would only wait)?

    Yes when it has not answered a kernel_info of this client and either its manager says
    ``execution_state == "starting"`` (jupyter_server: no status message seen since the
    process was launched) or this client's kernel_info has gone unanswered for ``grace``
    seconds (kernels whose manager tracks no state, a restarted kernel). No when the manager
    says idle or busy, or when this client never asked: the probe asks, within its own timeout.
    """
    st = _STATES.get(client)
    if st is not None and st.answered.is_set():
        return False
    state = getattr(getattr(client, "parent", None), "execution_state", None)
    if state == "starting":
        return True
    if state in ("idle", "busy"):
        # the manager has heard the kernel's status: it is up, whatever became of a
        # kernel_info of ours sent while it was starting (a warm-up that timed out)
        return False
    if st is None or st.info_sent is None:
        return False
    if isinstance(client, GatewayProbeClient):
        grace = max(grace, _REMOTE_STARTING_GRACE_S)
    left = st.info_sent + grace - time.monotonic()
    if left > 0:
        try:
            await asyncio.wait_for(st.answered.wait(), left)
        except (asyncio.TimeoutError, TimeoutError):
            pass
    return not st.answered.is_set()


async def eval_expression(client: Any, expression: str, *, timeout: float) -> str:
    """Evaluate one Python expression silently and return its text (for read-only tools).

    Same rules and same per-client lock as the probe: ``silent``, no history, no stdin,
    the value through ``user_expressions``, replies matched on ``msg_id``. A busy kernel
    gives a sentence saying so instead of an exception.
    """
    deadline = time.monotonic() + max(float(timeout), 0.0)
    busy = REMOTE_LATE_TEXT if isinstance(client, GatewayProbeClient) else \
        "the kernel is busy (no answer in time); try again when it is idle"
    st = _state(client)
    try:
        await asyncio.wait_for(st.lock.acquire(), timeout=max(deadline - time.monotonic(), 0.001))
    except (asyncio.TimeoutError, TimeoutError):
        return busy
    try:
        shell = client.shell_channel
        if not shell.is_alive():
            shell.start()
        for msg in await _drain(shell):
            st.pending.pop(msg.get("parent_header", {}).get("msg_id"), None)
        msg_id = client.execute("", silent=True, store_history=False, allow_stdin=False,
                                user_expressions={"value": expression}, stop_on_error=False)
        reply = await _wait_reply(shell, {msg_id}, deadline)
        if reply is None:
            return busy
        value = (reply.get("content", {}).get("user_expressions") or {}).get("value") or {}
        if value.get("status") != "ok":
            return f"{value.get('ename', 'Error')}: {value.get('evalue', '')}"[:500]
        text = (value.get("data") or {}).get("text/plain", "")
        if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
            try:
                parsed = ast.literal_eval(text)
                if isinstance(parsed, str):
                    text = parsed
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                pass
        return text
    except GatewayUnreachable as e:
        return e.sentence
    finally:
        st.lock.release()
