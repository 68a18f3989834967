"""Provider-neutral types the agent loop sees; the openai SDK stays behind llm/client.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str
    """Raw JSON text of the arguments as the model produced it (may be malformed)."""


@dataclass
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    """True when the endpoint streamed no usage and we estimated it."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: "TokenUsage") -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.estimated = self.estimated or other.estimated


@dataclass
class ModelReply:
    """One complete model answer, assembled from the stream."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: TokenUsage = field(default_factory=TokenUsage)
    finish_reason: Optional[str] = None
    model: str = ""
    reasoning: str = ""
    """Reasoning text some servers stream beside the answer (``reasoning_content``); not shown
    as the answer and never sent back."""


class ProviderError(Exception):
    """A model endpoint failure, already turned into words a user can act on.

    ``kind`` is stable (the chat protocol's ``ErrorMsg.code``): ``auth``, ``forbidden``,
    ``model_not_found``, ``rate_limit``, ``server_error``, ``timeout``, ``connection``,
    ``bad_request``, ``tools_unsupported``, ``stream_broken``, ``empty_answer``, ``unknown``.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        hint: str = "",
        retryable: bool = False,
        status: Optional[int] = None,
        retry_after: Optional[float] = None,
        partial_text: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.partial_text = partial_text
        """Text already streamed to the caller before the failure (stream_broken, timeout)."""

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.kind, "message": self.message, "hint": self.hint,
                "retryable": self.retryable}
