"""Grounded answers: a value from the user's data is one a cell of this turn computed.

Small models often answer a question about the data straight away, with a plausible
number nobody computed. The loop does not pass such an answer on:

- the request asks for something computed from the user's data (judged from the prompt
  and whether the workspace holds data) and no cell ran: the answer is withdrawn and the
  request asked again as one whole program, at most :data:`MAX_NUDGES` times; then the user gets a plain statement
  that it was not computed, with the model's numbers withheld (``not_computed``);
- the answer states numbers that neither an output of this turn nor the context holds (nor
  the code of the turn's cells: a year or threshold the model chose is not an invented result):
  the model is asked once for a cell that prints them; if it still does not, the answer
  is passed on marked ``unverified`` when some of its numbers are backed, and withheld as
  ``not_computed`` when none is (every value made up, e.g. after cells that all failed);
- a cell printed a closed-form result (``@name[value]``): the answer states it as printed;
- a cell that only prints values written into its own code (``print("0.56")``) computed
  nothing: its output backs no number, and the model is told so when it runs;
- otherwise, when cells ran, the answer is ``computed``.

Chat about code or a greeting is left alone (grounding ``""``).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Iterable, Literal, Optional

Grounding = Literal["", "computed", "not_computed", "unverified"]

MAX_NUDGES = 2

# ------------------------------------------------------------------ the request

_DATA_EXT = r"csv|tsv|xlsx?|parquet|feather|json|jsonl|sqlite|db|h5|hdf5|pkl|pickle|sav|dta|txt|dat"
_DATA_FILE = re.compile(rf"[\w./-]+\.(?:{_DATA_EXT})\b", re.I)
_DATA_WORDS = re.compile(
    r"\b(data|dataset|datasets|dataframe|dataframes|df|table|tables|column|columns|rows?|records?|"
    r"entries|values|observations|samples|file|spreadsheet)\b", re.I)
_VALUE_WORDS = re.compile(
    r"\b(mean|means|average|averages|avg|median|mode|sum|sums|total|totals|count|counts|how many|how much|"
    r"number of|max|maximum|min|minimum|std|standard deviation|variance|correlation|correlations|correlated|"
    r"percent|percentage|proportion|ratio|rate|growth|quantile|percentile|skew|skewness|kurtosis|"
    r"outliers?|top \d+|largest|smallest|highest|lowest|most|least|range|distribution|frequency|"
    r"compute|calculate|p-value|regression|coefficient|r-squared|r2|trend|difference between)\b"
    r"|@\w+\[", re.I)
_ACTION_WORDS = re.compile(
    r"\b(load|read|open|show|display|plot|chart|graph|visuali[sz]e|analy[sz]e|clean|summari[sz]e|describe|"
    r"explore|filter|group|merge|join|sort|find|list|check|inspect|preview|head|tail|tabulate)\b", re.I)
_CONVERSATION = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|ok|okay|great|cool|bye|good (morning|afternoon|evening))\b"
    r"|\b(explain|what does (this|the|that) (code|cell|function|line)|how (do|can|should|would) (i|you|we)|"
    r"why (does|do|is|did)|what is the difference|write (a|me a) (function|class)|rewrite|refactor|"
    r"comment|docstring|translate)\b", re.I)
_CONTEXT_DATA = re.compile(rf"\.(?:{_DATA_EXT})\b|\bDataFrame\b|\bSeries\b|\bndarray\b", re.I)


def asks_for_data(prompt: str, context_text: str = "") -> bool:
    """Whether the request is for something computed from the user's data."""
    p = prompt.strip()
    if not p:
        return False
    names_data = bool(_DATA_FILE.search(p) or _DATA_WORDS.search(p))
    has_data = names_data or bool(_CONTEXT_DATA.search(context_text or ""))
    wants_value = bool(_VALUE_WORDS.search(p))
    if _CONVERSATION.search(p) and not wants_value:
        return False
    if wants_value and has_data:
        return True
    return bool(names_data and _ACTION_WORDS.search(p))


