"""Tool calls a model printed as text instead of calling them.

Qwen2.5-Coder prints a ```json block, Hermes/Qwen templates use
``<tool_call>...</tool_call>``, Llama 3.1 ``<function=name>{...}</function>``, Mistral
``[TOOL_CALLS] [...]``: :func:`parse_textual_tool_calls` recognises each, so the agent can
execute each such call once.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from typing import Any, Iterable, Optional

from ..llm.types import ToolCall
from .codeblocks import PYTHON_LANGS, SHELL_LANGS, find_code_blocks

__all__ = ["parse_textual_tool_calls"]

_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S | re.I)
_FUNCTION_TAG = re.compile(r"<function=([\w.-]+)>\s*(.*?)\s*(?:</function>|$)", re.S)
_MISTRAL = re.compile(r"\[TOOL_CALLS\]\s*")
_CALL_START = re.compile(
    r"""[\{\[]\s*[\{]?\s*["'](?:name|function|tool|tool_name|type|tool_calls|function_call|arguments|parameters)["']""")
_JSON_LANGS = frozenset({"json", "json5", "jsonc", "tool_call", "tool_code", "tool", "tools",
                         "function", "javascript", "js", ""})
_DECODER = json.JSONDecoder(strict=False)  # models put raw newlines inside JSON strings


_TRIPLE_QUOTED = re.compile(r'("""|\'\'\')(.*?)(?:\1|\Z)', re.S)


def _triple_quoted_as_json(s: str) -> str:
    """Python triple-quoted strings as JSON strings of their raw text.

    Small models (Qwen2.5-Coder among them) put triple-quoted strings in their "JSON"
    tool calls. Their intent is the text verbatim: ``print("\\n")`` inside must stay a
    backslash-n, which Python's own string rules would turn into a real line break.
    """
    return _TRIPLE_QUOTED.sub(lambda m: json.dumps(m.group(2).strip("\n")), s)


def _load_triple_quoted(s: str, start: int) -> tuple[Any, int]:
    """A call with triple-quoted strings, closing braces the model forgot; consumes the rest."""
    fixed = _triple_quoted_as_json(s[start:])
    for closers in ("", "}", "}}", "}}}"):
        try:
            value, _ = _DECODER.raw_decode(fixed.rstrip() + closers)
            return value, len(s)
        except ValueError:
            continue
    raise ValueError("no value")


def _load_value(s: str, start: int = 0) -> tuple[Any, int]:
    """Decode one JSON value at ``start``; Python-literal dicts (single quotes) as a fallback."""
    try:
        return _DECODER.raw_decode(s, start)
    except ValueError:
        pass
    if '"""' in s[start:] or "\'\'\'" in s[start:]:
        return _load_triple_quoted(s, start)
    # a Python dict literal: find the balanced end and literal_eval it
    end = _balanced_end(s, start)
    if end is None:
        raise ValueError("no value")
    try:
        return ast.literal_eval(s[start:end]), end
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("no value") from None


def _balanced_end(s: str, start: int) -> Optional[int]:
    opener = s[start]
    closer = {"{": "}", "[": "]"}.get(opener)
    if closer is None:
        return None
    depth = 0
    quote: Optional[str] = None
    k = start
    while k < len(s):
        ch = s[k]
        if quote:
            if ch == "\\":
                k += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return k + 1
        k += 1
    return None


def _calls_from_value(value: Any, tool_names: set[str]) -> list[tuple[str, Any]]:
    """(name, arguments) pairs from a decoded value in any of the shapes models print."""
    out: list[tuple[str, Any]] = []
    if isinstance(value, list):
        for v in value:
            out.extend(_calls_from_value(v, tool_names))
        return out
    if not isinstance(value, dict):
        return out
    if isinstance(value.get("tool_calls"), list):
        return _calls_from_value(value["tool_calls"], tool_names)
    for wrapper in ("function", "function_call"):
        inner = value.get(wrapper)
        if isinstance(inner, dict):
            return _calls_from_value(inner, tool_names)
    name = value.get("name", value.get("tool", value.get("tool_name")))
    if isinstance(name, str) and name in tool_names:
        args: Any = {}
        for key in ("arguments", "parameters", "args", "tool_input", "input"):
            if key in value:
                args = value[key]
                break
        out.append((name, args))
    return out


def _args_text(args: Any) -> str:
    if isinstance(args, str):
        return args  # as the model wrote it (JSON text, or not: the agent reports that)
    return json.dumps(args if args is not None else {}, ensure_ascii=False)


def _decode_all(segment: str, tool_names: set[str]) -> list[tuple[str, Any]]:
    """Calls in a segment that should hold JSON (a tag body or a json block)."""
    segment = segment.strip()
    calls: list[tuple[str, Any]] = []
    k = 0
    while k < len(segment):
        if segment[k] in "{[":
            try:
                value, end = _load_value(segment, k)
            except ValueError:
                k += 1
                continue
            found = _calls_from_value(value, tool_names)
            if found:
                calls.extend(found)
                k = end
                continue
        k += 1
    return calls


def parse_textual_tool_calls(text: str, tool_names: Iterable[str]) -> list[ToolCall]:
    """Tool calls a model printed as text; only calls to ``tool_names`` are recognised.

    Forms: ``{"name": ..., "arguments": {...}}`` (or "parameters"/"args", arguments as an
    object or a JSON string, wrapped in ``{"function": ...}`` or ``{"tool_calls": [...]}``,
    or a list of calls), bare in the text or inside a ```json block; ``<tool_call>...
    </tool_call>`` (Qwen/Hermes); ``<function=name>{...}</function>`` (Llama 3.1);
    ``[TOOL_CALLS] [...]`` (Mistral).  JSON inside ```python blocks is code, not a call.
    Each distinct call is returned once, in order, with a fresh id.
    """
    names = set(tool_names)
    if not names or not text:
        return []
    text = text.replace("\r\n", "\n")
    found: list[tuple[int, str, Any]] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in _TOOL_CALL_TAG.finditer(text):
        for name, args in _decode_all(m.group(1), names):
            found.append((m.start(), name, args))
        taken.append(m.span())
    for m in _FUNCTION_TAG.finditer(text):
        if not free(*m.span()):
            continue
        name = m.group(1)
        if name in names:
            body = m.group(2).strip()
            try:
                args, _ = _load_value(body) if body[:1] in "{[" else (body, 0)
            except ValueError:
                args = body
            found.append((m.start(), name, args))
        taken.append(m.span())
    for m in _MISTRAL.finditer(text):
        if free(m.start(), m.end()) and m.end() < len(text) and text[m.end()] in "[{":
            try:
                value, end = _load_value(text, m.end())
            except ValueError:
                continue
            for name, args in _calls_from_value(value, names):
                found.append((m.start(), name, args))
            taken.append((m.start(), end))
    for b in find_code_blocks(text):
        if not free(b.start, b.end):
            continue
        if b.lang in PYTHON_LANGS or b.lang in SHELL_LANGS:
            taken.append((b.start, b.end))  # code is code, even if it mentions a call
            continue
        if b.lang in _JSON_LANGS or b.code.lstrip()[:1] in "{[":
            calls = _decode_all(b.code, names)
            for name, args in calls:
                found.append((b.start, name, args))
            if calls:
                taken.append((b.start, b.end))
    for m in _CALL_START.finditer(text):
        start = m.start()
        if not free(start, start + 1):
            continue
        try:
            value, end = _load_value(text, start)
        except ValueError:
            continue
        calls = _calls_from_value(value, names)
        for name, args in calls:
            found.append((start, name, args))
        if calls:
            taken.append((start, end))

    found.sort(key=lambda t: t[0])
    out: list[ToolCall] = []
    seen: set[tuple[str, str]] = set()
    for _, name, args in found:
        key = (name, _args_text(args))
        if key in seen:
            continue
        seen.add(key)
        out.append(ToolCall(id=f"call_text_{uuid.uuid4().hex[:16]}", name=name,
                            arguments=key[1]))
    return out
