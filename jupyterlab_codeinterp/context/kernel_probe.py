"""The kernel probe: what variables live in the user's kernel, cheaply and safely.

One silent ``execute_request`` (``silent=True, store_history=False,
allow_stdin=False``) whose code is empty and whose single ``user_expressions``
entry exec's the kernel-side script (``_probe_kernel_side.py``) in a throw-away
dict and returns its JSON as a string. Consequences, all by design:

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
:class:`KernelClientPool`): replies on its shell channel that are not ours are
read and dropped.
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

from .remote_kernel import (REMOTE_LATE_TEXT, GatewayProbeClient, GatewayUnreachable, is_gateway_kernel,
                            new_gateway_probe_client)

_KERNEL_SIDE = (Path(__file__).with_name("_probe_kernel_side.py")).read_text(encoding="utf-8")
_EXPR_KEY = "codeinterp_probe"
# Seconds after which an unanswered probe is presumed lost (e.g. kernel restarted
# under a client we were given) and a fresh request is sent instead of waiting on it.
_PENDING_STALE_S = 30.0

BUSY_NOTE = "kernel busy; no variables"
STARTING_NOTE = "the kernel is starting; it holds no variables of the user's yet"
# A kernel_info request of ours younger than this is waited for before the kernel is called
# starting: a settled kernel answers in a few ms (the request may have just been sent).
_STARTING_GRACE_S = 0.1
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
    seconds (kernels whose manager tracks no state, a restarted kernel). A client that never
    asked is not judged: the probe asks, within its own timeout.
    """
    st = _STATES.get(client)
    if st is not None and st.answered.is_set():
        return False
    if getattr(getattr(client, "parent", None), "execution_state", None) == "starting":
        return True
    if st is None or st.info_sent is None:
        return False
    left = st.info_sent + grace - time.monotonic()
    if left > 0:
        try:
            await asyncio.wait_for(st.answered.wait(), left)
        except (asyncio.TimeoutError, TimeoutError):
            pass
    return not st.answered.is_set()


# ---------------------------------------------------------------------------
# rendering for the model

def _human_bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return ""


def _shape(shape: Any) -> str:
    if not isinstance(shape, list):
        return "?"
    return " × ".join(f"{s:,}" if isinstance(s, int) else str(s) for s in shape) or "()"


def _fmt_value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False) if isinstance(v, str) else str(v)


def render_variable(v: dict, detail: int = 2) -> str:
    """One variable as one to three lines of text."""
    name, kind, typ = v.get("name", "?"), v.get("kind"), v.get("type", "?")
    mem = _human_bytes(v.get("memory"))
    mem = f", {mem}" if mem else ""
    if kind == "DataFrame":
        rows, cols = ((v.get("shape") or []) + [None, None])[:2]
        head = f"{name}: {typ.split('.')[-1]} {rows:,} rows × {cols:,} columns{mem}" if isinstance(rows, int) and isinstance(cols, int) else f"{name}: {typ}{mem}"
        if v.get("index"):
            head += f", index {v['index']}"
        lines = [head]
        columns = v.get("columns") or {}
        col_items = list(columns.items())
        if detail < 2:
            col_items = col_items[: 12 if detail == 1 else 6]
        coltext = ", ".join(f"{c} ({d})" for c, d in col_items)
        left = (v.get("columns_omitted") or 0) + len(columns) - len(col_items)
        if left:
            counts = v.get("dtype_counts")
            coltext += f", … +{left:,} more columns"
            if counts and detail >= 1:
                coltext += " (dtypes of all: " + ", ".join(f"{k}×{n:,}" for k, n in counts.items()) + ")"
        lines.append(f"  columns: {coltext}")
        if detail >= 2 and v.get("head"):
            ncols = len(v["head"][0]) if v["head"] else 0
            which = "the columns above" if ncols >= len(columns) else f"the first {ncols} columns"
            lines.append(f"  first {len(v['head'])} rows ({which}):")
            lines.extend("    " + ", ".join(_fmt_value(x) for x in row) for row in v["head"])
        return "\n".join(lines)
    if kind == "Series":
        sname = f" {v['series_name']!r}" if v.get("series_name") else ""
        s = f"{name}: {typ.split('.')[-1]}{sname} len {_shape(v.get('shape'))}, {v.get('dtype', '?')}{mem}"
        if detail >= 1 and v.get("head"):
            s += f"; head: {', '.join(_fmt_value(x) for x in v['head'])}"
        return s
    if kind in ("ndarray", "array"):
        s = f"{name}: {typ} shape ({_shape(v.get('shape'))})"
        if v.get("dtype"):
            s += f", {v['dtype']}"
        if v.get("device"):
            s += f", on {v['device']}"
        s += mem
        if detail >= 1 and v.get("head"):
            s += f"; first: {', '.join(_fmt_value(x) for x in v['head'])}"
        return s
    if kind in ("str", "bytes"):
        if "value" in v:
            return f"{name} = {v['value'] if kind == 'bytes' else _fmt_value(v['value'])} ({typ})"
        prefix = v.get("prefix", "")
        return f"{name}: {typ} len {v.get('len', 0):,}, starts {prefix if kind == 'bytes' else _fmt_value(prefix)}"
    if kind == "scalar":
        return f"{name} = {_fmt_value(v.get('value'))} ({typ})"
    if kind == "container":
        s = f"{name}: {typ} len {v.get('len', 0):,}"
        if v.get("first"):
            s += f" of {v['first']}" if "->" not in v["first"] else f" ({v['first']})"
        if detail >= 1:
            if v.get("keys"):
                s += f"; keys: {', '.join(_fmt_value(k) for k in v['keys'])}" + (", …" if v.get("len", 0) > len(v["keys"]) else "")
            if v.get("first_keys"):
                s += f"; first item keys: {', '.join(_fmt_value(k) for k in v['first_keys'])}"
            if "first_value" in v:
                s += f"; first: {_fmt_value(v['first_value'])}"
        return s
    return f"{name}: {typ}"


