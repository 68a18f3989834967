"""The tools the model may call. Only ``run_code`` changes anything; the rest are read-only."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Optional

RUN_CODE = "run_code"
INSPECT_VARIABLE = "inspect_variable"
READ_FILE = "read_file"

TOOL_SPECS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": RUN_CODE,
            "description": (
                "Insert the code as a new cell in the user's notebook, run it in their kernel "
                "and return its output. If the previous run_code failed, this replaces that "
                "failed cell instead (send the whole corrected cell)."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "Python source of the cell."},
                },
                "required": ["code"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": INSPECT_VARIABLE,
            "description": (
                "Look at one kernel variable in more depth (DataFrame dtypes, head, "
                "missing values; array stats; repr of other objects) without changing anything."
            ),
            "parameters": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": READ_FILE,
            "description": "Read the first lines of a text file next to the notebook.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the notebook."},
                    "lines": {"type": "integer", "description": "How many lines (default 20)."},
                },
                "required": ["path"],
            },
        },
    },
]

TOOL_NAMES = {spec["function"]["name"] for spec in TOOL_SPECS}


def parse_arguments(raw: str) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """Tool-call arguments as a dict, or an error text for the model when they are malformed."""
    if not raw or not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"The tool arguments were not valid JSON ({exc.msg} at char {exc.pos}). Send them again as a JSON object."
    if isinstance(value, str):  # some servers double-encode
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if not isinstance(value, dict):
        return None, "The tool arguments must be a JSON object."
    return value, None


# Runs silently in the kernel through user_expressions: builds the description inside a
# lambda so no name is left behind in the user's namespace.
_INSPECT_EXPR = r"""(lambda __n: (lambda __v: (lambda pd, np: (
    ("DataFrame shape=%s\ndtypes:\n%s\nmissing values:\n%s\nhead:\n%s" % (
        __v.shape, __v.dtypes.to_string()[:3000], __v.isna().sum().to_string()[:2000],
        __v.head(5).to_string(max_cols=30, max_colwidth=40)[:4000]))
    if pd is not None and isinstance(__v, pd.DataFrame) else
    ("Series name=%r len=%d dtype=%s\nhead:\n%s" % (__v.name, len(__v), __v.dtype, __v.head(10).to_string()[:2000]))
    if pd is not None and isinstance(__v, pd.Series) else
    ("ndarray shape=%s dtype=%s min=%s max=%s mean=%s" % (__v.shape, __v.dtype,
        *( (__v.min(), __v.max(), __v.mean()) if __v.size and __v.dtype.kind in 'iuf' else ('-', '-', '-'))))
    if np is not None and isinstance(__v, np.ndarray) else
    ("%s: %s" % (type(__v).__name__, repr(__v)[:3000]))
))(__import__('sys').modules.get('pandas'), __import__('sys').modules.get('numpy'))
)(get_ipython().user_ns[__n]) if __n in get_ipython().user_ns else 'no variable named %r' % __n)(__NAME__)"""


def inspect_expression(name: str) -> str:
    return _INSPECT_EXPR.replace("__NAME__", repr(name))


def read_file_head(root: str, notebook_dir: str, path: str, lines: int = 20) -> str:
    """First lines of a file inside the server root (never outside it)."""
    lines = max(1, min(int(lines or 20), 200))
    base = os.path.realpath(os.path.join(root, notebook_dir))
    full = os.path.realpath(os.path.join(base, path))
    root_real = os.path.realpath(root)
    if not (full == root_real or full.startswith(root_real + os.sep)):
        return f"refused: {path} is outside the workspace"
    if not os.path.isfile(full):
        return f"no file {path}"
    out: list[str] = []
    with open(full, "rb") as fh:
        head = fh.read(64 * 1024)
    if b"\x00" in head[:4096]:
        return f"{path} is a binary file ({os.path.getsize(full)} bytes)"
    text = head.decode("utf-8", errors="replace")
    for i, line in enumerate(text.splitlines()):
        if i >= lines:
            break
        out.append(line[:500])
    return "\n".join(out)


_CODE_ARG = re.compile(r'"code"\s*:\s*"')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f"}


def partial_code_argument(arguments: str) -> str:
    """The ``code`` string of a run_code call whose JSON arguments are still streaming."""
    m = _CODE_ARG.search(arguments)
    if not m:
        return ""
    body = arguments[m.end():]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            break
        if ch == "\\":
            if i + 1 >= len(body):
                break  # an escape cut in half: wait for the rest
            nxt = body[i + 1]
            if nxt == "u":
                if i + 6 > len(body):
                    break
                try:
                    out.append(chr(int(body[i + 2:i + 6], 16)))
                except ValueError:
                    pass
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)
