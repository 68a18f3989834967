"""Turning a cell's outcome into the compact text the model reads.

Peers send 2.5–12 KB of raw traceback per failure; we send status, the head and tail of
long output, images as notes, and for errors ``ename: evalue`` plus the user's own frames
(see :func:`jupyterlab_codeinterp.context.notebook.compact_traceback`), usually < 1 KB.
"""

from __future__ import annotations

import re
from typing import Any

from ..context.notebook import compact_traceback
from ..protocol import CellOutcome

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

#: characters of output kept from the head and from the tail of a long output
HEAD_CHARS = 1500
TAIL_CHARS = 700


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def clip_middle(text: str, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> str:
    if len(text) <= head + tail + 80:
        return text
    cut = len(text) - head - tail
    return f"{text[:head]}\n... [{cut} characters cut] ...\n{text[-tail:]}"


def _text_of(data: Any) -> str:
    return "".join(data) if isinstance(data, list) else str(data)


def output_text(outputs: list[dict[str, Any]]) -> tuple[str, int]:
    """Concatenated textual output of a cell and the number of images it produced."""
    parts: list[str] = []
    images = 0
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(_text_of(out.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if any(k.startswith("image/") for k in data):
                images += 1
                if "text/plain" in data and not _text_of(data["text/plain"]).startswith("<Figure"):
                    parts.append(_text_of(data["text/plain"]) + "\n")
                continue
            if "text/plain" in data:
                parts.append(_text_of(data["text/plain"]) + "\n")
            elif "text/html" in data:
                parts.append("[html output]\n")
            elif "text/markdown" in data:
                parts.append(_text_of(data["text/markdown"]) + "\n")
            elif data:
                parts.append(f"[{', '.join(sorted(data))} output]\n")
    return strip_ansi("".join(parts)), images


def images_of(outputs: list[dict[str, Any]], limit: int = 4) -> list[str]:
    """base64 PNGs of a cell's outputs (for the chat cards and vision models)."""
    found: list[str] = []
    for out in outputs:
        data = out.get("data") or {}
        png = data.get("image/png")
        if png:
            found.append(_text_of(png).replace("\n", ""))
            if len(found) >= limit:
                break
    return found


def error_signature(outcome: CellOutcome) -> str:
    """What makes two failures 'the same error' for the repair policy's early stop."""
    evalue = re.sub(r"0x[0-9a-f]+|\d+", "#", strip_ansi(outcome.evalue))[:200]
    return f"{outcome.ename}: {evalue}"


def summarize_outcome(outcome: CellOutcome) -> str:
    """The compact result the model receives for a run_code call."""
    text, images = output_text(outcome.outputs)
    lines: list[str] = []
    if outcome.status == "ok":
        lines.append("status: ok")
    elif outcome.status == "error":
        lines.append("status: error")
    elif outcome.status == "timeout":
        lines.append("status: timed out (the kernel was interrupted)")
    elif outcome.status == "interrupted":
        lines.append("status: interrupted")
    elif outcome.status == "skipped":
        lines.append("status: skipped by the user (the code did not run)")
    else:
        lines.append(f"status: {outcome.status}")
    if text.strip():
        lines.append("output:\n" + clip_middle(text.rstrip("\n")))
    elif outcome.status == "ok":
        lines.append("output: (none)")
    if images:
        lines.append(f"[{images} image{'s' if images > 1 else ''} displayed]")
    if outcome.status == "error":
        tb = compact_traceback(outcome.traceback) if outcome.traceback else ""
        head = f"{outcome.ename}: {strip_ansi(outcome.evalue)}"
        lines.append("error: " + head)
        if tb and tb.strip() != head.strip():
            lines.append("traceback:\n" + tb)
    return "\n".join(lines)
