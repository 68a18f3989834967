"""How the server slows its own rhythms down when many chats stream at once."""

from __future__ import annotations


def load_scaled(load: float, base: float, cap: float, knee: float) -> float:
    """``base`` up to a load of ``knee``, then growing in proportion to the load, capped.

    Used for the intervals whose cost is paid per occurrence on jupyter_server's event loop
    (turn starts, socket frames, wake-ups from the model thread): under heavy load each
    occurrence carries more work and there are fewer of them, so the loop stays responsive.
    """
    return min(cap, base * max(1.0, load / knee))
