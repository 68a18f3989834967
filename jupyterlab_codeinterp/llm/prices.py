"""What tokens cost: ``c.CodeInterp.prices`` over a small built-in table.

Prices are USD per million tokens, ``{"input": ..., "output": ...}``.  The built-in table
covers a few well-known hosted models at their list prices as of ``PRICES_AS_OF``; providers
change prices, so treat it as a convenience and override or extend it in config::

    c.CodeInterp.prices = {"gpt-4.1-mini": {"input": 0.4, "output": 1.6},
                           "my-azure-deployment": {"input": 2.0, "output": 8.0},
                           "qwen2.5-coder": {"input": 0, "output": 0}}

A model with no price (local models, unknown names) gets ``cost = None`` ("unknown"),
never a made-up number.  Lookup tries the exact name, then without a ``provider/`` prefix
(OpenRouter's ``openai/gpt-4o``), then without a date suffix (``gpt-4o-2024-08-06``).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from .types import TokenUsage

PRICES_AS_OF = "2025-08"

DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-5": {"input": 1.25, "output": 10.0},
    "gpt-5-mini": {"input": 0.25, "output": 2.0},
    "gpt-5-nano": {"input": 0.05, "output": 0.4},
    "gpt-4.1": {"input": 2.0, "output": 8.0},
    "gpt-4.1-mini": {"input": 0.4, "output": 1.6},
    "gpt-4.1-nano": {"input": 0.1, "output": 0.4},
    "gpt-4o": {"input": 2.5, "output": 10.0},
    "gpt-4o-mini": {"input": 0.15, "output": 0.6},
    "o3": {"input": 2.0, "output": 8.0},
    "o3-mini": {"input": 1.1, "output": 4.4},
    "o4-mini": {"input": 1.1, "output": 4.4},
    "o1": {"input": 15.0, "output": 60.0},
}

_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4}|latest)$")


def _valid(price: Any) -> Optional[dict[str, float]]:
    if not isinstance(price, Mapping):
        return None
    try:
        return {"input": float(price.get("input", 0) or 0),
                "output": float(price.get("output", 0) or 0)}
    except (TypeError, ValueError):
        return None


def price_for(model: str, prices: Optional[Mapping[str, Any]] = None, *,
              builtin: bool = True) -> Optional[dict[str, float]]:
    """The price of ``model``: the config table first, then (if ``builtin``) the defaults."""
    tables = [prices or {}] + ([DEFAULT_PRICES] if builtin else [])
    names = [model]
    bare = model.rsplit("/", 1)[-1]
    if bare != model:
        names.append(bare)
    undated = _DATE_SUFFIX.sub("", bare)
    if undated != bare:
        names.append(undated)
    for table in tables:
        for name in names:
            if name in table:
                return _valid(table[name])
    return None


def cost_of(model: str, usage: TokenUsage, prices: Optional[Mapping[str, Any]] = None, *,
            builtin: bool = True) -> Optional[float]:
    """USD for ``usage`` on ``model``, or None when no price is known."""
    price = price_for(model, prices, builtin=builtin)
    if price is None:
        return None
    return round(usage.prompt_tokens * price["input"] / 1e6
                 + usage.completion_tokens * price["output"] / 1e6, 6)
