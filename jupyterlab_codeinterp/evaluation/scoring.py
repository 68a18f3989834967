"""Scoring closed-form answers: ``@name[value]`` in the answer, compared with the expected values.

Two comparison rules:

* ``dabench``: InfiAgent-DABench's own rule (its ``eval_closed_form.py``): the answer's
  sub-answers are found with ``@(\\w+)\\[(.*?)\\]`` (the last one wins when a name repeats);
  a sub-answer is right when it equals the label as a string, or both parse as floats
  within 1e-6 (strictly less). A question is right when all its sub-answers are.
* ``tolerance`` (native suites): numbers within an absolute (or relative) tolerance, after
  dropping thousands separators, a currency sign and a trailing percent sign; other values
  equal after trimming and case-folding.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

ANSWER_PATTERN = re.compile(r"@(\w+)\[(.*?)\]")

Value = Union[str, int, float, bool]


@dataclass
class Expectation:
    """One named sub-answer a task expects."""

    name: str
    value: Value
    tolerance: float = 1e-6
    """Absolute tolerance for numbers (tolerance rule only)."""
    rel_tolerance: float = 0.0
    """Relative tolerance for numbers, on top of the absolute one (tolerance rule only)."""


@dataclass
class Score:
    correct: bool
    extracted: dict[str, str]
    """Every ``@name[value]`` found in the answer (last one per name)."""
    per_name: dict[str, bool] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        """The answer gave at least one of the expected names."""
        return any(name in self.extracted for name in self.per_name)


def extract_answers(text: str) -> dict[str, str]:
    """``{name: value}`` for every ``@name[value]`` in ``text``; a repeated name keeps its last value."""
    return dict(ANSWER_PATTERN.findall(text or ""))


def dabench_equal(response: Optional[str], label: str) -> bool:
    """The benchmark's equality: the same string, or floats closer than 1e-6."""
    if response == label:
        return True
    try:
        return abs(float(response) - float(label)) < 1e-6  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


_CURRENCY = "$€£¥"


def parse_number(text: str) -> Optional[float]:
    """A number written the way people write one: ``1,234.5``, ``$12``, ``15%``, ``-3e2``."""
    s = text.strip().replace("\u2212", "-")
    if s.endswith("%"):
        s = s[:-1].strip()
    sign = ""
    if s[:1] in "+-":
        sign, s = s[:1], s[1:].strip()
    s = s.lstrip(_CURRENCY).strip()
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d*)?", s):
        s = s.replace(",", "")
    try:
        value = float(sign + s)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def tolerant_equal(response: Optional[str], expected: Expectation) -> bool:
    """The native rule: numbers within tolerance, other values equal ignoring case and spaces."""
    if response is None:
        return False
    want = expected.value
    if isinstance(want, bool):
        return response.strip().casefold() in (("true", "yes", "1") if want else ("false", "no", "0"))
    if isinstance(want, (int, float)):
        got = parse_number(response)
        if got is None:
            return False
        allowed = expected.tolerance + expected.rel_tolerance * abs(float(want))
        return abs(got - float(want)) <= allowed + 1e-12
    return " ".join(response.split()).casefold() == " ".join(str(want).split()).casefold()


def score_answer(text: str, expected: list[Expectation], rule: str = "tolerance") -> Score:
    """Score ``text`` against every expectation; correct only when all are right.

    A task with no expectations (judged by its check script alone) scores correct here.
    """
    extracted = extract_answers(text)
    per_name: dict[str, bool] = {}
    for exp in expected:
        got = extracted.get(exp.name)
        if rule == "dabench":
            per_name[exp.name] = dabench_equal(got, str(exp.value))
        else:
            per_name[exp.name] = tolerant_equal(got, exp)
    return Score(correct=all(per_name.values()), extracted=extracted, per_name=per_name)


def states_a_number(text: str) -> bool:
    """Whether an answer states a number (an ungrounded answer does, with no cell run)."""
    return bool(re.search(r"\d", text or ""))


def as_plain(value: Any) -> Any:
    """An expectation's value as JSON can carry it."""
    return value if isinstance(value, (str, int, float, bool)) else str(value)
