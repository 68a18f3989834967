"""What a turn is: its request, its result, where it reports, the model it asks; and the
conversation it sends (bookkeeping stripped; agent/window.py picks the earlier turns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from pydantic import BaseModel

from ..config import CodeInterp
from ..llm.types import ModelReply, ProviderError, TokenUsage
from ..protocol import ApprovalReplyMsg, ApprovalRequestMsg, TurnMode, TurnStatus, Usage
from .grounding import Grounding


class TurnSink(Protocol):
    """Where a turn reports to, and where it asks the user to approve code."""

    async def send(self, msg: BaseModel) -> None: ...

    async def ask_approval(self, request: ApprovalRequestMsg) -> ApprovalReplyMsg: ...


class ModelLike(Protocol):
    protocol: str
    model: str

    async def stream(self, messages: list[dict], *, tools: Optional[list[dict]], on_text: Any = None,
                     on_retry: Any = None, temperature: Optional[float] = None) -> ModelReply: ...


@dataclass
class Turn:
    chat_id: str
    turn: int
    prompt: str
    notebook_path: str
    mode: TurnMode = "chat"
    cell_id: Optional[str] = None
    auto_run: Optional[bool] = None
    max_repairs: Optional[int] = None
    vision: Optional[bool] = None
    context_token_budget: Optional[int] = None
    """Per-turn user settings; None means the server's configuration."""


@dataclass
class TurnResult:
    status: TurnStatus
    answer: str
    usage: Usage
    messages: list[dict[str, Any]]
    """The conversation messages this turn adds (OpenAI chat format), for the next turns."""
    error: Optional[ProviderError] = None
    grounding: Grounding = ""
    """Whether the answer rests on this turn's cells (see :mod:`.grounding`)."""
    cells_run: int = 0
    """Generated cells that ran (ok or not) in this turn."""
    transcript: list[dict[str, Any]] = field(default_factory=list)
    """Everything the model was sent and answered in this turn, answers the loop sent back
    included (what an evaluation saves to read a turn; not kept in the chat)."""


def price_of(config: CodeInterp, model: str, usage: TokenUsage) -> Optional[float]:
    """USD for ``usage``: c.CodeInterp.prices, then the built-in table; None if unknown."""
    from ..llm.prices import cost_of

    return cost_of(model, usage, config.prices, builtin=config.builtin_prices)


def to_usage(config: CodeInterp, model: str, usage: TokenUsage) -> Usage:
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        cost=price_of(config, model, usage),
        estimated=usage.estimated,
    )


def for_model(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Strip our bookkeeping keys before sending messages to the endpoint."""
    return [{k: v for k, v in m.items() if k != "turn_start"} for m in messages]
