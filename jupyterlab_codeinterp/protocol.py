"""The chat protocol: every message that crosses ``WS codeinterp/chat``.

Each message is a JSON object with a ``type`` field. This module is the Python
definition; ``src/protocol.ts`` is the TypeScript one. ``tests/test_protocol_sync.py``
parses both and fails when they drift apart (names, fields, optionality).

Conventions:
- client -> server messages are in :data:`CLIENT_MESSAGES`, server -> client in
  :data:`SERVER_MESSAGES`;
- every client request may carry ``id``; replies and errors echo it as ``reply_to``;
- the server never sends secrets (the API key is not part of any message).
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

TurnMode = Literal["chat", "fix", "generate"]
StepState = Literal[
    "waiting_approval", "running", "ok", "error", "skipped", "interrupted", "timeout", "aborted"
]
TurnStatus = Literal["done", "stopped", "failed", "gave_up"]
Grounding = Literal["", "computed", "not_computed", "unverified"]
"""Whether a turn's answer rests on cells that ran in it: ``computed`` (it does),
``not_computed`` (the request needed code and no cell computed the answer's values: the
answer says so instead of stating results), ``unverified`` (it states numbers no output of
the turn shows), ``""`` (nothing to compute: a question about code, a greeting, a stopped
turn)."""


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Usage(_Msg):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: Optional[float] = None
    estimated: bool = False
    """True when the endpoint reported no usage and the counts are our estimate."""


class CellOutcome(_Msg):
    """What running one cell produced, as the frontend or headless executor reports it."""

    status: Literal["ok", "error", "interrupted", "timeout", "aborted", "skipped"]
    cell_id: str = ""
    execution_count: Optional[int] = None
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = Field(default_factory=list)
    elapsed: float = 0.0


# ---------------------------------------------------------------- client -> server


class PromptMsg(_Msg):
    type: Literal["prompt"] = "prompt"
    id: Optional[str] = None
    chat_id: str
    notebook_path: str
    text: str = Field(max_length=100_000)
    mode: TurnMode = "chat"
    cell_id: Optional[str] = None
    """For ``fix`` the failed cell; for ``generate`` the cell below which code goes."""
    model: Optional[str] = None
    auto_run: Optional[bool] = None
    max_repairs: Optional[int] = Field(default=None, ge=0, le=10)
    """The user's setting; the server caps it at its own max_repairs."""
    vision: Optional[bool] = None
    """Send cell images to the model (only when the server allows vision)."""
    context_token_budget: Optional[int] = Field(default=None, ge=0, le=200_000)
    """The user's setting; the server caps it at its own budget."""


class StopMsg(_Msg):
    type: Literal["stop"] = "stop"
    id: Optional[str] = None
    chat_id: str


class ExecutorReplyMsg(_Msg):
    """The browser's answer to an :class:`ExecutorRequestMsg`."""

    type: Literal["executor_reply"] = "executor_reply"
    request_id: str
    ok: bool = True
    result: Optional[dict[str, Any]] = None
    error: Optional[str] = None


class ApprovalReplyMsg(_Msg):
    type: Literal["approval_reply"] = "approval_reply"
    step_id: str
    decision: Literal["run", "skip", "accept", "reject"]
    code: Optional[str] = None
    """Edited code when the user changed it before running."""


class HistoryRequestMsg(_Msg):
    """Ask for the chats of a notebook (no chat_id) or one chat's messages."""

    type: Literal["history_request"] = "history_request"
    id: Optional[str] = None
    notebook_path: str
    chat_id: Optional[str] = None


class DeleteChatMsg(_Msg):
    type: Literal["delete_chat"] = "delete_chat"
    id: Optional[str] = None
    notebook_path: str
    chat_id: str


ClientMessage = Union[
    PromptMsg, StopMsg, ExecutorReplyMsg, ApprovalReplyMsg, HistoryRequestMsg, DeleteChatMsg
]

# ---------------------------------------------------------------- server -> client


class HelloMsg(_Msg):
    type: Literal["hello"] = "hello"
    protocol_version: int
    server_version: str


class TurnStartMsg(_Msg):
    type: Literal["turn_start"] = "turn_start"
    chat_id: str
    turn: int
    mode: TurnMode
    prompt: str
    reply_to: Optional[str] = None


class ContextNoteMsg(_Msg):
    """What context was gathered for the turn (and what was skipped, e.g. a busy kernel)."""

    type: Literal["context_note"] = "context_note"
    chat_id: str
    turn: int
    tokens: int
    notes: list[str] = Field(default_factory=list)


class TextDeltaMsg(_Msg):
    type: Literal["text_delta"] = "text_delta"
    chat_id: str
    turn: int
    text: str


class CodeDeltaMsg(_Msg):
    """Code of a ``run_code`` call as it streams (tool protocol), for a live preview cell."""

    type: Literal["code_delta"] = "code_delta"
    chat_id: str
    turn: int
    text: str


