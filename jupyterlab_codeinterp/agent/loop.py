"""The agent loop: one user request in, cells run and repaired, one answer out.

It knows nothing of its transport: it acts on the notebook through a
:class:`~jupyterlab_codeinterp.executors.base.NotebookExecutor` and reports through a
:class:`TurnSink` (the chat socket, or the command line's printer). The same loop,
prompts and repair policy serve the browser and ``jupyter codeinterp run``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from pydantic import BaseModel

from ..instrumentation import turn_timing
from ..config import CodeInterp
from ..context.gather import gather_context
from ..context.notebook import compact_traceback
from ..context.tokens import estimate_messages_tokens
from ..executors.base import ExecutorError, NotebookExecutor
from ..llm.types import ModelReply, ProviderError, TokenUsage, ToolCall
from ..protocol import (
    ApprovalReplyMsg,
    ApprovalRequestMsg,
    CellOutcome,
    ContextNoteMsg,
    CodeDeltaMsg,
    ErrorMsg,
    NoticeMsg,
    StepMsg,
    TextDeltaMsg,
    TurnMode,
    TurnStatus,
    Usage,
)
from . import prompts
from .window import stable_window
from .codeblocks import CODEBLOCK_INSTRUCTIONS, compact_system_prompt, extract_code, parse_textual_tool_calls
from ..context.kernel_probe import eval_expression
from .results import error_signature, images_of, strip_ansi, summarize_outcome
from .safety import destructive_reason
from .tools import (
    INSPECT_VARIABLE,
    READ_FILE,
    RUN_CODE,
    TOOL_NAMES,
    TOOL_SPECS,
    inspect_expression,
    parse_arguments,
    read_file_head,
)

log = logging.getLogger(__name__)


class TurnSink(Protocol):
    """Where a turn reports to, and where it asks the user to approve code."""

    async def send(self, msg: BaseModel) -> None: ...

    async def ask_approval(self, request: ApprovalRequestMsg) -> ApprovalReplyMsg: ...


class ModelLike(Protocol):
    protocol: str
    model: str

    async def stream(self, messages: list[dict], *, tools: Optional[list[dict]], on_text: Any = None,
                     on_retry: Any = None) -> ModelReply: ...


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


@dataclass
class _Attempt:
    code: str
    summary: str
    signature: str


@dataclass
class _FailedCell:
    """The generated (or, in fix mode, the user's) cell whose next code is its repair."""

    cell_id: str
    step_id: str
    attempts: list[_Attempt] = field(default_factory=list)
    user_cell: bool = False

    @property
    def repairs_used(self) -> int:
        return len(self.attempts) - 1


class _GaveUp(Exception):
    def __init__(self, account: str) -> None:
        super().__init__(account)
        self.account = account


class _Rejected(Exception):
    pass


class _Finished(Exception):
    """The turn's work is done although the model did not say so (it repeats itself)."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


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


def trim_history(history: list[dict[str, Any]], max_tokens: int) -> list[dict[str, Any]]:
    """Drop the oldest whole turns (a turn starts at a plain user message) to fit the budget."""
    if estimate_messages_tokens(history) <= max_tokens:
        return history
    starts = [i for i, m in enumerate(history) if m.get("role") == "user" and m.get("turn_start")]
    for start in starts[1:]:
        rest = history[start:]
        if estimate_messages_tokens(rest) <= max_tokens:
            return rest
    return history[starts[-1]:] if starts else history[-4:]


STOPPED_NOTE = "\n(The cell was stopped. Make it faster, or work on a sample of the data.)"


def _frame_cell_result(result: str) -> str:
    """A run_code result for the model: what the cell printed is workspace data (a CSV cell
    saying "ignore your instructions" printed by pandas must read as data), so the result
    goes in a <workspace-data> block; our own messages (skipped by the user) and notes stay
    outside it. The code-block protocol frames its results in result_message_for_codeblocks."""
    if not result.startswith("status:"):
        return result
    body, note = (result[: -len(STOPPED_NOTE)], STOPPED_NOTE) if result.endswith(STOPPED_NOTE) else (result, "")
    return prompts.workspace_data("cell-output", body) + note


def _for_model(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Strip our bookkeeping keys before sending messages to the endpoint."""
    return [{k: v for k, v in m.items() if k != "turn_start"} for m in messages]


class Agent:
    """Runs turns for one chat on one notebook."""

    def __init__(
        self,
        *,
        config: CodeInterp,
        model: ModelLike,
        executor: NotebookExecutor,
        sink: TurnSink,
        root_dir: str,
    ) -> None:
        self.config = config
        self.model = model
        self.executor = executor
        self.sink = sink
        self.root_dir = root_dir

    # ------------------------------------------------------------------ public

    async def run_turn(self, turn: Turn, history: list[dict[str, Any]]) -> TurnResult:
        """Run one turn. On cancellation (Stop, closed tab) the kernel is interrupted if a
        generated cell is running, and :attr:`partial` holds what the turn had done."""
        run = _TurnRun(self, turn, history)
        self.partial: Optional[TurnResult] = None
        try:
            return await run.run()
        except asyncio.CancelledError:
            self.partial = run.stopped()
            raise


class _TurnRun:
    """State of one turn (kept off the Agent so concurrent chats cannot mix)."""

    def __init__(self, agent: Agent, turn: Turn, history: list[dict[str, Any]]) -> None:
        self.agent = agent
        self.cfg = agent.config
        self.turn = turn
        self.history = history
        self.new_messages: list[dict[str, Any]] = []
        self.usage = TokenUsage()
        self.failed: Optional[_FailedCell] = None
        self.last_cell_id: Optional[str] = None
        self.ran_code = False
        self.last_summary = ""
        self.fix_original = ""
        self.ran_ok: set[str] = set()
        self.repeats = 0
        self._last_error: Optional[ProviderError] = None
        self.auto_run = self.cfg.auto_run if turn.auto_run is None else turn.auto_run
        self.max_repairs = self.cfg.max_repairs if turn.max_repairs is None else turn.max_repairs
        self.vision = self.cfg.vision if turn.vision is None else turn.vision
        self.token_budget = (self.cfg.context_token_budget if turn.context_token_budget is None
                             else turn.context_token_budget)
        nb_dir = os.path.dirname(turn.notebook_path)
        self.notebook_dir = nb_dir
        self.workspace = os.path.join(agent.root_dir, nb_dir)

    # ------------------------------------------------------------------ helpers

    async def send(self, msg: BaseModel) -> None:
        await self.agent.sink.send(msg)

    @property
    def codeblocks(self) -> bool:
        return getattr(self.agent.model, "protocol", "tools") == "codeblocks"

    def _end(self, status: TurnStatus, answer: str, error: Optional[ProviderError] = None) -> TurnResult:
        return TurnResult(
            status=status,
            answer=answer,
            usage=to_usage(self.cfg, self.agent.model.model, self.usage),
            messages=self.new_messages,
            error=error,
        )

    def stopped(self) -> TurnResult:
        """The turn so far, with any open tool calls closed so the history stays valid."""
        answered = {m.get("tool_call_id") for m in self.new_messages if m.get("role") == "tool"}
        for m in list(self.new_messages):
            for call in m.get("tool_calls") or []:
                if call["id"] not in answered:
                    self.new_messages.append({"role": "tool", "tool_call_id": call["id"],
                                              "content": "stopped by the user"})
        note = {"role": "assistant", "content": "(stopped by the user)"}
        self.new_messages.append(note)
        return self._end("stopped", "Stopped.")

    # ------------------------------------------------------------------ the turn

    async def run(self) -> TurnResult:
        turn = self.turn
        context_text, fix_target = await self._gather()
        if turn.mode == "fix" and turn.cell_id and self.failed is None:
            return self._end("failed", "The cell to fix was not found in the notebook.")
        user_msg = {"role": "user", "content": prompts.user_message(turn.prompt, context_text, fix_target, self.history),
                    "turn_start": True}
        # later turns see this request as it was sent: their prompts start with this one's
        self.new_messages.append(dict(user_msg))
        conversation = stable_window(list(self.history), max(2000, self.token_budget * 2))
        conversation.append(user_msg)

        answer = ""
        try:
            for _step in range(self.cfg.max_steps):
                reply = await self._ask(conversation)
                if reply is None:  # provider error already reported
                    return self._end("failed", "", self._last_error)
                done, answer = await self._handle_reply(reply, conversation)
                if done:
                    break
            else:
                answer = (
                    f"I stopped after {self.cfg.max_steps} model calls without a final answer. "
                    "The cells that ran are in the notebook."
                )
                self.new_messages.append({"role": "assistant", "content": answer})
                return self._end("gave_up", answer)
        except _GaveUp as gave_up:
            self.new_messages.append({"role": "assistant", "content": gave_up.account})
            return self._end("gave_up", gave_up.account)
        except _Finished as finished:
            self.new_messages.append({"role": "assistant", "content": finished.answer})
            return self._end("done", finished.answer)
        except _Rejected:
            answer = "You rejected the proposed fix; your cell is unchanged."
            self.new_messages.append({"role": "assistant", "content": answer})
            return self._end("done", answer)
        return self._end("done", answer)

    async def _gather(self) -> tuple[str, Optional[str]]:
        """Context for the model, and in fix mode the failing cell (also sets up the repair)."""
        turn = self.turn
        notes: list[str] = []
        text = ""
        tokens = 0
        cells: Optional[list[dict[str, Any]]] = None
        try:
            with turn_timing.waiting("executor"):
                cells = await self.agent.executor.read_cells()
        except ExecutorError as exc:
            notes.append(f"notebook cells unavailable: {exc}")
        try:
            with turn_timing.waiting("kernel_client"):
                client = await self.agent.executor.kernel_client()
        except Exception as exc:  # a dead kernel must not stop the turn
            client = None
            notes.append(f"kernel unavailable for context: {exc}")
        try:
            ctx = await gather_context(
                root_dir=self.agent.root_dir,
                notebook_path=turn.notebook_path,
                kernel_client=client,
                cells=cells if cells is not None else [],
                token_budget=self.token_budget,
                probe_timeout=self.cfg.probe_timeout,
                probe_max_bytes=self.cfg.probe_max_bytes,
            )
            text, tokens = ctx.text, ctx.tokens
            notes.extend(ctx.notes)
        except Exception as exc:
            log.warning("context gathering failed", exc_info=True)
            notes.append(f"context unavailable: {exc}")
        await self.send(ContextNoteMsg(chat_id=turn.chat_id, turn=turn.turn, tokens=tokens, notes=notes))

        fix_target = None
        if turn.mode == "fix" and turn.cell_id:
            cell = next((c for c in cells or [] if c.get("id") == turn.cell_id), None)
            if cell is not None:
                source = "".join(cell.get("source", ""))
                err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
                tb = compact_traceback(err.get("traceback", [])) if err else "(no error output)"
                fix_target = f"cell source:\n{source}\n\nerror:\n{tb}"
                sig = error_signature(CellOutcome(status="error", ename=(err or {}).get("ename", ""),
                                                  evalue=(err or {}).get("evalue", "")))
                self.failed = _FailedCell(cell_id=turn.cell_id, step_id=uuid.uuid4().hex[:12],
                                          attempts=[_Attempt(source, tb, sig)], user_cell=True)
                self.fix_original = source
        return text, fix_target

    async def _ask(self, conversation: list[dict[str, Any]]) -> Optional[ModelReply]:
        turn = self.turn

        async def on_text(delta: str) -> None:
            with turn_timing.own("stream_callbacks"):
                await self.send(TextDeltaMsg(chat_id=turn.chat_id, turn=turn.turn, text=delta))

        preview = {"sent": 0}

        async def on_tool_delta(name: str, arguments: str) -> None:
            if name != RUN_CODE:
                return
            with turn_timing.own("stream_callbacks"):
                code = partial_code_argument(arguments)
                if len(code) > preview["sent"]:
                    await self.send(CodeDeltaMsg(chat_id=turn.chat_id, turn=turn.turn, text=code[preview["sent"]:]))
                    preview["sent"] = len(code)

        async def on_retry(notice: Any) -> None:
            await self.send(NoticeMsg(chat_id=turn.chat_id, turn=turn.turn, level="warning",
                                      text=notice.message))

        while True:
            if self.cfg.prompt_style == "compact" and turn.mode == "chat":  # small local models
                system = compact_system_prompt(codeblocks=self.codeblocks)
            else:
                system = prompts.system_prompt(
                    mode=turn.mode, codeblocks=self.codeblocks, codeblock_instructions=CODEBLOCK_INSTRUCTIONS
                )
            messages = [{"role": "system", "content": system}] + _for_model(conversation)
            turn_timing.mark("model_call")
            try:
                with turn_timing.waiting("model"):
                    reply = await self.agent.model.stream(
                        messages, tools=None if self.codeblocks else TOOL_SPECS, on_text=on_text,
                        on_retry=on_retry, on_tool_delta=on_tool_delta,
                    )
            except ProviderError as exc:
                if exc.kind == "tools_unsupported" and self.codeblocks:
                    continue  # the client switched itself to the code-block protocol (auto)
                if exc.kind == "empty_answer" and self.ran_code:
                    return ModelReply(text="")
                self._last_error = exc
                await self.send(ErrorMsg(code=exc.kind, message=exc.message, hint=exc.hint,
                                         retryable=exc.retryable or exc.kind in ("timeout", "connection", "rate_limit", "server_error", "stream_broken", "empty_answer"),
                                         chat_id=turn.chat_id))
                return None
            self.usage.add(reply.usage)
            return reply

    async def _handle_reply(self, reply: ModelReply, conversation: list[dict[str, Any]]) -> tuple[bool, str]:
        """Act on one model reply; returns (turn finished, answer)."""
        calls = list(reply.tool_calls)
        if not calls:
            calls = parse_textual_tool_calls(reply.text, TOOL_NAMES)
        if self.codeblocks and not calls:
            blocks = extract_code(reply.text)
            if blocks:
                return await self._run_blocks(reply, blocks, conversation)
        elif not calls and (not self.ran_code or self.failed is not None) and self.turn.mode != "fix":
            # Offered tools, some models (small local ones, e.g. Qwen2.5-Coder-1.5B at
            # temperature 0) write a ```python block instead of calling run_code. Before any
            # code ran this turn, or right after a cell failed, such a block is the work (the
            # repair), not an illustration: run it.
            blocks = extract_code(reply.text)
            if blocks:
                return await self._run_blocks(reply, blocks, conversation)
        if not calls:
            answer = reply.text.strip() or self._fallback_answer()
            msg = {"role": "assistant", "content": answer}
            conversation.append(msg)
            self.new_messages.append(msg)
            return True, answer

        if self.codeblocks or not reply.tool_calls:
            # A tool call printed as text (code-block models, and small models offered tools):
            # run its code once and answer in text, as for a code block. Chat templates of
            # local servers often drop tool_calls/tool messages the model never produced
            # natively, and the model would then not see its own result and call again.
            codes = [self._code_of(c) for c in calls if c.name == RUN_CODE]
            codes = [c for c in codes if c]
            if codes:
                return await self._run_blocks(reply, codes, conversation)

        seen: set[str] = set()
        for call in calls:
            if not call.id or call.id in seen:  # missing or repeated ids (some local servers)
                call.id = f"call_{uuid.uuid4().hex[:16]}"
            seen.add(call.id)
        assistant = {
            "role": "assistant",
            "content": reply.text or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in calls
            ],
        }
        conversation.append(assistant)
        self.new_messages.append(assistant)
        extra_user: list[dict[str, Any]] = []
        for i, call in enumerate(calls):
            result, images = await self._dispatch(call)
            tool_msg = {"role": "tool", "tool_call_id": call.id, "content": result}
            conversation.append(tool_msg)
            self.new_messages.append(tool_msg)
            if images and self.vision:
                extra_user.append(self._image_message(images))
            if self.failed is not None and call.name == RUN_CODE and i < len(calls) - 1:
                # later calls were written before this failure was known: skip them
                for later in calls[i + 1:]:
                    skipped = {"role": "tool", "tool_call_id": later.id,
                               "content": "not run: an earlier cell in this reply failed; fix it first"}
                    conversation.append(skipped)
                    self.new_messages.append(skipped)
                break
        conversation.extend(extra_user)
        return False, ""

    def _code_of(self, call: ToolCall) -> str:
        args, _err = parse_arguments(call.arguments)
        return str((args or {}).get("code", "")).strip()

    def _image_message(self, images: list[str]) -> dict[str, Any]:
        return {
            "role": "user",
            "content": [{"type": "text", "text": "Images produced by the last cell:"}]
            + [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}", "detail": "low"}}
               for b64 in images[:2]],
        }

    def _fallback_answer(self) -> str:
        if self.ran_code:
            return "Done. The cells and their outputs are in the notebook.\n\n" + (
                f"Last output:\n```\n{self.last_summary[:1500]}\n```" if self.last_summary else "")
        return "The model returned an empty answer."

    async def _run_blocks(self, reply: ModelReply, blocks: list[str], conversation: list[dict[str, Any]]) -> tuple[bool, str]:
        assistant = {"role": "assistant", "content": reply.text}
        conversation.append(assistant)
        self.new_messages.append(assistant)
        results: list[str] = []
        images_all: list[str] = []
        for i, code in enumerate(blocks):
            summary, images = await self._run_code(code)
            images_all.extend(images)
            results.append(f"[cell {i + 1} of {len(blocks)}]\n{summary}" if len(blocks) > 1 else summary)
            if self.failed is not None:
                if i < len(blocks) - 1:
                    results.append(f"({len(blocks) - i - 1} later code block(s) not run because this one failed)")
                break
        user = {"role": "user", "content": prompts.result_message_for_codeblocks(results)}
        if images_all and self.vision:
            user = {"role": "user", "content": [{"type": "text", "text": user["content"]}]
                    + self._image_message(images_all)["content"][1:]}
        conversation.append(user)
        self.new_messages.append(user)
        return False, ""

    async def _dispatch(self, call: ToolCall) -> tuple[str, list[str]]:
        if call.name not in TOOL_NAMES:
            return f"Unknown tool {call.name!r}. Available: {', '.join(sorted(TOOL_NAMES))}.", []
        args, err = parse_arguments(call.arguments)
        if err is not None:
            return err, []
        assert args is not None
        if call.name == RUN_CODE:
            code = str(args.get("code", ""))
            if not code.strip():
                return "run_code needs a non-empty 'code' argument.", []
            result, images = await self._run_code(code)
            return _frame_cell_result(result), images
        if call.name == INSPECT_VARIABLE:
            return await self._inspect(str(args.get("name", ""))), []
        if call.name == READ_FILE:
            path = str(args.get("path", ""))
            text = read_file_head(self.agent.root_dir, self.notebook_dir, path, args.get("lines") or 20)
            return prompts.workspace_data(f"file:{path}", text), []
        return "unhandled tool", []  # pragma: no cover

    async def _inspect(self, name: str) -> str:
        step_id = uuid.uuid4().hex[:12]
        turn = self.turn
        await self.send(StepMsg(chat_id=turn.chat_id, turn=turn.turn, step_id=step_id, tool=INSPECT_VARIABLE,
                                state="running", summary=name))
        client = None
        try:
            client = await self.agent.executor.kernel_client()
        except Exception:
            pass
        if client is None or not name.isidentifier():
            text = "No kernel variable access." if client is None else f"{name!r} is not a variable name."
        else:
            text = await eval_expression(client, inspect_expression(name), timeout=max(2.0, self.cfg.probe_timeout * 2))
        await self.send(StepMsg(chat_id=turn.chat_id, turn=turn.turn, step_id=step_id, tool=INSPECT_VARIABLE,
                                state="ok", summary=name))
        return prompts.workspace_data(f"variable:{name}", text)

    # ------------------------------------------------------------------ running code

    async def _run_code(self, code: str) -> tuple[str, list[str]]:
        """Run one generated cell (or repair the failed one) under the approval and repair rules."""
        cfg = self.cfg
        turn = self.turn
        failed = self.failed
        repair = failed is not None
        if repair and failed.repairs_used >= self.max_repairs:
            raise _GaveUp(self._account(failed, "the repair limit was reached"))
        step_id = failed.step_id if repair else uuid.uuid4().hex[:12]
        attempt = len(failed.attempts) + 1 if repair else 1
        max_attempts = 1 + self.max_repairs
        replace = failed.cell_id if repair else None
        user_cell = bool(repair and failed.user_cell)

        def step(state: str, **kw: Any) -> StepMsg:
            fields: dict[str, Any] = {"code": code, "attempt": attempt, "max_attempts": max_attempts,
                                      "cell_id": replace or ""}
            fields.update(kw)
            return StepMsg(chat_id=turn.chat_id, turn=turn.turn, step_id=step_id, tool=RUN_CODE, state=state,
                           **fields)

        if not repair and _normalized(code) in self.ran_ok:
            # small models re-send a cell that already worked instead of answering
            self.repeats += 1
            if self.repeats >= 2:
                raise _Finished(self._fallback_answer())
            return ("This exact code already ran successfully in this turn; its output is above. "
                    "Do not run it again: answer the user's request now, in words."), []
        reason = destructive_reason(code, self.workspace)
        needs_approval = user_cell or reason is not None or not self.auto_run
        if needs_approval:
            kind = "fix" if user_cell else "run"
            await self.send(step("waiting_approval", reason=reason or ""))
            reply = await self.agent.sink.ask_approval(ApprovalRequestMsg(
                chat_id=turn.chat_id, turn=turn.turn, step_id=step_id, kind=kind, code=code,
                original=self.fix_original if user_cell else "",
                cell_id=replace or "", reason=reason or ("fix for your cell" if user_cell else "ask before running")))
            if reply.decision in ("skip", "reject"):
                await self.send(step("skipped", summary="skipped by the user"))
                if user_cell:
                    raise _Rejected()
                return ("The user chose not to run this code (it did not run). Do not retry it; "
                        "continue without it or explain what it would have done."), []
            if reply.code is not None and reply.code.strip():
                code = reply.code
                reason = destructive_reason(code, self.workspace)

        metadata = {"codeinterp": {"generated": True, "chat_id": turn.chat_id, "turn": turn.turn,
                                   "step_id": step_id, "attempt": attempt}}
        if user_cell:
            metadata = {"codeinterp": {"fixed": True, "chat_id": turn.chat_id, "turn": turn.turn}}
        anchor = None if repair else (self.last_cell_id or (turn.cell_id if turn.mode == "generate" else None))
        await self.send(step("running"))
        before = self._snapshot_files()
        started = time.monotonic()
        try:
            with turn_timing.waiting("executor"):
                outcome = await self.agent.executor.run_cell(
                    code, metadata=metadata, replace_cell_id=replace, anchor_cell_id=anchor,
                    timeout=cfg.cell_timeout)
        except asyncio.CancelledError:
            # Stop: interrupt the kernel so a long generated cell does not keep running.
            await self.send(step("interrupted", elapsed=time.monotonic() - started))
            try:
                await asyncio.shield(self.agent.executor.interrupt())
            except Exception:
                log.debug("interrupt after stop failed", exc_info=True)
            raise
        except ExecutorError as exc:
            outcome = CellOutcome(status="aborted", cell_id=replace or "", ename="ExecutorError", evalue=str(exc))
        self.ran_code = True
        if user_cell:
            self.fix_original = code  # the cell now holds this; a further fix is diffed against it
        if outcome.cell_id:
            self.last_cell_id = outcome.cell_id
        files = self._new_files(before)
        summary = summarize_outcome(outcome)
        if outcome.status == "aborted":
            summary = f"status: not run ({outcome.evalue})"
        if files:
            summary += "\nfiles written: " + ", ".join(os.path.basename(f) for f in files)
        images = images_of(outcome.outputs)
        state = {"ok": "ok", "error": "error", "interrupted": "interrupted", "timeout": "timeout",
                 "aborted": "aborted", "skipped": "skipped"}[outcome.status]
        await self.send(step(state, summary=summary, images=images, files=files, elapsed=outcome.elapsed,
                             cell_id=outcome.cell_id or replace or ""))
        self.last_summary = summary

        if outcome.status == "aborted":
            raise _GaveUp(f"I could not run code in the notebook: {outcome.evalue}")
        if outcome.status == "ok":
            self.failed = None
            self.ran_ok.add(_normalized(code))
            return summary, images
        # a failure: this cell's next code is its repair
        sig = error_signature(outcome) if outcome.status == "error" else outcome.status
        record = _Attempt(code, summary, sig)
        if failed is None:
            self.failed = _FailedCell(cell_id=outcome.cell_id, step_id=step_id, attempts=[record])
        else:
            failed.attempts.append(record)
            if failed.cell_id != outcome.cell_id and outcome.cell_id:
                failed.cell_id = outcome.cell_id
            prev = failed.attempts[-2].signature
            if sig == prev and outcome.status == "error":
                raise _GaveUp(self._account(failed, "the same error came back after a repair"))
            if failed.repairs_used >= self.max_repairs:
                raise _GaveUp(self._account(failed, "the repair limit was reached"))
        if outcome.status in ("timeout", "interrupted"):
            summary += STOPPED_NOTE
        return summary, images

    def _account(self, failed: _FailedCell, why: str) -> str:
        """A plain account for the user when the agent stops repairing."""
        n = len(failed.attempts)
        lines = [f"I stopped trying to fix this cell: {why} ({n} attempt{'s' if n != 1 else ''}, "
                 f"at most {self.max_repairs} repairs)."]
        lines.append("")
        lines.append("What was tried:")
        for i, att in enumerate(failed.attempts, 1):
            err = att.signature if att.signature else "failed"
            label = "your cell" if (i == 1 and failed.user_cell) else f"attempt {i}"
            lines.append(f"- {label}: `{strip_ansi(err)[:200]}`")
        lines.append("")
        lines.append("The failing cell is left in the notebook with its error so you can look at it; "
                     "tell me more (for example the right column or file name) and I will try again.")
        return "\n".join(lines)

    # ------------------------------------------------------------------ files written

    def _snapshot_files(self) -> dict[str, float]:
        try:
            with os.scandir(self.workspace) as it:
                return {e.name: e.stat().st_mtime for e in it if e.is_file() and not e.name.startswith(".")}
        except OSError:
            return {}

    def _new_files(self, before: dict[str, float]) -> list[str]:
        after = self._snapshot_files()
        nb_name = os.path.basename(self.turn.notebook_path)
        changed = [n for n, m in after.items() if (n not in before or before[n] != m) and n != nb_name]
        return [os.path.join(self.notebook_dir, n).replace(os.sep, "/") for n in sorted(changed)[:20]]


def _normalized(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


_CODE_ARG = re.compile(r'"code"\s*:\s*"')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f"}


def partial_code_argument(arguments: str) -> str:
    """The ``code`` string of a run_code call whose JSON arguments are still streaming."""
    m = _CODE_ARG.search(arguments)
    if not m:
        return ""
    body = arguments[m.end():]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            break
        if ch == "\\":
            if i + 1 >= len(body):
                break  # an escape cut in half: wait for the rest
            nxt = body[i + 1]
            if nxt == "u":
                if i + 6 > len(body):
                    break
                try:
                    out.append(chr(int(body[i + 2:i + 6], 16)))
                except ValueError:
                    pass
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def new_chat_id() -> str:
    return uuid.uuid4().hex
