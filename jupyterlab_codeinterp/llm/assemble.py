"""Streamed chunks -> one :class:`ModelReply`: text, reasoning, finish reason, usage, and
tool calls put together from their fragments, however a server splits them."""

from __future__ import annotations

import json
import uuid
from typing import Any, Optional

from .types import ModelReply, TokenUsage, ToolCall


def _choice0(chunk: dict[str, Any]) -> Optional[dict[str, Any]]:
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict) and choice.get("index", 0) in (0, None):
            return choice
    return None


def _take_chunk(chunk: dict[str, Any], reply: ModelReply,
                calls: "_ToolCallAssembler") -> tuple[Optional[TokenUsage], list[tuple[str, Any]]]:
    """Add one streamed chunk to ``reply`` (text, reasoning, finish reason, model; tool-call
    fragments into ``calls``).  Returns the usage it carries, if any, and what it shows while
    streaming: ("text", piece) and ("tool", (name, arguments so far)) per call it extended."""
    shown: list[tuple[str, Any]] = []
    if isinstance(chunk.get("model"), str) and chunk["model"]:
        reply.model = chunk["model"]
    choice = _choice0(chunk)
    delta = choice.get("delta") if choice else None
    if isinstance(delta, dict):
        thought = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(thought, str):
            reply.reasoning += thought
        content = delta.get("content")
        if content and isinstance(content, str):
            reply.text += content
            shown.append(("text", content))
        for tc in delta.get("tool_calls") or ():
            if isinstance(tc, dict):
                current = calls.feed(tc)
                if current["name"]:
                    shown.append(("tool", (current["name"], current["arguments"])))
    if choice and choice.get("finish_reason"):
        reply.finish_reason = str(choice["finish_reason"])
    u = chunk.get("usage")
    usage = TokenUsage(prompt_tokens=_int(u.get("prompt_tokens")),
                       completion_tokens=_int(u.get("completion_tokens"))) if isinstance(u, dict) else None
    return usage, shown


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def _history_call_ids(messages: list[dict]) -> set[str]:
    ids: set[str] = set()
    for m in messages:
        for c in m.get("tool_calls") or []:
            if isinstance(c, dict) and c.get("id"):
                ids.add(c["id"])
    return ids


class _ToolCallAssembler:
    """Tool-call deltas -> complete calls, tolerant of what real servers get wrong.

    OpenAI sends, per call, a header delta (index, id, type, name, empty arguments) and then
    argument fragments with the same index.  Servers differ: index missing, ids missing,
    empty or repeated across calls, a whole call in one delta, arguments as an object.  A
    delta that names a function when the call it would extend already has a name starts a
    new call; ids are made unique and present.
    """

    def __init__(self) -> None:
        self._calls: list[dict[str, Any]] = []
        self._by_index: dict[int, dict[str, Any]] = {}

    def feed(self, tc: dict[str, Any]) -> dict[str, Any]:
        fn = tc.get("function")
        fn = fn if isinstance(fn, dict) else {}
        name = fn.get("name") if isinstance(fn.get("name"), str) else None
        args = fn.get("arguments")
        tid = tc.get("id") if isinstance(tc.get("id"), str) else None
        index = tc.get("index") if isinstance(tc.get("index"), int) else None
        current = self._by_index.get(index) if index is not None else (
            self._calls[-1] if self._calls else None)
        starts_new = current is None or (name and current["name"]) or (
            tid and current["id"] and tid != current["id"] and index is None)
        if starts_new:
            current = {"id": tid or "", "name": "", "arguments": ""}
            self._calls.append(current)
            if index is not None:
                self._by_index[index] = current
        elif tid and not current["id"]:
            current["id"] = tid
        if name:
            current["name"] += name
        if args is not None:
            current["arguments"] += args if isinstance(args, str) else json.dumps(args)
        return current

    def finish(self, taken: set[str] = frozenset()) -> list[ToolCall]:
        """The complete calls; ids missing, repeated, or already used in the history are
        replaced, so every tool result can be matched to its call."""
        out: list[ToolCall] = []
        seen: set[str] = set(taken)
        for c in self._calls:
            if not c["name"]:
                continue
            cid = c["id"]
            if not cid or cid in seen:
                cid = f"call_{uuid.uuid4().hex[:20]}"
            seen.add(cid)
            args = c["arguments"]
            out.append(ToolCall(id=cid, name=c["name"], arguments=args if args.strip() else "{}"))
        return out
