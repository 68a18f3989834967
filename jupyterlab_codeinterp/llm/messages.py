"""The conversation as the endpoint gets it: valid for the strictest servers, in the
protocol of this request.

A chat's history is kept in OpenAI's chat format with a few keys of our own.  Before it is
sent, :func:`wire_messages`:

* keeps only the fields each role has in the chat-completions API (our bookkeeping keys,
  ``turn_start`` and the like, are dropped): servers that validate requests strictly
  (llama-cpp-python's, pydantic with extra fields forbidden) answer anything else with a
  500;
* never sends ``"content": null``: an assistant message with tool calls carries ``""``
  (llama-cpp-python rejects null);
* pairs tool calls and tool results: a call never answered gets a "(no result)" answer,
  a result whose call is not in the conversation becomes plain text;
* and when this request goes out without tools (the code-block protocol: the model was
  switched, or the endpoint cannot call tools), rewrites earlier tool calls as assistant
  text with a ```python block and their results as user text, the shape that protocol
  itself produces.  The other way round needs nothing: code-block turns are plain text.

The rewriting is a pure function of the history, so the prompt stays byte-identical
from one request to the next (local servers reuse the prefix they already processed).
"""

from __future__ import annotations

import json
from typing import Any, Optional

# ``name`` is left out too: OpenAI takes it, llama-cpp-python's server rejects it
_FIELDS = {
    "system": ("role", "content"),
    "developer": ("role", "content"),
    "user": ("role", "content"),
    "assistant": ("role", "content", "tool_calls"),
    "tool": ("role", "content", "tool_call_id"),
}

NO_RESULT = "(no result: the call was not run)"


def wire_messages(messages: list[dict[str, Any]], *, codeblocks: bool) -> list[dict[str, Any]]:
    """``messages`` ready to send; ``codeblocks``: the request carries no tools."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of the last assistant's calls not answered yet
    stray: list[dict[str, Any]] = []  # results without their call, after the others
    known: set[str] = set()
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role == "tool":
            cid = m.get("tool_call_id")
            if isinstance(cid, str) and cid in pending:
                pending.remove(cid)
                out.append(_clean(m, "tool"))
            else:  # a result without its call (or answered twice): keep what it says
                stray.append({"role": "user", "content": _result_text(m.get("content"), None)})
            continue
        _close(out, pending, stray)
        if role not in _FIELDS:
            continue
        msg = _clean(m, role)
        if role == "assistant" and msg.get("tool_calls"):
            calls = []
            for c in msg["tool_calls"]:
                call = _clean_call(c, known)
                if call is not None:
                    calls.append(call)
                    known.add(call["id"])
            if calls:
                msg["tool_calls"] = calls
                pending = [c["id"] for c in calls]
            else:
                del msg["tool_calls"]
        out.append(msg)
    _close(out, pending, stray)
    return _as_codeblocks(out) if codeblocks else out


def _clean(m: dict[str, Any], role: str) -> dict[str, Any]:
    msg = {k: m[k] for k in _FIELDS[role] if k in m and m[k] is not None}
    content = msg.get("content")
    if not isinstance(content, (str, list)):
        msg["content"] = "" if content is None else str(content)
    msg.setdefault("content", "")
    return msg


def _clean_call(c: Any, known: set[str]) -> Optional[dict[str, Any]]:
    if not isinstance(c, dict):
        return None
    fn = c.get("function") if isinstance(c.get("function"), dict) else {}
    name = fn.get("name")
    cid = c.get("id")
    if not isinstance(name, str) or not name or not isinstance(cid, str) or not cid \
            or cid in known:
        return None
    args = fn.get("arguments", "")
    if not isinstance(args, str):
        args = json.dumps(args)
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args or "{}"}}


def _close(out: list[dict[str, Any]], pending: list[str], stray: list[dict[str, Any]]) -> None:
    """Answer the calls still pending (a stopped turn, a history cut short), then add the
    stray results, so nothing comes between a call and its answer."""
    for cid in pending:
        out.append({"role": "tool", "tool_call_id": cid, "content": NO_RESULT})
    pending.clear()
    out.extend(stray)
    stray.clear()


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content
                         if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def _call_as_text(call: dict[str, Any]) -> tuple[str, str]:
    """The call as assistant text, and what its result is the result of."""
    fn = call["function"]
    try:
        args = json.loads(fn["arguments"])
    except ValueError:
        args = None
    if isinstance(args, dict) and isinstance(args.get("code"), str):
        code = args["code"].rstrip("\n")
        return f"```python\n{code}\n```", "the code"
    return f"(called {fn['name']} with {fn['arguments']})", fn["name"]


def _result_text(content: Any, name: Optional[str]) -> str:
    text = _text_of(content)
    return (f"Result of {name}:\n{text}" if name else f"Result:\n{text}")


def _as_codeblocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls as assistant text with code blocks, their results as one user message."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    results: list[str] = []

    def flush() -> None:
        if results:
            out.append({"role": "user", "content": "\n\n".join(results)})
            results.clear()

    for m in messages:
        if m["role"] == "tool":
            name = names.get(m.get("tool_call_id", ""))
            results.append(_result_text(m.get("content"), name))
            continue
        flush()
        if m["role"] == "assistant" and m.get("tool_calls"):
            parts = [_text_of(m.get("content")).strip()]
            for c in m["tool_calls"]:
                text, names[c["id"]] = _call_as_text(c)
                parts.append(text)
            out.append({"role": "assistant", "content": "\n\n".join(p for p in parts if p)})
            continue
        out.append(m)
    flush()
    return out
