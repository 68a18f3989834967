"""One task in agent mode: a fresh folder and kernel, one turn of the real ``Agent`` through
the ``HeadlessExecutor`` (as ``jupyter codeinterp run`` does), then score and classify it."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any, Optional

from pydantic import BaseModel

from ..agent.loop import Agent, Turn, new_chat_id
from ..config import CodeInterp
from ..executors.base import ExecutorError
from ..llm.client import ModelClient
from ..protocol import ApprovalReplyMsg, ApprovalRequestMsg, ErrorMsg, StepMsg
from .results import Record, new_record
from .scoring import Score, score_answer, states_a_number
from .tasks import EvalTask
from .workspace import close_workspace, missing_files_note, open_workspace, rerun_from_top, run_check

#: a run_code step in one of these states is a cell that ran
RAN_STATES = ("ok", "error", "timeout")


class EvalSink:
    """The turn's reporter: counts the cells that ran and the repairs, keeps provider errors,
    and declines code that needs approval (nobody is there to give it)."""

    def __init__(self) -> None:
        self.cells_run = 0
        self.repairs = 0
        self.declined = 0
        self.errors: list[ErrorMsg] = []

    async def send(self, msg: BaseModel) -> None:
        if isinstance(msg, StepMsg) and msg.tool == "run_code" and msg.state in RAN_STATES:
            self.cells_run += 1
            if msg.attempt > 1:
                self.repairs += 1
        elif isinstance(msg, ErrorMsg):
            self.errors.append(msg)

    async def ask_approval(self, request: ApprovalRequestMsg) -> ApprovalReplyMsg:
        if request.kind == "fix":  # a fix task: the proposal is accepted, as a user reviewing it would
            return ApprovalReplyMsg(step_id=request.step_id, decision="accept")
        self.declined += 1
        return ApprovalReplyMsg(step_id=request.step_id, decision="skip")


def classify(*, status: str, has_error: bool, answer: str, cells_run: int, score: Score, check: Optional[str],
             expects_answer: bool) -> tuple[bool, str]:
    """(correct, failure class) of a finished agent turn.

    Order matters: a model error or a turn that gave up is that, whatever its text; a right
    answer is correct; a number or a closed-form result stated when no cell ran is
    ungrounded; an answer without the required ``@name[value]`` is no answer; anything else
    is wrong.
    """
    if status == "failed":
        return False, "model error" if has_error else "error"
    if status == "gave_up":
        return False, "gave up"
    correct = score.correct and check in (None, "passed")
    if correct:
        return True, "correct"
    if cells_run == 0 and (states_a_number(answer) or score.answered):
        return False, "ungrounded"
    if (expects_answer and not score.answered) or not answer.strip():
        return False, "no answer"
    return False, "wrong"


async def _run_broken_cell(executor: Any, task: EvalTask) -> tuple[Optional[str], Optional[str]]:
    """A fix task's broken cell, run so it carries its error: (its id, or why the task cannot run)."""
    try:
        outcome = await executor.run_cell(task.cell, metadata={}, timeout=300)
    except ExecutorError as exc:
        return None, str(exc)
    if outcome.status != "error":
        return None, f"the task's broken cell did not fail ({outcome.status})"
    return outcome.cell_id, None


def _usage_into(rec: Record, usage: Any) -> None:
    if usage is None:
        return
    rec.tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
    rec.tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
    rec.tokens_estimated = bool(getattr(usage, "estimated", False))


def _save_turn(folder: str, task: EvalTask, result: Any) -> None:
    """The turn's messages next to its notebook, to read what the model did."""
    data = {"id": task.id, "request": task.request(), "status": getattr(result, "status", ""),
            "answer": getattr(result, "answer", ""), "messages": getattr(result, "messages", []),
            "transcript": getattr(result, "transcript", [])}
    try:
        with open(os.path.join(folder, "turn.json"), "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, ensure_ascii=False, default=str)
    except (OSError, TypeError):
        pass


async def run_agent_task(task: EvalTask, folder: str, config: CodeInterp, *, timeout: float,
                         kernel_name: Optional[str] = None, workspace: str = "") -> Record:
    """Run ``task`` in agent mode in ``folder`` (created fresh) and return its record."""
    rec = new_record(task, "agent", workspace)
    skipped = missing_files_note(task)
    if skipped:
        rec.failure, rec.detail = "skipped", skipped
        return rec
    started = time.monotonic()
    model = ModelClient(config)
    sink = EvalSink()
    agent: Optional[Agent] = None
    executor, problem = await open_workspace(task, folder, kernel_name)
    try:
        cell_id: Optional[str] = None
        if not problem and task.mode == "fix":
            cell_id, problem = await _run_broken_cell(executor, task)
        if problem:
            rec.detail = problem
            return rec
        agent = Agent(config=config, model=model, executor=executor, sink=sink, root_dir=executor.root_dir)
        turn = Turn(chat_id=new_chat_id(), turn=1, prompt=task.request(), notebook_path=executor.notebook_path,
                    mode="fix" if task.mode == "fix" else "chat", cell_id=cell_id, auto_run=True)
        try:
            result = await asyncio.wait_for(agent.run_turn(turn, []), timeout)
        except asyncio.TimeoutError:
            partial = getattr(agent, "partial", None)
            _usage_into(rec, getattr(partial, "usage", None))
            rec.failure, rec.status = "timeout", "timeout"
            rec.detail = f"the turn did not finish within {timeout:g} s"
            _save_turn(folder, task, partial)
            return rec
        _save_turn(folder, task, result)
        _usage_into(rec, result.usage)
        rec.answer, rec.status = result.answer or "", result.status
        score = score_answer(rec.answer, task.expected, task.rule)
        rec.extracted = score.extracted
        if result.status == "done" and task.mode == "fix":
            executor.save()
            rec.check = await rerun_from_top(folder, kernel_name, task, rec.answer, score.extracted)
        elif result.status == "done":
            rec.check = await run_check(executor, task, rec.answer, score.extracted)
        rec.correct, rec.failure = classify(
            status=result.status, has_error=result.error is not None or bool(sink.errors), answer=rec.answer,
            cells_run=sink.cells_run, score=score, check=rec.check, expects_answer=bool(task.expected))
        grounding = getattr(result, "grounding", None)
        rec.grounding = grounding if isinstance(grounding, str) and grounding else None
        if result.error is not None:
            rec.detail = f"{result.error.kind}: {result.error.message}"
        elif result.status == "gave_up":
            rec.detail = (rec.answer.strip().splitlines() or [""])[0][:200]
        elif rec.grounding == "not_computed" and not rec.correct:
            rec.detail = "not computed: the agent withheld an answer no cell computed"
        elif rec.check not in (None, "passed"):
            rec.detail = f"check.py: {rec.check}"
        return rec
    finally:
        rec.cells_run, rec.repairs = sink.cells_run, sink.repairs
        rec.grounded = sink.cells_run > 0
        if sink.declined and not rec.detail:
            rec.detail = f"{sink.declined} cell(s) needed approval and were not run"
        rec.seconds = round(time.monotonic() - started, 2)
        await close_workspace(executor, model)
