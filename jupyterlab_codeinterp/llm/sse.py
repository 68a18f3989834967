"""Server-sent events from a streamed chat completion, decoded to plain dicts.

Why not the SDK's ``AsyncStream``: it builds a pydantic ``ChatCompletionChunk`` for every
event (with ``typing`` introspection per field), which was ~30% of the server's CPU when
200 chats streamed at once (bench/README.md, "Load").  The request, its authentication,
the status checks and their errors stay with the openai SDK (``client.post``, unread body);
only the body is read here, one ``json.loads`` per event.

A push decoder (:meth:`SSEDecoder.feed` takes the bytes of each network read) rather than a
stack of async generators over lines: every step of an async generator allocates objects
the garbage collector must later walk, and with hundreds of streams open those walks were
what paused the server's loop (bench/README.md).

The decoder follows the SSE rules real endpoints rely on: lines end with ``\\n``, ``\\r\\n``
or ``\\r``; ``data:`` with or without the space; multi-line data joined with newlines; ``:``
comment lines (OpenRouter's keep-alives) ignored; an event ends at a blank line or at the
end of the body; ``[DONE]`` ends the stream.
"""

from __future__ import annotations

import json
from typing import Any, Optional

DONE = "[DONE]"


class MalformedEvent(ValueError):
    """An event whose data is not JSON (the text is kept, shortened, for the message)."""

    def __init__(self, data: str) -> None:
        super().__init__(data[:200])
        self.data = data


class SSEDecoder:
    """Bytes in, chunk dicts out: ``for chunk in decoder.feed(data): ...``; then ``end()``.

    ``done`` turns true at ``[DONE]`` or ``end()``; anything after it is ignored.  A chunk that is JSON but
    not an object is skipped; an ``error`` event's object is wrapped as ``{"error": ...}``.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._event: Optional[str] = None
        self._data: list[str] = []
        self.done = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if self.done or not data:
            return []
        buf = self._pending + data if self._pending else data
        lines = buf.splitlines(keepends=True)
        last = lines[-1]
        # a line without its ending yet, or a \r that may be the first half of \r\n
        self._pending = lines.pop() if not last.endswith(b"\n") else b""
        out: list[dict[str, Any]] = []
        for raw in lines:
            self._line(raw.rstrip(b"\r\n"), out)
            if self.done:
                break
        return out

    def end(self) -> list[dict[str, Any]]:
        """The body ended: what is left is the last event (servers may omit the blank line)."""
        out: list[dict[str, Any]] = []
        if not self.done:
            if self._pending:
                self._line(self._pending.rstrip(b"\r\n"), out)
                self._pending = b""
            if not self.done:
                self._line(b"", out)
        self.done = True
        return out

    def _line(self, line: bytes, out: list[dict[str, Any]]) -> None:
        if not line:
            if self._data:
                self._dispatch(out)
            self._event, self._data = None, []
            return
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append((value[1:] if value.startswith(b" ") else value).decode("utf-8", "replace"))
        elif line.startswith(b"event:"):
            self._event = line[6:].strip().decode("utf-8", "replace") or None
        # ":" comments, id:, retry: and unknown fields do not matter for chat completions

    def _dispatch(self, out: list[dict[str, Any]]) -> None:
        data = "\n".join(self._data)
        if data == DONE:
            self.done = True
            return
        try:
            body = json.loads(data)
        except ValueError:
            raise MalformedEvent(data) from None
        if isinstance(body, dict):
            if self._event == "error" and "error" not in body:
                body = {"error": body}
            out.append(body)
