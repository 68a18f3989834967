"""The repair policy: a failed cell's next code is its repair, within a limit.

One :class:`Repairs` per turn tracks the cell being repaired (a generated cell that failed,
or in fix mode the user's cell), its attempts, and decides when to give up: the repair
limit is reached, or a repair brings back the identical error. Giving up raises
:class:`GaveUp` carrying a plain account for the user.

Before that account, a repair that brings back the same error, or that repeats the failed
code (not run then), gets one more attempt: the model is told so, with the failure's hint
(:mod:`.hints`) and the instruction to take a different approach, and is asked at a higher
temperature (:attr:`Repairs.explore`): at a low one a small model sends the same cell again.
While the loop can still ask a data request afresh, the first repair identical to the failed
code gives up at once instead (:attr:`Repairs.give_up_on_identical`). A repair must be the
whole cell (:mod:`.wholecell`): a partial one is spliced into the cell, or the whole cell is
asked for once; lines it only restyled keep the cell's text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from ..context.notebook import compact_traceback
from ..protocol import CellOutcome
from .hints import failing_line_number
from .prompts import workspace_data
from .results import error_signature, strip_ansi
from .wholecell import ask_whole_cell, complete_cell, keep_original_lines


@dataclass
class Attempt:
    code: str
    summary: str
    signature: str


@dataclass
class FailedCell:
    """The generated (or, in fix mode, the user's) cell whose next code is its repair."""

    cell_id: str
    step_id: str
    attempts: list[Attempt] = field(default_factory=list)
    user_cell: bool = False
    error_line: Optional[int] = None
    """The cell's line at the last failure (1-based, from the traceback)."""
    hint: str = ""
    """The last failure's hint (facts from the kernel and the folder), for the model."""
    last_chance: bool = False
    """The extra attempt after a repeated error or a repeated repair was given."""
    asked_whole: bool = False
    """The model was already asked once to send the whole cell."""
    identical: int = 0
    """Repairs refused as identical to the failed code."""
    told: str = ""
    """Why the last repair did not do (identical, same error), for a refocused request."""

    @property
    def repairs_used(self) -> int:
        return len(self.attempts) - 1


def different_approach(hint: str) -> str:
    """The instruction after a repeated failure: the hint's facts when there is one (told
    "other column or file names" with no hint, Qwen2.5-Coder-1.5B read 'another_file.csv')."""
    how = ("use the exact names the hint above gives (columns, files, functions, imports)" if hint
           else "rewrite the failing line another way, with another function or method that does the job")
    return (f"\nTake a different approach this time: {how}; keep the lines that worked, and send the "
            "whole corrected cell. If it cannot be done, say so in words.")


REPEATED_PREFIX = "\n\n(Note: the same error came back: your repair did not fix it."


def repeated_note(hint: str) -> str:
    return REPEATED_PREFIX + different_approach(hint) + ")"


SAME_ERROR = "The same error came back: the repair did not fix it."
IDENTICAL_REPAIR = ("Not run: your repair is identical to the code that failed, so the same error "
                    "would come back.")
#: refused identical repairs before giving up (each re-ask is sampled at a higher temperature)
MAX_IDENTICAL = 2


def _normalized(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


class GaveUp(Exception):
    def __init__(self, account: str) -> None:
        super().__init__(account)
        self.account = account


class Repairs:
    """Failed-cell tracking and the decision to stop repairing, for one turn."""

    def __init__(self, max_repairs: int) -> None:
        self.max_repairs = max_repairs
        self.failed: Optional[FailedCell] = None
        self.explore = False
        """The next request should be sampled at a higher temperature: the model was told its
        repair repeated the failed code or brought back the same error."""
        self.give_up_on_identical = False
        """Set by the loop while it can still ask the request afresh: the first repair identical
        to the failed code then gives up at once. Told so in the conversation, Qwen2.5-Coder-1.5B
        sent the same cell a second and a third time (DABench ids 10, 28, 118, 130: a minute of
        generation each, and four turns out of time); asked afresh it writes new code."""

    def start_fix(self, cell: dict[str, Any]) -> tuple[str, str]:
        """Fix mode: the user's failing cell is the one to repair. Returns (its source, the
        fix target text for the model)."""
        source = "".join(cell.get("source", ""))
        err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        tb = compact_traceback(err.get("traceback", [])) if err else "(no error output)"
        sig = error_signature(CellOutcome(status="error", ename=(err or {}).get("ename", ""),
                                          evalue=(err or {}).get("evalue", "")))
        self.failed = FailedCell(cell_id=cell.get("id", ""), step_id=uuid.uuid4().hex[:12],
                                 attempts=[Attempt(source, tb, sig)], user_cell=True,
                                 error_line=failing_line_number((err or {}).get("traceback", [])))
        return source, f"cell source:\n{source}\n\nerror:\n{tb}"

    def vet(self, code: str) -> tuple[str, Optional[str]]:
        """A repair before it runs: (the code to run, or None and what to tell the model
        instead). Keeps the cell's own text for lines the repair only restyled, splices a
        partial repair into the cell; refuses, once each, a repair
        identical to the failed code and a partial one that cannot be spliced."""
        failed = self.failed
        if failed is None:
            return code, None
        last = failed.attempts[-1].code
        code = keep_original_lines(last, code)
        if _normalized(code) == _normalized(last):
            failed.identical += 1
            if failed.identical > MAX_IDENTICAL or self.give_up_on_identical:
                raise GaveUp(self.account(failed, "the repair was identical to the code that failed"))
            failed.last_chance = True
            self.explore = True
            failed.told = IDENTICAL_REPAIR
            return code, IDENTICAL_REPAIR + self._hint_block(failed) + different_approach(failed.hint)
        done = complete_cell(last, code, failed.error_line)
        if done.status == "spliced" and (not failed.last_chance or len(code.strip().splitlines()) == 1):
            return done.code, None
        if done.status == "partial" and not failed.asked_whole and not failed.last_chance:
            failed.asked_whole = True
            return code, ask_whole_cell(done, len(last.strip().splitlines()))
        return code, None

    def take_explore(self) -> bool:
        """Whether the next request explores (see :attr:`explore`); resets it."""
        explore, self.explore = self.explore, False
        return explore

    @staticmethod
    def _hint_block(failed: FailedCell) -> str:
        return ("\n" + workspace_data("repair-hint", failed.hint)) if failed.hint else ""

    def check_before_repair(self) -> None:
        """Called before running code: a repair past the limit is not run."""
        failed = self.failed
        if failed is not None and failed.repairs_used >= self.max_repairs:
            raise GaveUp(self.account(failed, "the repair limit was reached"))

    def record(self, outcome: CellOutcome, code: str, summary: str, step_id: str, hint: str = "") -> str:
        """Take a cell's outcome: success ends the repair; a failure starts or continues it,
        and gives up on an identical error (after one more attempt) or at the limit.
        Returns a note for the model to read after the result ("" for none)."""
        if outcome.status == "ok":
            self.failed = None
            return ""
        failed = self.failed
        sig = error_signature(outcome) if outcome.status == "error" else outcome.status
        record = Attempt(code, summary, sig)
        line = failing_line_number(outcome.traceback) if outcome.status == "error" else None
        if failed is None:
            self.failed = FailedCell(cell_id=outcome.cell_id, step_id=step_id, attempts=[record],
                                     error_line=line, hint=hint)
            return ""
        failed.attempts.append(record)
        failed.error_line, failed.hint = line, hint
        if failed.cell_id != outcome.cell_id and outcome.cell_id:
            failed.cell_id = outcome.cell_id
        prev = failed.attempts[-2].signature
        repeated = sig == prev and outcome.status == "error"
        if repeated and failed.last_chance:
            raise GaveUp(self.account(failed, "the same error came back after a repair"))
        if failed.repairs_used >= self.max_repairs:
            raise GaveUp(self.account(failed, "the repair limit was reached"))
        if repeated:
            failed.last_chance = True
            self.explore = True
            failed.told = SAME_ERROR
            return repeated_note(hint)
        return ""

    def account(self, failed: FailedCell, why: str) -> str:
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
