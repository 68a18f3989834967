"""Evaluate one expression silently in the user's kernel (for read-only tools).

Same rules as the kernel probe: ``silent=True``, no history, no stdin, the value comes
back through ``user_expressions`` so nothing is printed into the user's cells and no
name is left in their namespace. Replies are matched on ``parent_header.msg_id``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


async def eval_silently(client: Any, expression: str, *, timeout: float) -> str:
    msg_id = client.execute(
        "", silent=True, store_history=False, allow_stdin=False,
        user_expressions={"value": expression},
    )
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "the kernel is busy (no answer in time); try again when it is idle"
        try:
            reply = await client.get_shell_msg(timeout=remaining)
        except (asyncio.TimeoutError, TimeoutError):
            continue
        except Exception as exc:  # queue.Empty from some client versions
            if type(exc).__name__ == "Empty":
                continue
            raise
        if reply.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        value = reply["content"].get("user_expressions", {}).get("value", {})
        if value.get("status") == "ok":
            text = value.get("data", {}).get("text/plain", "")
            # the repr of a str comes back quoted
            if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
                try:
                    import ast

                    text = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    pass
            return text
        return f"{value.get('ename', 'Error')}: {value.get('evalue', '')}"