class StepMsg(_Msg):
    """A tool step (a generated cell, or a read-only look), sent on every state change."""

    type: Literal["step"] = "step"
    chat_id: str
    turn: int
    step_id: str
    tool: str
    state: StepState
    code: str = ""
    attempt: int = 1
    max_attempts: int = 1
    cell_id: str = ""
    summary: str = ""
    """Compact result text (what the model was told)."""
    images: list[str] = Field(default_factory=list)
    """base64 PNGs produced by the cell."""
    files: list[str] = Field(default_factory=list)
    """Paths (relative to the server root) of files the cell wrote."""
    reason: str = ""
    """Why the step waits for approval (e.g. "deletes files")."""
    elapsed: float = 0.0


class ApprovalRequestMsg(_Msg):
    type: Literal["approval_request"] = "approval_request"
    chat_id: str
    turn: int
    step_id: str
    kind: Literal["run", "fix"]
    code: str
    original: str = ""
    """For ``fix``: the current source of the user's cell, to show a diff."""
    cell_id: str = ""
    reason: str = ""


class ExecutorRequestMsg(_Msg):
    """Ask the browser to act on the open notebook; answered by ExecutorReplyMsg."""

    type: Literal["executor_request"] = "executor_request"
    request_id: str
    chat_id: str
    action: Literal["run_cell", "interrupt", "read_cells"]
    code: str = ""
    replace_cell_id: Optional[str] = None
    """Set for a repair: replace this generated cell's source and re-run it."""
    anchor_cell_id: Optional[str] = None
    """Insert below this cell (default: below the turn's last cell, else the active cell)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    timeout: float = 0.0


class CellChange(_Msg):
    """One notebook cell a turn changed: a cell it added, or a cell of the user it replaced."""

    kind: Literal["added", "replaced"]
    cell_id: str = ""
    """Empty when the turn never learnt it (stopped while its new cell ran): find the cell by
    ``step_id`` in its ``metadata.codeinterp``."""
    step_id: str = ""
    source: str = ""
    """What the turn left in the cell (the cell counts as edited since when it differs)."""
    original: str = ""
    """For ``replaced``: the cell's source before the turn (what undo restores)."""


class TurnChanges(_Msg):
    """What a turn changed in the notebook (saved with its ``turn_end``, for review and undo)."""

    cells: list[CellChange] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    """Paths (relative to the server root) of the files its cells wrote."""


class TurnEndMsg(_Msg):
    type: Literal["turn_end"] = "turn_end"
    chat_id: str
    turn: int
    status: TurnStatus
    answer: str = ""
    usage: Usage = Field(default_factory=Usage)
    chat_usage: Usage = Field(default_factory=Usage)
    grounding: Grounding = ""
    cells_run: int = 0
    """Generated cells that ran (ok or not) in this turn."""
    changes: Optional[TurnChanges] = None
    """What the turn changed in the notebook (absent in histories saved before it was kept)."""


class ErrorMsg(_Msg):
    type: Literal["error"] = "error"
    code: str
    """Stable machine-readable kind: bad_message, auth, model_not_found, rate_limit, ..."""
    message: str
    chat_id: Optional[str] = None
    reply_to: Optional[str] = None
    retryable: bool = False
    hint: str = ""


class NoticeMsg(_Msg):
    """Progress worth a line in the chat that is not an error (e.g. "retrying in 2 s")."""

    type: Literal["notice"] = "notice"
    chat_id: str
    turn: int
    level: Literal["info", "warning"] = "info"
    text: str


class HistoryMsg(_Msg):
    type: Literal["history"] = "history"
    notebook_path: str
    reply_to: Optional[str] = None
    chats: list[dict[str, Any]] = Field(default_factory=list)
    """Summaries (id, title, created, updated, turns) when no chat was asked for."""
    chat_id: Optional[str] = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    """The asked-for chat's display log: the server messages it was built from."""


ServerMessage = Union[
    HelloMsg,
    TurnStartMsg,
    ContextNoteMsg,
    TextDeltaMsg,
    CodeDeltaMsg,
    StepMsg,
    ApprovalRequestMsg,
    ExecutorRequestMsg,
    TurnEndMsg,
    ErrorMsg,
    NoticeMsg,
    HistoryMsg,
]

PROTOCOL_VERSION = 1

CLIENT_MESSAGES: tuple[type[_Msg], ...] = ClientMessage.__args__  # type: ignore[attr-defined]
SERVER_MESSAGES: tuple[type[_Msg], ...] = ServerMessage.__args__  # type: ignore[attr-defined]

_client_adapter: TypeAdapter[Any] = TypeAdapter(
    Union[tuple(CLIENT_MESSAGES)]  # type: ignore[valid-type]
)


def parse_client_message(data: Any) -> ClientMessage:
    """Validate one decoded JSON value from the browser (raises pydantic.ValidationError)."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError("a message must be a JSON object with a string 'type'")
    by_type = {m.model_fields["type"].default: m for m in CLIENT_MESSAGES}
    cls = by_type.get(data["type"])
    if cls is None:
        raise ValueError(f"unknown message type {data['type']!r}")
    return cls.model_validate(data)


def dump(msg: _Msg) -> dict[str, Any]:
    return msg.model_dump(mode="json")
