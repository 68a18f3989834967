"""The repair policy: a failed cell's next code is its repair, within a limit.

One :class:`Repairs` per turn tracks the cell being repaired (a generated cell that failed,
or in fix mode the user's cell), its attempts, and decides when to give up: the repair
limit is reached, or a repair brings back the identical error. Giving up raises
:class:`GaveUp` carrying a plain account for the user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from ..context.notebook import compact_traceback
from ..protocol import CellOutcome
from .results import error_signature, strip_ansi


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

    @property
    def repairs_used(self) -> int:
        return len(self.attempts) - 1


class GaveUp(Exception):
    def __init__(self, account: str) -> None:
        super().__init__(account)
        self.account = account


class Repairs:
    """Failed-cell tracking and the decision to stop repairing, for one turn."""

    def __init__(self, max_repairs: int) -> None:
        self.max_repairs = max_repairs
        self.failed: Optional[FailedCell] = None

    def start_fix(self, cell: dict[str, Any]) -> tuple[str, str]:
        """Fix mode: the user's failing cell is the one to repair. Returns (its source, the
        fix target text for the model)."""
        source = "".join(cell.get("source", ""))
        err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        tb = compact_traceback(err.get("traceback", [])) if err else "(no error output)"
        sig = error_signature(CellOutcome(status="error", ename=(err or {}).get("ename", ""),
                                          evalue=(err or {}).get("evalue", "")))
        self.failed = FailedCell(cell_id=cell.get("id", ""), step_id=uuid.uuid4().hex[:12],
                                 attempts=[Attempt(source, tb, sig)], user_cell=True)
        return source, f"cell source:\n{source}\n\nerror:\n{tb}"

    def check_before_repair(self) -> None:
        """Called before running code: a repair past the limit is not run."""
        failed = self.failed
        if failed is not None and failed.repairs_used >= self.max_repairs:
            raise GaveUp(self.account(failed, "the repair limit was reached"))

    def record(self, outcome: CellOutcome, code: str, summary: str, step_id: str) -> None:
        """Take a cell's outcome: success ends the repair; a failure starts or continues it,
        and gives up on an identical error or at the limit."""
        if outcome.status == "ok":
            self.failed = None
            return
        failed = self.failed
        sig = error_signature(outcome) if outcome.status == "error" else outcome.status
        record = Attempt(code, summary, sig)
        if failed is None:
            self.failed = FailedCell(cell_id=outcome.cell_id, step_id=step_id, attempts=[record])
            return
        failed.attempts.append(record)
        if failed.cell_id != outcome.cell_id and outcome.cell_id:
            failed.cell_id = outcome.cell_id
        prev = failed.attempts[-2].signature
        if sig == prev and outcome.status == "error":
            raise GaveUp(self.account(failed, "the same error came back after a repair"))
        if failed.repairs_used >= self.max_repairs:
            raise GaveUp(self.account(failed, "the repair limit was reached"))

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
