"""Running the model's code in the notebook: approval, the cell itself, tool dispatch.

A :class:`CellRunner` serves one turn. It asks the user before code that needs approval,
inserts (or, for a repair, replaces) the cell, runs it through the executor, reports the
step, and hands the outcome to the turn's :class:`~.repair.Repairs`. It also answers the
read-only tools (inspect_variable, read_file).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from typing import Any, Awaitable, Callable, Optional

from pydantic import BaseModel

from ..config import CodeInterp
from ..context.kernel_probe import eval_expression
from ..executors.base import ExecutorError
from ..instrumentation import turn_timing
from ..llm.types import ToolCall
from ..protocol import ApprovalRequestMsg, CellOutcome, StepMsg
from . import prompts
from .grounding import LITERAL_NOTE, computes_nothing
from .hints import FailedRun, repair_hint
from .repair import REPEATED_PREFIX, GaveUp, Repairs
from .results import images_of, output_text, summarize_outcome
from .safety import destructive_reason
from .tools import INSPECT_VARIABLE, READ_FILE, RUN_CODE, TOOL_NAMES, inspect_expression, parse_arguments, read_file_head

log = logging.getLogger(__name__)

#: how much of a cell's printed text is kept to check the final answer against
MAX_OUTPUT_KEPT = 200_000

STOPPED_NOTE = "\n(The cell was stopped. Make it faster, or work on a sample of the data.)"


class Rejected(Exception):
    """The user rejected the fix proposed for their own cell."""


class Finished(Exception):
    """The turn's work is done although the model did not say so (it repeats itself)."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


def frame_cell_result(result: str) -> str:
    """A run_code result for the model: what the cell printed is workspace data (a CSV cell
    saying "ignore your instructions" printed by pandas must read as data), so the result
    goes in a <workspace-data> block; our own messages (skipped by the user) and notes stay
    outside it. The code-block protocol frames its results in result_message_for_codeblocks."""
    if not result.startswith("status:"):
        return result
    body, note = result, ""
    repeated = result.rfind(REPEATED_PREFIX)
    if result.endswith(STOPPED_NOTE):
        body, note = result[: -len(STOPPED_NOTE)], STOPPED_NOTE
    elif repeated >= 0:
        body, note = result[:repeated], result[repeated:]
    return prompts.workspace_data("cell-output", body) + note


def image_message(images: list[str]) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [{"type": "text", "text": "Images produced by the last cell:"}]
        + [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}", "detail": "low"}}
           for b64 in images[:2]],
    }


