"""Which earlier turns a request carries, chosen so the prompt's start stays the same.

Local models on a CPU spend most of a request reading the prompt; llama.cpp's servers
skip the part that matches the start of the previous prompt token for token.  A history
cut that moves every turn (drop just enough of the oldest turns to fit) changes the first
message after the system prompt each time, so every turn would be read again from there.

:func:`stable_window` moves the cut only when the kept turns no longer fit, and then far
enough that the next turns fit again (down to half the budget): between two moves every
request starts with the previous one.  It is a pure function of the stored history (the
cut is replayed turn by turn), so nothing needs to be remembered between turns.
"""

from __future__ import annotations

from typing import Any

from ..context.tokens import estimate_messages_tokens


def stable_window(history: list[dict[str, Any]], max_tokens: int) -> list[dict[str, Any]]:
    """The newest whole turns of ``history`` (a turn starts at a user message marked
    ``turn_start``) within ``max_tokens``; at least the last turn."""
    starts = [i for i, m in enumerate(history) if m.get("role") == "user" and m.get("turn_start")]
    if not starts:
        return history if estimate_messages_tokens(history) <= max_tokens else history[-4:]
    # estimate_messages_tokens is 3 + a sum over messages: prefix sums give any slice
    acc = [0]
    for m in history:
        acc.append(acc[-1] + estimate_messages_tokens([m]) - 3)

    def size(a: int, b: int) -> int:
        return 3 + acc[b] - acc[a]

    cut = 0
    for end in starts[1:] + [len(history)]:  # the history as each later turn saw it
        if size(cut, end) <= max_tokens:
            continue
        later = [s for s in starts if cut < s < end]
        if not later:
            continue
        cut = next((s for s in later if size(s, end) <= max_tokens // 2), later[-1])
    return history[cut:]
