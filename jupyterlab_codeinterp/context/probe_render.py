"""The probe's findings as text for the model: one to three lines per variable, then the rest."""

from __future__ import annotations

import json
from typing import Any

from .kernel_probe import ProbeResult

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
