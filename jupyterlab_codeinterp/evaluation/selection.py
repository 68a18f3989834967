"""Which tasks to run: ``--ids`` and ``--limit``.

``--ids`` is a comma list of tokens: a number (``12``), a range (``0-40``, both ends
included), a task name or a glob (``excel-*``), and the filters ``even`` / ``odd``.
Numbers, ranges, names and globs add up; ``even``/``odd`` then keep the numeric ids of that
parity (``0-40,even``: the even ids from 0 to 40; ``even`` alone: every even id).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Optional, Union

TaskId = Union[int, str]


class SelectionError(ValueError):
    """A ``--ids`` value that cannot be understood or is not allowed."""


@dataclass
class IdSelector:
    numbers: set[int] = field(default_factory=set)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    parity: Optional[str] = None
    """"even", "odd" or None."""

    @property
    def everything(self) -> bool:
        """No numbers, ranges or names: every id (subject to the parity filter)."""
        return not (self.numbers or self.ranges or self.patterns)

    def matches(self, task_id: TaskId) -> bool:
        numeric = _as_int(task_id)
        if self.parity is not None:
            if numeric is None:
                return False
            if (numeric % 2 == 0) != (self.parity == "even"):
                return False
        if self.everything:
            return True
        if numeric is not None and (numeric in self.numbers or any(a <= numeric <= b for a, b in self.ranges)):
            return True
        name = str(task_id)
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)

    def explicit_odd(self) -> list[str]:
        """The tokens that ask for odd ids by name (a single odd number, or ``odd``);
        ranges are not included (they are read as "the allowed ids in this range")."""
        asked = [str(n) for n in sorted(self.numbers) if n % 2]
        if self.parity == "odd":
            asked.append("odd")
        return asked


def _as_int(task_id: TaskId) -> Optional[int]:
    if isinstance(task_id, int):
        return task_id
    return int(task_id) if str(task_id).isdigit() else None


_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


def parse_ids(text: Optional[str]) -> IdSelector:
    """Parse ``--ids``; None or "" selects everything."""
    sel = IdSelector()
    if not text:
        return sel
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            continue
        low = token.lower()
        if low in ("even", "odd"):
            if sel.parity and sel.parity != low:
                raise SelectionError("--ids cannot ask for both even and odd ids")
            sel.parity = low
        elif token.isdigit():
            sel.numbers.add(int(token))
        elif _RANGE.match(token):
            a, b = (int(x) for x in _RANGE.match(token).groups())  # type: ignore[union-attr]
            if a > b:
                raise SelectionError(f"--ids range {token!r} runs backwards (write {b}-{a})")
            sel.ranges.append((a, b))
        elif re.fullmatch(r"[\w.*?\[\]-]+", token):
            sel.patterns.append(token)
        else:
            raise SelectionError(f"--ids: cannot read {token!r} (numbers, ranges like 0-40, names, "
                                 "globs like excel-*, even, odd)")
    return sel