# ------------------------------------------------------------------ numbers

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_LIST_MARK = re.compile(r"^(\s*)(?:\d+[.)]|#+)\s", re.M)
CLOSED_FORM = re.compile(r"@([A-Za-z_]\w*)\[([^\[\]\n]*)\]")
# numbers as an answer writes them: 1,234.5  -0.25  3e-4  12%  1.2 million
_ANSWER_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"(?![\w.]\d)(?P<pct>\s?%|\s(?:percent|per cent)\b)?(?:\s?(?P<scale>thousand|million|billion|k|m|bn)\b)?", re.I)
# numbers as outputs print them, anywhere (the sign does not matter: values compare unsigned)
_SOURCE_NUMBER = re.compile(r"(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
_PLAIN_NUMBER = re.compile(r"\d*\.?\d+(?:[eE][-+]?\d+)?")
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9}


@dataclass(frozen=True)
class StatedNumber:
    text: str
    value: float
    decimals: int
    percent: bool
    scale: float


def _prose(text: str) -> str:
    """The answer's text without code blocks and list markers."""
    return _LIST_MARK.sub(r"\1", _FENCE.sub(" ", text))


def _parse(num: str) -> Optional[float]:
    try:
        return float(num.replace(",", "").replace("−", "-"))
    except ValueError:
        return None


def stated_numbers(answer: str) -> list[StatedNumber]:
    """The numbers an answer states (not in code blocks; single-digit integers are left out:
    counts of steps, list items and versions, not results)."""
    found: list[StatedNumber] = []
    for m in _ANSWER_NUMBER.finditer(_prose(answer)):
        num = m.group("num")
        value = _parse(num)
        if value is None or math.isinf(value) or math.isnan(value):
            continue
        mantissa = num.lower().split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        if decimals == 0 and "e" not in num.lower() and abs(value) < 10 and not m.group("pct"):
            continue
        scale = _SCALES.get((m.group("scale") or "").lower(), 1.0)
        found.append(StatedNumber(m.group(0).strip(), value, decimals, bool(m.group("pct")), scale))
    return found


def source_numbers(texts: Iterable[str]) -> list[float]:
    """Every number in the texts, read with and without thousands separators ("100,200" in
    a CSV line is 100 and 200, in a report 100200)."""
    values: set[float] = set()
    for text in texts:
        for pattern in (_SOURCE_NUMBER, _PLAIN_NUMBER):
            for m in pattern.finditer(text or ""):
                v = _parse(m.group(0))
                if v is not None and math.isfinite(v):
                    values.add(abs(v))
    return sorted(values)


def _backed(n: StatedNumber, sources: list[float]) -> bool:
    """``n`` is in the sources as written, or as a rounding, percentage or scaling of one."""
    target = abs(n.value)
    tol = 0.5 * 10 ** -n.decimals * (1 + 1e-9)
    # as written (scaled: "1.2 million"), or a percentage as the fraction printed
    candidates = [(target * n.scale, tol * n.scale)]
    if n.percent:
        candidates.append((target / 100, tol / 100))
    for want, slack in candidates:
        for s in sources:
            if abs(s - want) <= slack + 1e-12 * max(1.0, abs(want)):
                return True
    return False


def unbacked_numbers(answer: str, sources: Iterable[str]) -> list[str]:
    """The numbers ``answer`` states that no source text holds, in order, without repeats."""
    values = source_numbers(sources)
    out: list[str] = []
    for n in stated_numbers(answer):
        if not _backed(n, values) and n.text not in out:
            out.append(n.text)
    return out


# ------------------------------------------------------------------ cells that compute nothing

LITERAL_NOTE = ("\nnote: this cell only prints values written into its code; it computed nothing "
                "from the data, so its output is not a result. Compute the value from the data.")


