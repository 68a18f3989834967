"""Streaming the model's text to the chat without showing tool calls written as text.

Small models offered tools often print the call instead of making it
(``{"name": "run_code", "arguments": {"code": ...}}``, a ```json block of that,
``<tool_call>...``). The loop runs such calls (see textual_calls.py); the user
should see the cell, not the JSON. :class:`CallTextGuard` passes text through as it
streams, but holds it back from the first line that may open such a call; once the reply
is complete the loop either drops what was held (it was a call) or lets it through.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable, Iterable

_KEYS = ("name", "function", "tool_calls", "tool", "tool_name", "type")
_CALL_KEYS = "(?:" + "|".join(f'"{k}"' for k in _KEYS) + ")"
#: a line that opens a call: JSON naming a function, or a tag some chat templates use
_CALL_LINE = re.compile(rf"^\s*(?:\[\s*)?\{{\s*{_CALL_KEYS}|^\s*(?:<tool_call>|<tools>|<function=|\[TOOL_CALLS\])")
#: the same, inside a line of prose
_CALL_INLINE = re.compile(rf"\{{\s*{_CALL_KEYS}\s*:")
_TAGS = ("<tool_call>", "<tools>", "<function=", "[TOOL_CALLS]")
_JSON_STARTS = tuple(f'{p}{{"{k}"' for p in ("", "[") for k in _KEYS)
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_CALL_FENCE_LANGS = {"", "json", "jsonc", "json5", "tool_call", "tool", "tool_code", "javascript", "js"}


def _may_become(fragment: str, starts: tuple[str, ...]) -> bool:
    compact = re.sub(r"\s+", "", fragment)
    return any(k.startswith(compact) or compact.startswith(k) for k in starts)


def _opens_call(rest: str) -> "bool | None":
    """Whether the text from a line's start opens a call: True, False, or None while the
    text so far cannot tell."""
    if _CALL_LINE.match(rest):
        return True
    head = re.sub(r"\s+", "", rest[:80])
    if not head:
        return None if "\n" not in rest.lstrip(" \t") else False
    if head[0] in "`~":
        return None if "\n" not in rest else False  # a fence line decides once complete
    if _may_become(head, _TAGS) or (head[0] in "{[" and _may_become(head, _JSON_STARTS)):
        return None
    return False


class CallTextGuard:
    """Streams text to ``emit``, holding back what may be a tool call written as text."""

    def __init__(self, emit: Callable[[str], Awaitable[Any]]) -> None:
        self.emit = emit
        self.text = ""
        self.sent = 0
        """Characters of ``text`` passed on."""
        self.held = False
        """A line opened what looks like a call: everything from it waits for the verdict."""
        self._fence_lang: str | None = None  # inside a fenced block: its language

    async def feed(self, delta: str) -> None:
        self.text += delta
        if self.held:
            return
        safe = self._safe_end()
        if safe > self.sent:
            await self.emit(self.text[self.sent:safe])
            self.sent = safe

    async def finish(self, *, was_call: bool) -> None:
        """The reply is complete: drop the held text if it was a call, else pass it on."""
        if not was_call and len(self.text) > self.sent:
            await self.emit(self.text[self.sent:])
            self.sent = len(self.text)
        self.held = True  # the reply is over: nothing more streams

    def _safe_end(self) -> int:
        """How far the text can be shown: up to the first place a call may start."""
        pos = self.sent
        text = self.text
        while pos < len(text):
            nl = text.find("\n", pos)
            complete = nl >= 0
            line = text[pos:nl + 1] if complete else text[pos:]
            if self._fence_lang is not None:  # in a code block: shown, up to its closing fence
                if complete and _FENCE.match(line) and line.strip().strip("`~") == "":
                    self._fence_lang = None
                pos += len(line)
                continue
            fence = _FENCE.match(line)
            if fence:
                if not complete:
                    return pos
                lang = fence.group(2).lower()
                if lang in _CALL_FENCE_LANGS:
                    verdict = _opens_call(text[nl + 1:])
                    if verdict is not False:
                        self.held = bool(verdict)
                        return pos
                self._fence_lang = lang
                pos += len(line)
                continue
            verdict = _opens_call(text[pos:])
            if verdict is not False:
                self.held = bool(verdict)
                return pos
            inline = _CALL_INLINE.search(line)
            if inline:
                self.held = True
                return pos + inline.start()
            if not complete:
                brace = line.rfind("{")  # the tail of a line may still open a call
                if brace >= 0 and _may_become(line[brace:], _JSON_STARTS[:len(_KEYS)]):
                    return pos + brace
                return len(text)
            pos += len(line)
        return pos

    @property
    def shown(self) -> str:
        """What the user has seen of the reply so far."""
        return self.text[:self.sent]


BROKEN_CALL_NOTE = "(The model wrote a tool call as text that could not be read; nothing ran.)"


def names_a_tool(text: str, tool_names: Iterable[str]) -> bool:
    """Whether text held back as a possible call does name one of our tools (a call too
    broken to parse, rather than JSON the model meant to show)."""
    names = "|".join(re.escape(n) for n in tool_names)
    return bool(names) and bool(re.search(rf'"(?:name|function|tool|tool_name)"\s*:\s*"(?:{names})"|'
                                          rf"<function=(?:{names})\b", text))