def render_probe(result: ProbeResult, *, max_variables: int | None = None, detail: int = 2) -> str:
    """Compact text for the model. ``max_variables``/``detail`` let callers shrink it to a budget."""
    if not result.ok:
        return f"(no variables: {result.note or 'probe unavailable'})"
    vs = result.variables if max_variables is None else result.variables[:max_variables]
    lines = [render_variable(v, detail) for v in vs]
    if max_variables is not None and len(result.variables) > max_variables:
        rest = result.variables[max_variables:]
        lines.append(f"{len(rest):,} more listed briefly: " + ", ".join(
            f"{v.get('name')} ({v.get('type', '?').split('.')[-1]})" for v in rest[:40])
            + (", …" if len(rest) > 40 else ""))
    if result.summary:
        lines.append(result.summary)
    if not lines:
        lines.append("(the namespace has no user variables)")
    if result.note:
        lines.append(f"note: {result.note}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# one dedicated client per kernel on the server

def new_probe_client(kernel: Any) -> Any:
    """A client of ``kernel`` (a KernelManager) with its own Session, channels started.

    A kernel behind a gateway (``--gateway-url``) gets a websocket client instead, which
    connects on first use (see remote_kernel.py); the local path below is unchanged.

    ``KernelManager.client()`` shares the manager's Session, hence its ZMQ identity;
    two DEALER sockets with one identity on the kernel's ROUTER make replies go to only
    one of them, so a second client made that way can silently starve the first.
    Only shell and control are opened (an unread IOPub subscription buffers every output).
    """
    from jupyter_client.session import Session

    if is_gateway_kernel(kernel):
        return new_gateway_probe_client(kernel)
    base = kernel.session
    session = Session(key=base.key, signature_scheme=base.signature_scheme,
                      username=getattr(base, "username", "codeinterp"))
    client = kernel.client(session=session)
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=True)
    return client


KERNEL_EVENTS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