def computes_nothing(code: str) -> bool:
    """Does ``code`` only print values written into it (``print("0.56")``, ``print(128.00)``,
    an f-string of constants)?  Seen with Qwen2.5-Coder-1.5B: asked for a value it had not
    computed, it ran such a cell.  Arithmetic, names and calls other than ``print`` compute
    something and do not count."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    if not tree.body or not all(isinstance(node, (ast.Expr, ast.Pass, ast.Import, ast.ImportFrom)) for node in tree.body):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id != "print":
            return False
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id == "print"):
            return False
        if not isinstance(node, _LITERAL_PRINT_NODES):
            return False
    return any(isinstance(node, ast.Call) for node in ast.walk(tree))


_LITERAL_PRINT_NODES = (ast.Module, ast.Expr, ast.Pass, ast.Import, ast.ImportFrom, ast.alias, ast.Call,
                        ast.Name, ast.Load, ast.Constant, ast.JoinedStr, ast.FormattedValue, ast.keyword,
                        ast.UnaryOp, ast.USub, ast.UAdd, ast.Tuple, ast.List)


# ------------------------------------------------------------------ closed-form results

def printed_results(outputs: Iterable[str]) -> dict[str, str]:
    """``@name[value]`` results cells printed, the last value of each name."""
    found: dict[str, str] = {}
    for text in outputs:
        for m in CLOSED_FORM.finditer(text or ""):
            found.pop(m.group(1), None)
            found[m.group(1)] = m.group(2)
    return found


def stated_results(text: str) -> set[str]:
    """The names of the ``@name[value]`` results a text states."""
    return {m.group(1) for m in CLOSED_FORM.finditer(text or "")}


#: a value that is one number and nothing else; group 1: its decimals (shared with formcheck)
DECIMAL_NUMBER = re.compile(r"\s*-?\d+(?:\.(\d+))?\s*")


def _rounded_from(stated: str, printed: str) -> bool:
    """Whether ``stated`` is ``printed`` rounded to fewer decimals (87.96 from 87.9616)."""
    a, b = DECIMAL_NUMBER.fullmatch(stated), DECIMAL_NUMBER.fullmatch(printed)
    if not a or not b:
        return False
    places = len(a.group(1) or "")
    return 1 <= places < len(b.group(1) or "") and abs(float(printed) - float(stated)) <= 0.5 * 10 ** -places + 1e-12


#: a number, then words (``0.14, rounded to two decimal places``); group 1: the number,
#: group 2: the words (shared with formcheck)
NUMBER_THEN_WORDS = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*[,;(]\s*([A-Za-z][^\[\]\n]*?)[).]?\s*")


def _leads(stated: str, printed: str) -> bool:
    """Whether ``stated`` is the number ``printed`` starts with, before words
    (``0.14`` of ``0.14, rounded to two decimal places``: see
    :func:`~.formcheck.without_echoed_form`)."""
    m = NUMBER_THEN_WORDS.fullmatch(printed)
    return bool(m) and m.group(1) == stated.strip()


def with_printed_results(answer: str, printed: dict[str, str]) -> str:
    """The answer stating every printed result as printed: a different value the answer gives
    for the same name is replaced (unless it is the printed number rounded: the request may
    ask for two decimals where the cell printed ten), a missing one appended."""
    if not printed:
        return answer

    def fix(m: re.Match) -> str:
        name = m.group(1)
        if name not in printed or _rounded_from(m.group(2), printed[name]) or _leads(m.group(2), printed[name]):
            return m.group(0)
        return f"@{name}[{printed[name]}]"

    answer = CLOSED_FORM.sub(fix, answer)
    stated = stated_results(answer)
    missing = [f"@{k}[{v}]" for k, v in printed.items() if k not in stated]
    if not missing:
        return answer
    return (answer.rstrip() + "\n\n" if answer.strip() else "") + "\n".join(missing)


# ------------------------------------------------------------------ what the user gets

def _redacted(text: str) -> str:
    """The model's prose with its numbers and closed-form results taken out."""
    parts = re.split(r"(```.*?(?:```|\Z))", text, flags=re.S)
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # code blocks stay: they are how to compute it
            out.append(part)
            continue
        part = CLOSED_FORM.sub("", part)
        part = re.sub(r"(?<![\w])[-−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?\s?%?", "…", part)
        out.append(part)
    return "".join(out).strip()


NO_CELL_RAN = "no code ran in this turn"
NO_OUTPUT_HOLDS = "no cell of this turn printed the numbers the model gave"


def not_computed_answer(model_answer: str, why: str = NO_CELL_RAN) -> str:
    """What the user is told when the model would not compute the answer: no numbers of its
    own, what it proposed (numbers withheld), and its code, if it wrote some."""
    lines = [f"I did not compute this: {why}, so I have no value from your data "
             "to give. Ask again, or run the analysis in a cell."]
    proposed = _redacted(model_answer)
    if proposed and re.search(r"[A-Za-z]", proposed):
        if len(proposed) > 1200:
            proposed = proposed[:1200].rstrip() + " …"
        how = "without running code" if why == NO_CELL_RAN else "with numbers no output holds"
        lines += ["", f"The model answered {how} (its numbers are withheld, "
                      "nothing computed them):", "", proposed]
    return "\n".join(lines)


