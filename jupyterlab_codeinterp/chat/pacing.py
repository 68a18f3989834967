"""How the server slows its own rhythms down when many chats stream at once."""

from __future__ import annotations

import asyncio


def load_scaled(load: float, base: float, cap: float, knee: float) -> float:
    """``base`` up to a load of ``knee``, then growing in proportion to the load, capped.

    Used for the intervals whose cost is paid per occurrence on jupyter_server's event loop
    (turn starts, socket frames, wake-ups from the model thread): under heavy load each
    occurrence carries more work and there are fewer of them, so the loop stays responsive.
    """
    return min(cap, base * max(1.0, load / knee))


class TurnPacer:
    """Spreads the starts of turns when many arrive together.

    A turn's start and end are the costly parts of it for the server (history, context, the
    model request); when many prompts arrive at once (a class starting an exercise together),
    starting them in the same instant puts hundreds of setup steps in one pass of the event
    loop, every other request on the server waits behind them, and the turns stay in step,
    so their ends pile up too.  Starts are spaced by ``spacing`` seconds, more when many turns
    are in flight (up to ``max_spacing``): 200 prompts at once start over ~4 s, and a prompt
    on a quiet server waits nothing.
    """

    def __init__(self, spacing: float = 0.005, max_spacing: float = 0.02, busy: int = 50) -> None:
        self.spacing = spacing
        self.max_spacing = max_spacing
        self.busy = busy
        self._next = 0.0

    def spacing_for(self, in_flight: int) -> float:
        return load_scaled(in_flight, self.spacing, self.max_spacing, self.busy)

    async def wait(self, in_flight: int = 0) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self.spacing_for(in_flight)
        if slot > now:
            await asyncio.sleep(slot - now)


#: streamed text goes out at most this often per turn (the first piece at once)...
DELTA_INTERVAL = 0.05
#: ...and less often when many turns stream at once, up to this
MAX_DELTA_INTERVAL = 0.25


def delta_interval(running_turns: int) -> float:
    """How long a turn's streamed text may wait to be sent, given the server's load.

    Each socket frame costs the server's loop ~0.1 ms whatever its size; with hundreds of
    turns streaming, fewer and larger frames keep the loop responsive (bench/bench_load.py)
    while the text still moves several times a second.  Up to 40 turns: 50 ms.
    """
    return load_scaled(running_turns, DELTA_INTERVAL, MAX_DELTA_INTERVAL, 40)