def normalized(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


class CellRunner:
    """The run-code step of one turn, and what it has run so far."""

    def __init__(self, *, agent: Any, turn: Any, config: CodeInterp, auto_run: bool, repairs: Repairs,
                 send: Callable[[BaseModel], Awaitable[None]]) -> None:
        self.agent = agent
        self.turn = turn
        self.cfg = config
        self.auto_run = auto_run
        self.repairs = repairs
        self.send = send
        self.notebook_dir = os.path.dirname(turn.notebook_path)
        self.workspace = os.path.join(agent.root_dir, self.notebook_dir)
        self.last_cell_id: Optional[str] = None
        self.ran_code = False
        self.last_summary = ""
        self.fix_original = ""
        self.ran_ok: set[str] = set()
        self.repeats = 0
        self.outputs: list[str] = []
        """The text every cell run this turn printed, in order (what answers rest on)."""
        self.codes: list[str] = []
        """The code of those cells (numbers an answer takes from it, a year or a threshold,
        are the model's own choice, not invented results)."""
        self.cells_run = 0
        self.declined = 0
        """Cells the user chose not to run."""

    def fallback_answer(self) -> str:
        if self.ran_code:
            return "Done. The cells and their outputs are in the notebook.\n\n" + (
                f"Last output:\n```\n{self.last_summary[:1500]}\n```" if self.last_summary else "")
        return "The model returned an empty answer."

    # ------------------------------------------------------------------ tools

    async def dispatch(self, call: ToolCall) -> tuple[str, list[str]]:
        """One tool call's result for the model, and the images a cell produced."""
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
            result, images = await self.run_code(code)
            return frame_cell_result(result), images
        if call.name == INSPECT_VARIABLE:
            return await self.inspect(str(args.get("name", ""))), []
        if call.name == READ_FILE:
            path = str(args.get("path", ""))
            text = read_file_head(self.agent.root_dir, self.notebook_dir, path, args.get("lines") or 20)
            return prompts.workspace_data(f"file:{path}", text), []
        return "unhandled tool", []  # pragma: no cover

    async def inspect(self, name: str) -> str:
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

    async def run_blocks(self, blocks: list[str]) -> tuple[list[str], list[str]]:
        """Run code blocks in order until one fails: (their results, their images)."""
        results: list[str] = []
        images_all: list[str] = []
        for i, code in enumerate(blocks):
            summary, images = await self.run_code(code)
            images_all.extend(images)
            results.append(f"[cell {i + 1} of {len(blocks)}]\n{summary}" if len(blocks) > 1 else summary)
            if self.repairs.failed is not None:
                if i < len(blocks) - 1:
                    results.append(f"({len(blocks) - i - 1} later code block(s) not run because this one failed)")
                break
        return results, images_all

    # ------------------------------------------------------------------ running code

    async def run_code(self, code: str) -> tuple[str, list[str]]:
        """Run one generated cell (or repair the failed one) under the approval and repair rules."""
        cfg = self.cfg
        turn = self.turn
        self.repairs.check_before_repair()
        failed = self.repairs.failed
        repair = failed is not None
        if repair:
            code, instead = self.repairs.vet(code)
            if instead is not None:
                return instead, []
        step_id = failed.step_id if repair else uuid.uuid4().hex[:12]
        attempt = len(failed.attempts) + 1 if repair else 1
        max_attempts = 1 + self.repairs.max_repairs
        replace = failed.cell_id if repair else None
        user_cell = bool(repair and failed.user_cell)

        def step(state: str, **kw: Any) -> StepMsg:
            fields: dict[str, Any] = {"code": code, "attempt": attempt, "max_attempts": max_attempts,
                                      "cell_id": replace or ""}
            fields.update(kw)
            return StepMsg(chat_id=turn.chat_id, turn=turn.turn, step_id=step_id, tool=RUN_CODE, state=state,
                           **fields)

        if not repair and normalized(code) in self.ran_ok:
            # small models re-send a cell that already worked instead of answering
            self.repeats += 1
            if self.repeats >= 2:
                raise Finished(self.fallback_answer())
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
                self.declined += 1
                if user_cell:
                    raise Rejected()
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
        # a print of numbers the model typed in (not "print('done')"): it backs none of them
        literal = (outcome.status == "ok" and computes_nothing(code)
                   and any(ch.isdigit() for ch in output_text(outcome.outputs)[0]))
        if outcome.status not in ("aborted", "skipped"):
            self.cells_run += 1
            if not literal:
                self.outputs.append(output_text(outcome.outputs)[0][:MAX_OUTPUT_KEPT])
                self.codes.append(code)

        if outcome.status == "aborted":
            raise GaveUp(f"I could not run code in the notebook: {outcome.evalue}")
        hint = (await self.hint(outcome.ename, outcome.evalue, outcome.traceback, code)
                if outcome.status == "error" else "")
        note = self.repairs.record(outcome, code, summary, step_id, hint=hint)
        if hint:
            summary += "\n" + hint
        summary += note
        if literal:
            summary += LITERAL_NOTE
        if outcome.status == "ok":
            self.ran_ok.add(normalized(code))
        elif outcome.status in ("timeout", "interrupted"):
            summary += STOPPED_NOTE
        return summary, images

    async def hint(self, ename: str, evalue: str, traceback: Any, code: str) -> str:
        """The facts that answer a failure (see hints.py), '' when none apply."""
        try:
            client = await self.agent.executor.kernel_client()
        except Exception:
            client = None
        run = FailedRun(ename=ename, evalue=evalue, code=code, traceback=traceback)
        return await repair_hint(run, client=client, workspace=self.workspace,
                                 timeout=max(2.0, self.cfg.probe_timeout * 2))

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