def print_request(numbers: list[str], *, codeblocks: bool) -> str:
    how = "a ```python code block" if codeblocks else "run_code, or a ```python code block"
    shown = ", ".join(numbers[:8])
    return (f"These numbers in your answer are not in any output of this turn: {shown}. "
            f"Run one cell ({how}) that computes them from the data and prints them (typed-in "
            "values compute nothing), then give the answer using the printed values.")


# ------------------------------------------------------------------ the turn's rule

def earlier_results(history: Iterable[dict]) -> list[str]:
    """What cells of earlier turns printed, as the conversation holds it (an answer may
    restate an earlier turn's result)."""
    found = []
    for m in history:
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            continue
        if m.get("role") == "tool" or (m.get("role") == "user" and 'source="execution-result"' in content):
            found.append(content)
    return found


@dataclass
class Verdict:
    """What to do with a final answer: ask the model again (``ask``: a message after its
    answer; ``ask_program``: the request again, as one whole program), or end the turn with
    ``answer`` and ``grounding``."""

    answer: str = ""
    grounding: Grounding = ""
    ask: Optional[str] = None
    ask_program: bool = False
    """The answer is withdrawn (not kept in the conversation) and the request is asked again
    as one whole program (``prompts.program_request``). A small model shown its own guess
    keeps to it: Qwen2.5-Coder-1.5B answered the same invented correlation after the cell it
    was asked for failed; shown a placeholder instead, it answered with the placeholder; sent
    the same request again, it gave the same answer."""
    notice: str = ""
    """For the user, when the model is asked again."""

    @property
    def asks(self) -> bool:
        return self.ask is not None or self.ask_program


NOTICE_NUDGE = "No code ran for this answer: asking the model to compute it."
NOTICE_PRINT = "Numbers in this answer are not in any output: asking the model to print them."


class GroundingRule:
    """The grounding rule for one turn (see the module doc)."""

    def __init__(self, *, prompt: str, context_text: str, mode: str, codeblocks: bool,
                 history: Iterable[dict] = ()) -> None:
        self.wants_data = mode != "fix" and asks_for_data(prompt, context_text)
        self.sources = [prompt, context_text, *earlier_results(history)]
        self.codeblocks = codeblocks
        self.nudges = 0
        self.asked_print = False
        self.mode = mode

    def review(self, answer: str, *, outputs: list[str], cells_run: int, declined: int = 0,
               code: Iterable[str] = ()) -> Verdict:
        """Judge the model's final answer given what the turn's cells printed and their
        ``code`` (``declined``: cells the user chose not to run; the model is not pressed to
        run more)."""
        if cells_run == 0:
            if not self.wants_data:
                return Verdict(answer=answer, grounding="")
            if declined and not unbacked_numbers(answer, self.sources):
                return Verdict(answer=answer, grounding="")  # "I did not delete anything."
            if self.nudges < MAX_NUDGES and not declined:
                self.nudges += 1
                return Verdict(ask_program=True, notice=NOTICE_NUDGE)
            return Verdict(answer=not_computed_answer(answer), grounding="not_computed")
        return self.settle(answer, outputs=outputs, code=code, may_ask=self.mode != "fix")

    def settle(self, answer: str, *, outputs: list[str], code: Iterable[str] = (), may_ask: bool = False) -> Verdict:
        """The verdict on an answer after cells ran: printed results stated, numbers checked
        (asking once, if ``may_ask``, for a cell that prints the missing ones)."""
        answer = with_printed_results(answer, printed_results(outputs))
        missing = unbacked_numbers(answer, [*self.sources, *outputs, *code])
        if not missing:
            return Verdict(answer=answer, grounding="computed")
        if may_ask and not self.asked_print:
            self.asked_print = True
            return Verdict(ask=print_request(missing, codeblocks=self.codeblocks), notice=NOTICE_PRINT)
        if may_ask and self.wants_data and len(missing) == len({n.text for n in stated_numbers(answer)}):
            return Verdict(answer=not_computed_answer(answer, NO_OUTPUT_HOLDS), grounding="not_computed")
        return Verdict(answer=answer, grounding="unverified")
