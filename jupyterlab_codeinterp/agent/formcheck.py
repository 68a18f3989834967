"""The answer's form, for requests that name their results (``@name[value]``): the answer
taken from what the cells printed, the results an answer leaves out, and results checked
against the form the request gives them: a value outside the choices the request lists, a
value that is not a number at all (``nan``), and one with more decimals than the request
rounds to.

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
from typing import Iterable, Iterator, Optional

from .grounding import CLOSED_FORM, DECIMAL_NUMBER, NUMBER_THEN_WORDS, printed_results
from .prompts import form_names, unstated_names
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
    decimals: Optional[int] = None
    """The decimal places the request rounds the value to, when it has more."""

    def describe(self) -> str:
        if self.decimals is not None:
            return f"@{self.name} must be rounded to {self.decimals} decimal places, not {self.value}"
        if self.choices:
            allowed = ", ".join(f'"{c}"' for c in self.choices)
            return f"@{self.name} must be one of {allowed} (as the request says how to decide), not {self.value!r}"
        return (f"@{self.name} came out as {self.value!r}: the computation met missing values or an "
                "empty selection; leave those rows out (for example with dropna()) as the request says")


def _quoted(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), next(g for g in m.groups() if g is not None)) for m in _QUOTED.finditer(text)]


def _slots(prompt: str) -> dict[str, str]:
    """The request's ``@name[placeholder]`` results: name → placeholder."""
    return {name: placeholder.strip() for name, placeholder in CLOSED_FORM.findall(prompt)}


def _segments(prompt: str, slots: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(placeholder or name, what the request says of it): the text from each quoted mention
    of a placeholder to the next one."""
    names = set(slots.values()) | set(slots)
    mentions = [m for m in _quoted(prompt) if m[2] in names]
    stops = [start for start, _end, _q in mentions[1:]] + [len(prompt)]
    for (_start, end, placeholder), stop in zip(mentions, stops):
        yield placeholder, prompt[end:stop]


def form_choices(prompt: str) -> dict[str, list[str]]:
    """For each ``@name[placeholder]`` result, the values the request allows, where it lists
    them (two or more quoted strings after the quoted placeholder, said to be its values)."""
    slots = _slots(prompt)
    names = set(slots.values()) | set(slots)
    by_placeholder: dict[str, list[str]] = {}
    for placeholder, segment in _segments(prompt, slots):
        values = [q for _s, _e, q in _quoted(segment) if q not in names]
        if len(values) >= 2 and _CHOICE_WORDS.search(segment):
            by_placeholder.setdefault(placeholder, list(dict.fromkeys(values)))
    return {name: by_placeholder[ph] for name, ph in slots.items() if ph in by_placeholder}


_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_ROUNDED = re.compile(r"(?i)\bround\w*\s+(?:off\s+)?to\s+(?:the\s+)?(\d|one|two|three|four|five|six)\s+decimal")


def _places(m: re.Match) -> int:
    word = m.group(1).lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def form_decimals(prompt: str) -> dict[str, int]:
    """For each ``@name[placeholder]`` result, the decimal places the request rounds it to:
    one count said once for all, or per quoted placeholder when the request gives several."""
    counts = [_places(m) for m in _ROUNDED.finditer(prompt)]
    slots = _slots(prompt)
    if len(set(counts)) == 1:
        return {name: counts[0] for name in slots}
    by_placeholder: dict[str, int] = {}
    for placeholder, segment in _segments(prompt, slots):
        m = _ROUNDED.search(segment)
        if m:
            by_placeholder.setdefault(placeholder, _places(m))
    return {name: by_placeholder[ph] for name, ph in slots.items() if ph in by_placeholder}


def _same(value: str, choice: str) -> bool:
    def norm(s: str) -> str:
        return s.strip().strip("\"'").strip().lower()
    return norm(value) == norm(choice)


def unfit_results(prompt: str, answer: str) -> list[Unfit]:
    """The answer's ``@name[value]`` results the request asks for whose value is outside the
    listed choices, or not a number where a value was computed (nan, None, inf)."""
    asked = _slots(prompt)
    if not asked:
        return []
    choices, decimals = form_choices(prompt), form_decimals(prompt)
    found: dict[str, Unfit] = {}
    for m in CLOSED_FORM.finditer(answer or ""):
        name, value = m.group(1), m.group(2).strip()
        if name not in asked:
            continue
        allowed, places = choices.get(name), decimals.get(name)
        digits = DECIMAL_NUMBER.fullmatch(value)
        if allowed and not any(_same(value, c) for c in allowed):
            found[name] = Unfit(name, value, allowed)
        elif not allowed and value.strip("\"' ").lower() in _NOT_A_NUMBER:
            found[name] = Unfit(name, value)
        elif places is not None and digits and len(digits.group(1) or "") > places:
            found[name] = Unfit(name, value, decimals=places)
        else:
            found.pop(name, None)
    return list(found.values())


def _flat(text: str) -> str:
    return " ".join(text.lower().split())


def without_echoed_form(prompt: str, text: str) -> str:
    """``text`` with each asked-for ``@name[number, words]`` result cut to its number when the
    words are the request's own (its description of the value).

    Qwen2.5-Coder-1.5B printed ``@skewness_value[0.14, rounded to two decimal places]`` for
    ``@skewness_value[float between -0.5 and 0.5, rounded to two decimal places]``: the
    number was computed, the rest was copied from the form."""
    asked, request = _slots(prompt), _flat(prompt)

    def cut(m: re.Match) -> str:
        echoed = NUMBER_THEN_WORDS.fullmatch(m.group(2))
        if m.group(1) in asked and echoed and _flat(echoed.group(2)) in request:
            return f"@{m.group(1)}[{echoed.group(1)}]"
        return m.group(0)

    return CLOSED_FORM.sub(cut, text or "")


def answer_from_printed(prompt: str, outputs: Iterable[str]) -> Optional[str]:
    """The answer, when the cells printed every result the request names (``@name[value]``,
    each value whole and fitting the form): those lines, in the request's order; else None.

    The model's own final answer could only restate them
    (:meth:`~.grounding.GroundingRule.settle` puts the printed values in), and on a CPU model
    that call took 30 to 90 seconds; Qwen2.5-Coder-1.5B often spent it writing the program
    out again."""
    names = form_names(prompt)
    printed = printed_results(outputs)
    if not names or any(n not in printed or "{" in printed[n] or "}" in printed[n] for n in names):
        return None
    answer = without_echoed_form(prompt, "\n".join(f"@{n}[{printed[n]}]" for n in names))
    return None if unfit_results(prompt, answer) else answer


def form_problems(prompt: str, answer: str) -> tuple[list[str], list[Unfit]]:
    """What keeps an answer from the request's form: the named results it leaves out, or
    (when none is missing) the stated ones that do not fit."""
    missing = unstated_names(prompt, answer)
    return missing, [] if missing else unfit_results(prompt, answer)


def unfit_note(unfit: list[Unfit]) -> str:
    """What was wrong with the results, for the program asked again (:mod:`.reasks`): asked
    in the conversation, Qwen2.5-Coder-1.5B sent its cell back unchanged."""
    problems = "\n".join(f"- {u.describe()}" for u in unfit)
    return (f"An earlier program for this request printed results that do not fit the form asked "
            f"for:\n{problems}\nWrite it afresh so that it prints every result in exactly that form.")