class KernelClientPool:
    """One probe client per kernel of a jupyter_server MultiKernelManager, reused across requests.

    Clients open only the shell and control channels: an IOPub subscription nobody
    reads would buffer every output of the user's cells. ``wait_for_ready`` is not
    used either: it blocks on a busy kernel, while the probe's own control-channel
    ``kernel_info`` already checks readiness within the probe timeout.

    Each client holds a ZMQ context (an I/O thread) and two sockets that reconnect for
    ever: a client whose kernel is gone is closed at once, on the server's kernel events
    (:meth:`follow_events`: shutdown, restart) and, for kernels that vanish without one
    (a kernel that died and was not restarted), whenever the pool is used.
    """

    def __init__(self, kernel_manager: Any, *, probe_max_bytes: int = 16000,
                 warm_timeout: float = 60.0) -> None:
        self.kernel_manager = kernel_manager
        self.probe_max_bytes = probe_max_bytes
        #: how long a warm-up waits for a starting kernel to answer
        self.warm_timeout = warm_timeout
        self._clients: dict[str, tuple[Any, tuple]] = {}
        self._warming: dict[str, asyncio.Task[Any]] = {}
        self._lock = asyncio.Lock()
        self._event_logger: Any = None

    def __len__(self) -> int:
        return len(self._clients)

    @staticmethod
    def _identity(kernel: Any) -> tuple:
        """Changes when the kernel restarts (new provisioner / process, maybe new ports)."""
        prov = getattr(kernel, "provisioner", None)
        pid = getattr(prov, "pid", None) or getattr(getattr(prov, "process", None), "pid", None)
        try:
            conn = kernel.get_connection_info()
            ports = tuple(conn.get(k) for k in ("shell_port", "control_port", "ip", "key"))
        except Exception:
            ports = ()
        return (id(kernel), id(prov), pid, ports)

    async def get(self, kernel_id: str) -> Any | None:
        """The probe client for kernel_id, or None when no such kernel is running."""
        async with self._lock:
            self.prune()
            if kernel_id not in self.kernel_manager:
                self.drop(kernel_id)
                return None
            kernel = self.kernel_manager.get_kernel(kernel_id)
            ident = self._identity(kernel)
            entry = self._clients.get(kernel_id)
            # a gateway client whose websocket closed is replaced (connection_lost)
            if entry is not None and entry[1] == ident and not getattr(entry[0], "connection_lost", False):
                return entry[0]
            self.drop(kernel_id)
            client = new_probe_client(kernel)
            self._clients[kernel_id] = (client, ident)
            return client

    async def probe(self, kernel_id: str, *, timeout: float, max_bytes: int) -> ProbeResult:
        client = await self.get(kernel_id)
        if client is None:
            return ProbeResult(ok=False, note="no kernel running: no variables")
        return await probe_kernel(client, timeout=timeout, max_bytes=max_bytes)

    def warm(self, kernel_id: str) -> None:
        """Connect to the kernel and probe it once, in the background, unless done already.

        The first probe of a client pays for connecting, the kernel_info round trip and
        the kernel's first request (~20-30 ms on a settled kernel, the kernel's whole start
        on a starting one); a chat bound to the notebook should not pay it on its first
        prompt. While a starting kernel has not answered, prompts do not wait for it
        (:func:`kernel_starting`).
        """
        task = self._warming.get(kernel_id)
        if task is not None and not task.done():
            return
        entry = self._clients.get(kernel_id)
        if entry is not None and _state(entry[0]).answered.is_set():
            return
        task = asyncio.ensure_future(self._warm(kernel_id))
        self._warming[kernel_id] = task

        def forget(t: asyncio.Task[Any]) -> None:
            if self._warming.get(kernel_id) is t:
                del self._warming[kernel_id]

        task.add_done_callback(forget)

    async def _warm(self, kernel_id: str) -> None:
        client = await self.get(kernel_id)
        if client is None or _state(client).answered.is_set():
            return
        await probe_kernel(client, timeout=self.warm_timeout, max_bytes=self.probe_max_bytes)

    def drop(self, kernel_id: str) -> None:
        task = self._warming.pop(kernel_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        entry = self._clients.pop(kernel_id, None)
        if entry is not None:
            _STATES.pop(entry[0], None)
            try:
                entry[0].stop_channels()
            except Exception:
                pass

    def prune(self) -> None:
        """Forget clients of kernels that are gone."""
        for kid in list(self._clients):
            if kid not in self.kernel_manager:
                self.drop(kid)

    def follow_events(self, event_logger: Any) -> bool:
        """Close a kernel's client as soon as the server shuts the kernel down or restarts it."""
        if event_logger is None or not hasattr(event_logger, "add_listener"):
            return False
        event_logger.add_listener(schema_id=KERNEL_EVENTS, listener=self.on_kernel_event)
        self._event_logger = event_logger
        return True

    async def on_kernel_event(self, logger: Any = None, schema_id: str = "",
                              data: dict[str, Any] | None = None) -> None:
        data = data or {}
        kernel_id = data.get("kernel_id")
        action = data.get("action")
        if kernel_id and action in ("shutdown", "restart"):
            had = kernel_id in self._clients or kernel_id in self._warming
            self.drop(kernel_id)
            if action == "restart" and had and kernel_id in self.kernel_manager:
                self.warm(kernel_id)  # it was in use: be ready for the next prompt
        self.prune()

    async def close_all(self) -> None:
        if self._event_logger is not None:
            try:
                self._event_logger.remove_listener(schema_id=KERNEL_EVENTS, listener=self.on_kernel_event)
            except Exception:
                pass
            self._event_logger = None
        async with self._lock:
            for kid in list(set(self._clients) | set(self._warming)):
                self.drop(kid)


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
