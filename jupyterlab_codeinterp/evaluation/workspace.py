"""A task's fresh working folder and kernel: its files copied in, its setup run, its check run."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Optional

from ..context.kernel_probe import eval_expression
from ..executors.base import ExecutorError
from ..executors.headless import HeadlessExecutor
from ..protocol import CellOutcome
from .tasks import EvalTask

NOTEBOOK = "analysis.ipynb"
CHECK_TIMEOUT = 60.0


def prepare_folder(task: EvalTask, folder: str) -> None:
    """An empty folder holding the task's files (whatever an earlier, interrupted run left is removed)."""
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    for source, name in task.files:
        target = os.path.join(folder, name)
        if os.path.isdir(source):
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)


def new_executor(folder: str, kernel_name: Optional[str]) -> HeadlessExecutor:
    return HeadlessExecutor(os.path.join(folder, NOTEBOOK), root_dir=folder, kernel_name=kernel_name)


async def run_setup(executor: HeadlessExecutor, task: EvalTask) -> Optional[str]:
    """Run the task's setup as the notebook's first cell (the state a user would have made);
    returns why it failed, or None."""
    if not task.setup.strip():
        return None
    outcome = await executor.run_cell(task.setup, metadata={"codeinterp_eval": {"setup": True}}, timeout=300)
    if outcome.status != "ok":
        return f"the task's setup failed: {outcome.ename or outcome.status}: {outcome.evalue}".strip()
    return None


def missing_files_note(task: EvalTask) -> Optional[str]:
    """Why a task cannot run here (a data file the suite names is not in its folder), or None."""
    if task.missing_files:
        return f"missing data file(s): {', '.join(task.missing_files)}"
    return None


async def open_workspace(task: EvalTask, folder: str, kernel_name: Optional[str]) -> tuple[HeadlessExecutor, Optional[str]]:
    """The task's fresh folder with its kernel started and its setup run, as both modes begin;
    returns the executor (to be closed by the caller) and why it could not start, or None."""
    prepare_folder(task, folder)
    executor = new_executor(folder, kernel_name)
    try:
        await executor.start()
        return executor, await run_setup(executor, task)
    except ExecutorError as exc:
        return executor, str(exc)


async def close_workspace(executor: HeadlessExecutor, model: Any) -> None:
    """Save the task's notebook as it is (for reading afterwards), stop its kernel and close
    the model client, whatever state the task ended in."""
    try:
        executor.save()
    except Exception:
        pass
    await executor.close()
    await model.close()


def output_text(outcome: CellOutcome) -> str:
    """What a cell printed (stdout, stderr) and its result, as text."""
    parts: list[str] = []
    for out in outcome.outputs:
        kind = out.get("output_type")
        if kind == "stream":
            text = out.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else str(text))
        elif kind in ("execute_result", "display_data"):
            plain = (out.get("data") or {}).get("text/plain")
            if plain:
                parts.append(("".join(plain) if isinstance(plain, list) else str(plain)) + "\n")
    return "".join(parts)


def check_expression(source: str, answer: str, answers: dict[str, str]) -> str:
    """An expression that runs check.py in a copy of the kernel's globals (it sees the
    variables, adds no names) with ``answer`` and ``answers`` defined; "passed" unless it raises."""
    return ("(lambda __src, __ns: (exec(compile(__src, 'check.py', 'exec'), __ns), 'passed')[1])"
            f"({source!r}, dict(globals(), answer={answer!r}, answers={json.dumps(answers)}))")


async def run_check(executor: HeadlessExecutor, task: EvalTask, answer: str, answers: dict[str, str]) -> Optional[str]:
    """"passed", or why the task's check.py did not pass; None when the task has none."""
    if not task.check.strip():
        return None
    client: Any = await executor.kernel_client()
    if client is None:
        return "the kernel is gone; the check could not run"
    result = await eval_expression(client, check_expression(task.check, answer, answers), timeout=CHECK_TIMEOUT)
    return "passed" if result == "passed" else (result.strip() or "the check failed")


async def rerun_from_top(folder: str, kernel_name: Optional[str], task: EvalTask, answer: str,
                         answers: dict[str, str]) -> str:
    """A fix task's verdict: the saved notebook re-run from the top in a fresh kernel, then
    its check.py there. "passed", or what failed."""
    fresh = new_executor(folder, kernel_name)
    try:
        await fresh.start()
        report = await fresh.restore()
        if report.errors:
            return f"the notebook does not re-run from the top: {report.first_error}"[:300]
        if report.cells_run == 0:
            return "the notebook has no cell to re-run"
        return await run_check(fresh, task, answer, answers) or "passed"
    except Exception as exc:  # a kernel that does not start is the task's failure, not the run's
        return f"the re-run failed: {exc}"[:300]
    finally:
        await fresh.close()
