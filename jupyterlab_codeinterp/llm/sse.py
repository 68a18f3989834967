"""Server-sent events from a streamed chat completion, decoded to plain dicts.

Why not the SDK's ``AsyncStream``: it builds a pydantic ``ChatCompletionChunk`` for every
event (with ``typing`` introspection per field), which was ~30% of the server's CPU when
200 chats streamed at once (bench/README.md, "Load").  The request, its authentication,
the status checks and their errors stay with the openai SDK (``with_streaming_response``);
only the body is read here, one ``json.loads`` per event.

The decoder follows the SSE rules real endpoints rely on: ``data:`` with or without the
space, multi-line data joined with newlines, ``:`` comment lines (OpenRouter's keep-alives)
ignored, an event ending at a blank line or at the end of the body, ``[DONE]`` ending the
stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional

DONE = "[DONE]"


@dataclass
class SSEEvent:
    event: Optional[str]
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class MalformedEvent(ValueError):
    """An event whose data is not JSON (the text is kept, shortened, for the message)."""

    def __init__(self, data: str) -> None:
        super().__init__(data[:200])
        self.data = data


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[SSEEvent]:
    """Events from the body's lines, up to ``[DONE]`` or the end of the body."""
    event: Optional[str] = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                joined = "\n".join(data)
                if joined == DONE:
                    return
                yield SSEEvent(event, joined)
            event, data = None, []
            continue
        if line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip() or None
        # id:, retry: and unknown fields do not matter for chat completions
    if data:
        joined = "\n".join(data)
        if joined != DONE:
            yield SSEEvent(event, joined)


async def json_chunks(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """The JSON object of each event; :class:`MalformedEvent` for one that is not JSON."""
    async for ev in sse_events(lines):
        try:
            body = ev.json()
        except ValueError:
            raise MalformedEvent(ev.data) from None
        if isinstance(body, dict):
            if ev.event == "error" and "error" not in body:
                body = {"error": body}
            yield body
        # anything but an object is not a chunk: skipped
