"""Fixes that keep the cell: a repair replaces the whole failed cell, so it must be whole.

Small models asked to fix line 3 of a 4-line cell often send only the corrected line 3;
replacing the cell with it would drop the import, the load and the rest. Given the failed
cell and the proposal, :func:`complete_cell` says whether the proposal is the whole cell
and, when it is not, splices the changed line(s) into the original where the mapping is
unambiguous (a changed line matches one original line by similarity or assignment target;
an added import goes after the cell's imports). When the mapping is ambiguous the caller
asks the model once for the whole cell (:func:`ask_whole_cell`).

Small models also restyle the lines they copy: Qwen2.5-Coder-1.5B, asked to fix one column
of a four-line cell, sent all four back with single quotes for double ones, which the user
would review as four changed lines. :func:`keep_original_lines` puts the cell's own text back
for every line that means the same (same tokens, same string values, same indentation).
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Literal, Optional

Status = Literal["whole", "spliced", "partial"]

#: a changed line must be at least this similar to the original line it replaces
MIN_SIMILARITY = 0.5
#: and this much closer than the runner-up, else the mapping is ambiguous
MIN_MARGIN = 0.1

_TARGET = re.compile(r"^\s*([A-Za-z_][\w\.]*(?:\[[^\]]*\])?)\s*(?:[+\-*/%&|^]|//|\*\*)?=(?!=)")
_IMPORT = re.compile(r"^\s*(?:import\s+\w|from\s+[\w\.]+\s+import\s)")


@dataclass
class Completion:
    """The code to run or propose, and what was done to get it."""

    code: str
    status: Status
    missing: list[str] = field(default_factory=list)
    """Original lines the proposal lacked (for the request to send the whole cell)."""


def _key(line: str) -> str:
    return line.strip()


def _significant(line: str) -> bool:
    k = _key(line)
    return bool(k) and not k.startswith("#")


def _target(line: str) -> Optional[str]:
    m = _TARGET.match(line)
    return m.group(1) if m else None


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, _key(a), _key(b)).ratio()


def _tokens(code: str) -> Optional[list[tokenize.TokenInfo]]:
    """The tokens of one line of code (no indentation), None when it does not tokenize alone
    (part of a bracket or a string spanning lines)."""
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return [t for t in toks if t.type not in _LAYOUT]


_LAYOUT = (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT)
_QUOTES = ("'", '"')


def _token_key(tok: tokenize.TokenInfo) -> tuple[int, str]:
    if tok.type == tokenize.STRING:
        try:
            return (tok.type, repr(ast.literal_eval(tok.string)))
        except (ValueError, SyntaxError):
            pass  # an f-string: compared as written
    return (tok.type, tok.string)


def _meaning(line: str) -> tuple:
    """What a line says, apart from quote style and spacing: its indentation and its tokens,
    string literals by value. A line that does not tokenize alone is itself."""
    stripped = line.strip()
    indent = line[: len(line) - len(line.lstrip())]
    toks = _tokens(stripped)
    if toks is None:
        return (indent, "raw", stripped)
    return (indent, "tokens", tuple(_token_key(t) for t in toks))


def _requote(new: tokenize.TokenInfo, like: tokenize.TokenInfo) -> str:
    """A changed plain string literal in the quotes of the one it replaces."""
    q = like.string[:1]
    if q not in _QUOTES or new.string[:1] not in _QUOTES or like.string[:3] == q * 3:
        return new.string
    try:
        value = ast.literal_eval(new.string)
    except (ValueError, SyntaxError):
        return new.string
    if not isinstance(value, str) or not value.isprintable() or any(c in value for c in "'\"\\"):
        return new.string
    return q + value + q


def _restyle_line(orig_line: str, prop_line: str) -> str:
    """``prop_line`` written in ``orig_line``'s style: the original text with only the tokens
    that changed replaced (a changed string in the original's quotes). The proposal as sent
    when the two do not line up token for token."""
    o_text, p_text = orig_line.strip(), prop_line.strip()
    orig, prop = _tokens(o_text), _tokens(p_text)
    if not orig or not prop:
        return prop_line
    matcher = difflib.SequenceMatcher(None, [_token_key(t) for t in orig],
                                      [_token_key(t) for t in prop], autojunk=False)
    out, at = [], 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag != "replace":
            return prop_line  # where an added or dropped token goes is a matter of spacing
        start, end = orig[i1].start[1], orig[i2 - 1].end[1]
        if i2 - i1 == 1 and j2 - j1 == 1 and orig[i1].type == prop[j1].type == tokenize.STRING:
            piece = _requote(prop[j1], orig[i1])
        else:
            piece = p_text[prop[j1].start[1]:prop[j2 - 1].end[1]]
        out.append(o_text[at:start] + piece)
        at = end
    out.append(o_text[at:])
    restyled = "".join(out)
    if _meaning(restyled)[1:] != _meaning(p_text)[1:]:
        return prop_line
    return prop_line[: len(prop_line) - len(prop_line.lstrip())] + restyled


def keep_original_lines(original: str, proposal: str) -> str:
    """``proposal`` in the cell's own style: the original text of every line it only
    restyled (quotes, spaces), and each changed line that replaces one original line written
    as that line with only the changed tokens replaced, so the user reviews the change the
    fix makes and nothing else."""
    orig = original.rstrip("\n").splitlines()
    prop = proposal.strip("\n").splitlines()
    if not orig or not prop:
        return proposal
    out = list(prop)
    matcher = difflib.SequenceMatcher(None, [_meaning(x) for x in orig],
                                      [_meaning(x) for x in prop], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out[j1:j2] = orig[i1:i2]
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                out[j1 + k] = _restyle_line(orig[i1 + k], prop[j1 + k])
    return proposal if out == prop else "\n".join(out)


def complete_cell(original: str, proposal: str, error_line: Optional[int] = None) -> Completion:
    """``proposal`` as a whole cell: as is, spliced into ``original``, or ``partial``.

    ``error_line`` (1-based, from the traceback) is the line the error involved: the
    proposal may drop or rewrite it freely, and it wins ties between similar lines.
    A proposal at least as long as the original is taken as whole (a rewrite is allowed).
    """
    orig = original.rstrip("\n").splitlines()
    prop = proposal.strip("\n").splitlines()
    if not _key(original) or not _key(proposal):
        return Completion(proposal, "whole")
    orig_keys = {_key(line) for line in orig}
    prop_keys = {_key(line) for line in prop}
    err_idx = error_line - 1 if error_line else None
    missing = [i for i, line in enumerate(orig) if _significant(line) and _key(line) not in prop_keys]
    new = [j for j, line in enumerate(prop) if _significant(line) and _key(line) not in orig_keys]
    n_orig = sum(1 for line in orig if _significant(line))
    n_prop = sum(1 for line in prop if _significant(line))
    if not missing:
        return Completion(proposal, "whole")
    if n_prop >= n_orig:
        # a whole cell, unless it wrote another import over one its code still needs
        # (Qwen2.5-Coder-1.5B, fixing `np` not defined, wrote `import numpy as np` over
        # `import pandas as pd`): that one is put back
        dropped = [orig[i].strip() for i in _dropped_imports(orig, prop, missing, err_idx)]
        if dropped:
            return Completion(_with_imports(prop, dropped), "spliced", missing=dropped)
        return Completion(proposal, "whole")
    # an edit of several lines is whole if every dropped line other than the failing one
    # has a similar line in the proposal that stands for it
    unexplained = [i for i in missing if i != err_idx
                   and not any(_similarity(orig[i], prop[j]) >= MIN_SIMILARITY for j in new)]
    if not unexplained:
        return Completion(proposal, "whole")
    imports = _dropped_imports(orig, prop, unexplained, err_idx)
    if len(imports) == len(unexplained):
        # the whole cell but an import its code still uses (Qwen2.5-Coder-1.5B left out
        # `import pandas as pd`, imported in the kernel by then): the import is put back
        lines = [orig[i].strip() for i in imports]
        return Completion(_with_imports(prop, lines), "spliced", missing=lines)
    lost = [orig[i].strip() for i in unexplained]
    spliced = _splice(orig, prop, missing, new, err_idx)
    if spliced is None:
        return Completion(proposal, "partial", missing=lost)
    return Completion(spliced, "spliced", missing=lost)


def _score(orig_line: str, prop_line: str, is_error_line: bool) -> float:
    s = _similarity(orig_line, prop_line)
    t = _target(orig_line)
    if t is not None and t == _target(prop_line):
        s += 0.3
    if is_error_line:
        s += 0.15
    return s


def _splice(orig: list[str], prop: list[str], missing: list[int], new: list[int],
            err_idx: Optional[int]) -> Optional[str]:
    """Each new line replaces one missing original line, or is an added import, or
    continues the line before it; None when any of that is ambiguous."""
    replaced: dict[int, list[str]] = {}  # original index -> its replacement lines
    imports: list[str] = []
    free = list(missing)
    last_mapped: Optional[int] = None
    prev_j: Optional[int] = None
    for j in new:
        line = prop[j]
        cands = free
        if _IMPORT.match(line):  # an import replaces only an import of the same package
            cands = [i for i in free if _IMPORT.match(orig[i]) and _module(orig[i]) == _module(line)]
        scored = sorted(((_score(orig[i], line, i == err_idx), i) for i in cands), reverse=True)
        best = scored[0] if scored else None
        runner = scored[1][0] if len(scored) > 1 else None
        if best is not None and best[0] >= MIN_SIMILARITY and (runner is None or best[0] - runner >= MIN_MARGIN):
            i = best[1]
            if last_mapped is not None and i < last_mapped:
                return None  # the changes would land out of order
            replaced[i] = [_reindent(line, orig[i])]
            free.remove(i)
            last_mapped = i
        elif _IMPORT.match(line):
            imports.append(line.strip())
        elif last_mapped is not None and prev_j is not None and prev_j == j - 1:
            replaced[last_mapped].append(_reindent(line, orig[last_mapped]))  # a line split in two
        else:
            return None
        prev_j = j
    if not replaced and not imports:
        return None
    if err_idx in missing and err_idx not in replaced and len(imports) < len(new):
        # the model changed lines but not the failing one, which it left out: its intent
        # for that line is unknown (a rewrite, not an edit)
        return None
    out: list[str] = []
    for i, line in enumerate(orig):
        out.extend(replaced.get(i, [line]))
    if imports:
        at = 0  # after the cell's leading imports
        for i, line in enumerate(out):
            if _IMPORT.match(line):
                at = i + 1
            elif _significant(line):
                break
        out[at:at] = imports
    return "\n".join(out)


def _bound_names(import_line: str) -> set[str]:
    """The names an import line binds (``import a.b`` binds ``a``)."""
    try:
        tree = ast.parse(import_line.strip())
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
    return names


def _dropped_imports(orig: list[str], prop: list[str], missing: list[int],
                     err_idx: Optional[int]) -> list[int]:
    """Original import lines the proposal lacks although its code still uses what they bind."""
    bound = set().union(*(_bound_names(line) for line in prop if _IMPORT.match(line)))
    body = "\n".join(line for line in prop if not _IMPORT.match(line))
    out = []
    for i in missing:
        if i == err_idx or not _IMPORT.match(orig[i]):
            continue
        names = _bound_names(orig[i]) - bound
        if names and any(re.search(rf"(?<![\w.]){re.escape(n)}\b", body) for n in names):
            out.append(i)
    return out


def _with_imports(lines: list[str], imports: list[str]) -> str:
    """``lines`` with ``imports`` put first, before the cell's own imports."""
    at = next((k for k, line in enumerate(lines) if line.strip()), 0)
    return "\n".join(lines[:at] + imports + lines[at:])


def _module(import_line: str) -> str:
    words = import_line.split()
    return words[1].split(".")[0] if len(words) > 1 else ""


def _reindent(line: str, like: str) -> str:
    """The proposal line at the indentation of the original line it replaces, when the model
    sent it flush left."""
    if line[:1] in (" ", "\t"):
        return line.rstrip()
    indent = like[: len(like) - len(like.lstrip())]
    return indent + line.strip()


def ask_whole_cell(completion: Completion, n_lines: int) -> str:
    """What the model is told when its repair lacked lines of the cell it replaces."""
    shown = ", ".join(f"`{line[:80]}`" for line in completion.missing[:4])
    return (
        f"Not run: your code replaces the whole failed cell ({n_lines} lines), but it lacks "
        f"lines of that cell that the error did not involve ({shown}). Send the whole corrected "
        "cell, every line of it, with the smallest change that fixes the error."
    )
