"""Results checked against the form the request gives them: a value outside the choices the
request lists, and a value that is not a number at all (``nan``).

A request in closed form names its results and may say which values one can take
(``@is_normal[response] where "response" is "yes" if … and "no" if …``). Qwen2.5-Coder-1.5B
printed the test's p-value (``@normality_test_result[0.00]``) where "Normal" or "Non-normal"
was asked, and ``@p_value_class_1[nan]`` where rows with missing values were not left out.
Such an answer was computed, so grounding passes it; this check has the request asked once
more as one whole program, told what did not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

_SLOT = re.compile(r"@([A-Za-z_]\w*)\[([^\[\]\n]*)\]")
_QUOTED = re.compile(r"\"([^\"\n]{1,60})\"|“([^”\n]{1,60})”|'([^'\n]{1,60})'")
#: words that make quoted strings after a placeholder its choices (not an example or a column)
_CHOICE_WORDS = re.compile(r"(?i)\b(either|one of|takes? the values?|can be|is a string|string that)\b")
_NOT_A_NUMBER = {"nan", "none", "null", "inf", "-inf", "<na>", "nat"}


@dataclass
class Unfit:
    name: str
    value: str
    choices: Optional[list[str]] = None
    """The values the request allows (None: the value is not a number, e.g. nan)."""

    def describe(self) -> str:
        if self.choices:
            allowed = ", ".join(f'"{c}"' for c in self.choices)
            return f"@{self.name} must be one of {allowed} (as the request says how to decide), not {self.value!r}"
        return (f"@{self.name} came out as {self.value!r}: the computation met missing values or an "
                "empty selection; leave those rows out (for example with dropna()) as the request says")


def _quoted(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), next(g for g in m.groups() if g is not None)) for m in _QUOTED.finditer(text)]


def form_choices(prompt: str) -> dict[str, list[str]]:
    """For each ``@name[placeholder]`` result, the values the request allows, where it lists
    them (two or more quoted strings after the quoted placeholder, said to be its values)."""
    slots = {name: placeholder.strip() for name, placeholder in _SLOT.findall(prompt)}
    names = set(slots.values()) | set(slots)
    quoted = _quoted(prompt)
    mentions = [(s, e, q) for s, e, q in quoted if q in names]
    by_placeholder: dict[str, list[str]] = {}
    for i, (_s, end, placeholder) in enumerate(mentions):
        stop = mentions[i + 1][0] if i + 1 < len(mentions) else len(prompt)
        segment = prompt[end:stop]
        values = [q for _s2, _e2, q in _quoted(segment) if q not in names]
        if len(values) >= 2 and _CHOICE_WORDS.search(segment):
            by_placeholder.setdefault(placeholder, list(dict.fromkeys(values)))
    return {name: by_placeholder[ph] for name, ph in slots.items() if ph in by_placeholder}


def _same(value: str, choice: str) -> bool:
    def norm(s: str) -> str:
        return s.strip().strip("\"'").strip().lower()
    return norm(value) == norm(choice)


def unfit_results(prompt: str, answer: str) -> list[Unfit]:
    """The answer's ``@name[value]`` results the request asks for whose value is outside the
    listed choices, or not a number where a value was computed (nan, None, inf)."""
    asked = {name for name, _ in _SLOT.findall(prompt)}
    if not asked:
        return []
    choices = form_choices(prompt)
    found: dict[str, Unfit] = {}
    for m in _SLOT.finditer(answer or ""):
        name, value = m.group(1), m.group(2).strip()
        if name not in asked:
            continue
        allowed = choices.get(name)
        if allowed and not any(_same(value, c) for c in allowed):
            found[name] = Unfit(name, value, allowed)
        elif not allowed and value.strip("\"' ").lower() in _NOT_A_NUMBER:
            found[name] = Unfit(name, value)
        else:
            found.pop(name, None)
    return list(found.values())


def unfit_note(unfit: list[Unfit]) -> str:
    """What was wrong with the results, for the program asked again (:mod:`.reasks`): asked
    in the conversation, Qwen2.5-Coder-1.5B sent its cell back unchanged."""
    problems = "\n".join(f"- {u.describe()}" for u in unfit)
    return (f"An earlier program for this request printed results that do not fit the form asked "
            f"for:\n{problems}\nWrite it afresh so that it prints every result in exactly that form.")
