"""The single-shot baseline: what the bare model gives.

One request, no agent, no context (no variables, no file listing, no tools): the model is
asked for one whole program, the program runs once in a fresh kernel in the task's folder
(after the task's setup, like the agent), and what it prints is the answer. No repair.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Optional

from ..agent.codeblocks import extract_code
from ..config import CodeInterp
from ..llm.client import ModelClient
from ..llm.types import ProviderError
from .results import Record, new_record
from .scoring import score_answer
from .tasks import EvalTask
from .workspace import close_workspace, missing_files_note, open_workspace, output_text, run_check

SYSTEM = "You are an expert Python data analyst. You answer with one complete Python program."


def single_shot_prompt(task: EvalTask) -> str:
    return (
        "Write one complete Python program that answers the request below. It will be run once, as it "
        "is, in the working folder that holds the data file(s); you will not see its output and cannot "
        "fix it afterwards. The program must print the final answer with print(), in the required "
        "format.\n\n"
        f"{task.request()}\n\n"
        "Reply with the program in a single ```python code block."
    )


def _write(folder: str, name: str, text: str) -> None:
    try:
        with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError:
        pass


async def run_single_shot_task(task: EvalTask, folder: str, config: CodeInterp, *, timeout: float,
                               kernel_name: Optional[str] = None, workspace: str = "") -> Record:
    """Ask once for a program, run it once, score what it printed."""
    rec = new_record(task, "single-shot", workspace)
    rec.grounded = True  # the answer is what the program printed, by construction
    skipped = missing_files_note(task)
    if task.mode == "fix":
        skipped = "a fix task has no single-shot form (it fixes a cell in a notebook)"
    if skipped:
        rec.failure, rec.detail = "skipped", skipped
        return rec
    started = time.monotonic()
    model = ModelClient(config)
    executor, problem = await open_workspace(task, folder, kernel_name)
    try:
        if problem:
            rec.detail = problem
            return rec
        deadline = time.monotonic() + timeout
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": single_shot_prompt(task)}]
        try:
            reply = await asyncio.wait_for(model.stream(messages, tools=None), timeout)
        except asyncio.TimeoutError:
            rec.failure, rec.status, rec.detail = "timeout", "timeout", f"no reply within {timeout:g} s"
            return rec
        except ProviderError as exc:
            rec.failure, rec.status, rec.detail = "model error", "failed", f"{exc.kind}: {exc.message}"
            return rec
        rec.tokens_in, rec.tokens_out = reply.usage.prompt_tokens, reply.usage.completion_tokens
        rec.tokens_estimated = reply.usage.estimated
        _write(folder, "reply.md", reply.text)
        code = "\n\n".join(extract_code(reply.text))
        if not code.strip():
            rec.failure, rec.status, rec.detail = "no answer", "no code", "the reply has no Python code"
            rec.answer = reply.text.strip()[:2000]
            return rec
        remaining = max(1.0, deadline - time.monotonic())
        try:
            outcome = await asyncio.wait_for(
                executor.run_cell(code, metadata={"codeinterp_eval": {"single_shot": True}}, timeout=remaining),
                remaining + 15)
        except asyncio.TimeoutError:
            outcome = None
        rec.cells_run = 1
        if outcome is None or outcome.status in ("timeout", "interrupted"):
            rec.failure, rec.status = "timeout", "timeout"
            rec.detail = f"the program did not finish within the task's {timeout:g} s"
            return rec
        rec.answer = output_text(outcome)
        rec.status = "ran" if outcome.status == "ok" else "program error"
        if outcome.status != "ok":
            rec.detail = f"the program failed: {outcome.ename or outcome.status}: {outcome.evalue}".strip()
        score = score_answer(rec.answer, task.expected, task.rule)
        rec.extracted = score.extracted
        rec.check = await run_check(executor, task, rec.answer, score.extracted)
        rec.correct = score.correct and rec.check in (None, "passed")
        if rec.correct:
            rec.failure = "correct"
        elif (task.expected and not score.answered) or not rec.answer.strip():
            rec.failure = "no answer"
        else:
            rec.failure = "wrong"
        if rec.check not in (None, "passed") and not rec.detail:
            rec.detail = f"check.py: {rec.check}"
        return rec
    finally:
        rec.seconds = round(time.monotonic() - started, 2)
        await close_workspace(executor, model)
