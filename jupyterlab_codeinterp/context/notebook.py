"""Notebook cells and errors as compact context, and tracebacks cut to what matters.

Works on nbformat-shaped cells (the dicts of an ``.ipynb``, or ``nbformat``
NotebookNode objects). :func:`compact_traceback` is shared with the agent loop:
a raw IPython traceback for a pandas ``KeyError`` is 3-12 KB of ANSI-coloured
library source; the model needs the user's own lines and the last line (~0.5 KB).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

# Frame headers in the traceback styles we meet:
#   IPython >= 8.5:   "Cell In[3], line 2" / "Cell In[1], line 4, in f(d)" / "File /p/x.py:12, in f(a)"
#   IPython 8.0-8.4:  "Input In [3], in <cell line: 1>()"
#   IPython 7:        "<ipython-input-3-abc>" in <module>  /  "~/lib/x.py in f(a)"
#   plain Python:     '  File "/p/x.py", line 12, in f'
_FRAME_RES = [
    re.compile(r"^\s*Cell In\s*\[\d*\],\s*line \d+"),
    re.compile(r"^\s*Input In \[\d*\]"),
    re.compile(r"^\s*<ipython-input-\d+-[0-9a-f]+>"),
    re.compile(r'^\s*File "[^"]+", line \d+'),
    re.compile(r"^\s*File \S.*?:\d+(?:, in .*)?$"),
    re.compile(r"^\s*(?:~|/|[A-Za-z]:\\)\S*\.(?:py|pyx|pxi|pyc)\s+in\s+\S"),
]
_CHAIN_RE = re.compile(
    r"^\s*(?:The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:)\s*$"
)
_TB_HEADER_RE = re.compile(r"^\s*(?:\S+\s+)?Traceback \(most recent call last\):?\s*$")
_RULE_RE = re.compile(r"^\s*-{8,}\s*$")
_ARROW_RE = re.compile(r"^\s*-*>\s*\d+")
_CARET_RE = re.compile(r"^\s*[~^]+\s*$")
_SKIPPED_RE = re.compile(r"^\s*\[\.\.\. skipping")
_USER_MARKERS = ("Cell In[", "Input In [", "<ipython-input-", "<stdin>", 'File "<string>"')
_LIB_MARKERS = ("site-packages", "dist-packages", "/lib/python", "\\lib\\", "<frozen ", "/_libs/",
                "pandas/_libs", ".pyx", ".pxi")
_IPYKERNEL_TMP_RE = re.compile(r"ipykernel_\d+[/\\]\d+\.py")


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text or "")


def _is_frame_header(line: str) -> bool:
    return any(r.match(line) for r in _FRAME_RES)


def _is_user_frame(header: str, user_paths: Iterable[str]) -> bool:
    if any(m in header for m in _USER_MARKERS) or _IPYKERNEL_TMP_RE.search(header):
        return True
    for p in user_paths:
        if p and p in header and not any(m in header for m in _LIB_MARKERS):
            return True
    return False


def _short_location(header: str) -> str:
    """'File /x/site-packages/pandas/core/frame.py:4330, in DataFrame.__getitem__(self, key)'
    -> 'pandas/core/frame.py:4330 in DataFrame.__getitem__'"""
    h = header.strip()
    m = re.match(r'File "([^"]+)", line (\d+)(?:, in (.+))?', h)
    if m:
        path, line, fn = m.group(1), m.group(2), m.group(3) or ""
    else:
        m = re.match(r"File (\S.*?):(\d+)(?:, in (.+))?$", h)
        if m:
            path, line, fn = m.group(1), m.group(2), m.group(3) or ""
        else:
            return h[:120]
    for marker in ("site-packages/", "dist-packages/", "site-packages\\", "dist-packages\\"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        m2 = re.search(r"[/\\]lib[/\\]python\d[\d.]*[/\\](.*)$", path)
        if m2:
            path = m2.group(1)
    fn = re.sub(r"\(.*\)$", "", fn).strip()
    return f"{path}:{line}" + (f" in {fn}" if fn else "")


class _Frame:
    __slots__ = ("header", "lines", "user")

    def __init__(self, header: str, user: bool) -> None:
        self.header = header
        self.lines: list[str] = []
        self.user = user


class _Segment:
    """One exception of a chain: its frames and the exception text after them."""

    def __init__(self) -> None:
        self.frames: list[_Frame] = []
        self.exc: list[str] = []
        self.chain: str = ""  # separator text that preceded this segment


def _parse(lines: list[str], user_paths: Iterable[str]) -> list[_Segment]:
    segs = [_Segment()]
    frame: _Frame | None = None
    for line in lines:
        if not line.strip():
            continue
        if _CHAIN_RE.match(line):
            segs.append(_Segment())
            segs[-1].chain = line.strip()
            frame = None
            continue
        if _RULE_RE.match(line) or _TB_HEADER_RE.match(line) or _SKIPPED_RE.match(line):
            frame = None
            continue
        if _is_frame_header(line):
            if segs[-1].exc:  # frames after exception text without a separator: new exception
                segs.append(_Segment())
            frame = _Frame(line.rstrip(), _is_user_frame(line, user_paths))
            segs[-1].frames.append(frame)
            continue
        if frame is not None and (line[:1].isspace() or _ARROW_RE.match(line)):
            frame.lines.append(line.rstrip())
            continue
        frame = None
        segs[-1].exc.append(line.rstrip())
    return [s for s in segs if s.frames or s.exc]


def _frame_text(frame: _Frame, context: int) -> list[str]:
    """A user frame: its header and the arrowed line (plus ``context`` lines before it)."""
    out = [frame.header.strip()]
    arrow = next((i for i, ln in enumerate(frame.lines) if _ARROW_RE.match(ln)), None)
    if arrow is not None:
        keep = frame.lines[max(0, arrow - context): arrow + 1]
        keep += [ln for ln in frame.lines[arrow + 1: arrow + 3] if _CARET_RE.match(ln)]
    else:  # plain Python style / SyntaxError: code line(s) and carets follow the header
        keep = frame.lines[: 2 + context]
    out.extend(ln[:200] for ln in keep)
    return out


def _render(segs: list[_Segment], context: int, max_user_frames: int, exc_chars: int) -> str:
    out: list[str] = []
    last = len(segs) - 1
    final_exc = [ln for ln in segs[-1].exc] if segs else []
    for si, seg in enumerate(segs):
        has_user = any(f.user for f in seg.frames)
        if si < last and not has_user:
            # a library-internal cause (pandas' KeyError from get_loc...): one line at most
            exc = seg.exc[-1].strip() if seg.exc else ""
            following = segs[si + 1].exc if si + 1 <= last else []
            if exc and exc not in {e.strip() for e in final_exc + following}:
                out.append(f"(caused by {exc[:exc_chars]})")
            continue
        if seg.chain and out:
            out.append(seg.chain)
        user_idx = [i for i, f in enumerate(seg.frames) if f.user]
        if len(user_idx) > max_user_frames:
            # keep the outermost cell frame and the innermost user frames
            kept = set(user_idx[:1] + user_idx[-(max_user_frames - 1):]) if max_user_frames > 1 else set(user_idx[-1:])
        else:
            kept = set(user_idx)
        run: list[_Frame] = []
        dropped_user = 0

        def flush() -> None:
            nonlocal dropped_user
            if run:
                where = _short_location(run[-1].header)
                n = len(run)
                out.append(f"... {n} library frame{'s' if n != 1 else ''} (last: {where}) ...")
                run.clear()
            if dropped_user:
                out.append(f"... {dropped_user} more frame{'s' if dropped_user != 1 else ''} of your code ...")
                dropped_user = 0

        for i, f in enumerate(seg.frames):
            if f.user and i in kept:
                flush()
                out.extend(_frame_text(f, context))
            elif f.user:
                dropped_user += 1
            else:
                run.append(f)
        flush()
        for ln in seg.exc[:6]:
            out.append(ln if len(ln) <= exc_chars else ln[: exc_chars - 1] + "…")
        if len(seg.exc) > 6:
            out.append(f"... ({len(seg.exc) - 6} more lines)")
    return "\n".join(out)


def compact_traceback(
    traceback: list[str] | str | None,
    max_bytes: int = 1000,
    *,
    user_paths: Iterable[str] = (),
    ename: str | None = None,
    evalue: str | None = None,
) -> str:
    """The traceback cut to the user's own frames and the exception, within max_bytes.

    ANSI codes are stripped; runs of library frames become one
    ``... N library frames (last: pkg/mod.py:123 in func) ...`` line; a chained
    cause raised inside library code collapses to one line (or disappears when it
    repeats the final exception). ``user_paths``: directories whose files count as
    user code (e.g. the notebook's directory). Never raises.
    """
    try:
        if traceback is None:
            traceback = []
        if isinstance(traceback, str):
            traceback = [traceback]
        text = strip_ansi("\n".join(str(t) for t in traceback))
        lines = text.splitlines()
        segs = _parse(lines, tuple(user_paths))
        if not segs or not segs[-1].exc:
            if ename:
                segs.append(_Segment())
                segs[-1].exc = [f"{ename}: {evalue or ''}".rstrip(": ").rstrip()]
        result = ""
        for context, max_user, exc_chars in ((1, 6, 400), (0, 4, 300), (0, 2, 200), (0, 1, 160)):
            result = _render(segs, context, max_user, exc_chars)
            if len(result.encode("utf-8")) <= max_bytes:
                return result
        # still too long: keep the exception line(s), and the head of the rest
        tail = "\n".join(segs[-1].exc[:2]) if segs and segs[-1].exc else ""
        tail = _cut(tail, max(max_bytes // 2, 80))
        head_budget = max_bytes - len(tail.encode("utf-8")) - 5
        head = result[: max(result.find(tail), 0)] if tail and tail in result else result
        return (_cut(head, head_budget) + "\n" + tail).strip() if head_budget > 20 else _cut(tail, max_bytes)
    except Exception:  # robustness: fall back to the last lines of the stripped text
        try:
            flat = strip_ansi("\n".join(map(str, traceback or [])))
        except Exception:
            flat = f"{ename}: {evalue}"
        return _cut(flat[-max_bytes:], max_bytes)


def _cut(text: str, max_bytes: int) -> str:
    b = text.encode("utf-8")
    if len(b) <= max_bytes:
        return text
    return b[: max(max_bytes - 3, 0)].decode("utf-8", "ignore") + "…"


def _join(src: Any) -> str:
    if isinstance(src, list):
        return "".join(str(s) for s in src)
    return str(src or "")


def head_tail(text: str, max_chars: int) -> str:
    """The start and the end of a long text, with a marker of what was cut."""
    if len(text) <= max_chars:
        return text
    head = int(max_chars * 0.6)
    tail = max_chars - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n… [{cut:,} characters cut] …\n{text[-tail:]}"


def summarize_output(output: dict, *, max_chars: int = 600, tb_bytes: int = 1000,
                     user_paths: Iterable[str] = ()) -> dict:
    """One nbformat output as a small dict: {'type', 'text'} (+ ename/evalue for errors)."""
    otype = output.get("output_type", "")
    if otype == "stream":
        text = strip_ansi(_join(output.get("text")))
        return {"type": f"stream:{output.get('name', 'stdout')}", "text": head_tail(text, max_chars)}
    if otype == "error":
        tb = compact_traceback(output.get("traceback") or [], tb_bytes, user_paths=user_paths,
                               ename=output.get("ename"), evalue=output.get("evalue"))
        return {"type": "error", "ename": str(output.get("ename", "")),
                "evalue": head_tail(str(output.get("evalue", "")), 300), "text": tb}
    if otype in ("execute_result", "display_data", "update_display_data"):
        data = output.get("data") or {}
        notes = []
        for mime in data:
            if mime.startswith("image/"):
                meta = (output.get("metadata") or {}).get(mime) or {}
                size = f" {meta.get('width')}x{meta.get('height')}" if meta.get("width") else ""
                notes.append(f"[{mime} image{size}]")
        text = ""
        if "text/plain" in data:
            text = head_tail(strip_ansi(_join(data["text/plain"])), max_chars)
        elif "text/markdown" in data:
            text = head_tail(_join(data["text/markdown"]), max_chars)
        elif "text/html" in data:
            notes.append(f"[html output, {len(_join(data['text/html'])):,} characters]")
        elif not notes and data:
            notes.append("[" + ", ".join(sorted(data))[:100] + "]")
        # a figure's text/plain is just "<Figure size ...>": keep the note, drop noise
        if notes and text.startswith("<Figure"):
            text = ""
        return {"type": otype, "text": "\n".join(x for x in [text, " ".join(notes)] if x)}
    return {"type": otype or "unknown", "text": ""}


def summarize_cells(
    cells: list[dict] | None,
    *,
    max_cells: int = 8,
    max_source_chars: int = 1200,
    max_output_chars: int = 500,
    max_errors: int = 3,
    tb_bytes: int = 1000,
    user_paths: Iterable[str] = (),
) -> dict:
    """The last ``max_cells`` cells (by position) and the last ``max_errors`` errors.

    Returns {'cells': [...], 'errors': [...], 'total_cells': n}; each cell has
    index, type, execution_count, source (truncated) and summarised outputs.
    """
    cells = list(cells or [])
    out_cells: list[dict] = []
    errors: list[dict] = []
    for idx, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        for o in cell.get("outputs") or []:
            if isinstance(o, dict) and o.get("output_type") == "error":
                s = summarize_output(o, tb_bytes=tb_bytes, user_paths=user_paths)
                errors.append({"cell": idx, "execution_count": cell.get("execution_count"),
                               "ename": s["ename"], "evalue": s["evalue"], "traceback": s["text"],
                               "source": head_tail(_join(cell.get("source")), 400)})
    start = max(0, len(cells) - max_cells)
    for idx in range(start, len(cells)):
        cell = cells[idx]
        if not isinstance(cell, dict):
            continue
        src = _join(cell.get("source"))
        if not src.strip() and not cell.get("outputs"):
            continue
        entry: dict[str, Any] = {"index": idx, "type": cell.get("cell_type", "code"),
                                 "source": head_tail(src, max_source_chars)}
        if cell.get("cell_type", "code") == "code":
            entry["execution_count"] = cell.get("execution_count")
            outs = [summarize_output(o, max_chars=max_output_chars, tb_bytes=min(tb_bytes, 600),
                                     user_paths=user_paths)
                    for o in (cell.get("outputs") or []) if isinstance(o, dict)]
            entry["outputs"] = [o for o in outs if o.get("text")][:4]
            md = (cell.get("metadata") or {}).get("codeinterp")
            if isinstance(md, dict) and md.get("generated"):
                entry["generated"] = True
        out_cells.append(entry)
    return {"cells": out_cells, "errors": errors[-max_errors:], "total_cells": len(cells)}


def render_cells(cells: list[dict], *, with_outputs: bool = True) -> str:
    parts = []
    for c in cells:
        label = f"[cell {c['index']}"
        # no execution counts: they change with every run, and the prompt should not
        if c.get("type") == "code":
            if c.get("execution_count") is None:
                label += ", not run"
        elif c.get("type"):
            label += f", {c['type']}"
        if c.get("generated"):
            label += ", generated"
        label += "]"
        parts.append(label + "\n" + c.get("source", ""))
        if with_outputs:
            for o in c.get("outputs") or []:
                kind = o["type"]
                text = o["text"]
                if kind == "error":
                    parts.append(f"  -> error {o.get('ename')}: {o.get('evalue')}")
                else:
                    parts.append("  -> " + kind + ": " + text.replace("\n", "\n     "))
    return "\n".join(parts)


def render_errors(errors: list[dict], *, with_traceback: bool = True) -> str:
    parts = []
    for e in errors:
        head = f"[cell {e['cell']}]"
        if with_traceback:
            parts.append(f"{head} {e['ename']}: {e['evalue']}\n{e['traceback']}")
        else:
            parts.append(f"{head} {e['ename']}: {e['evalue']}")
    return "\n\n".join(parts)
