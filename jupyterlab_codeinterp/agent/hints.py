"""Repairs that teach: a short hint appended to a failed cell's error for the model.

A small model given ``KeyError: 'GDP'`` guesses again; told "df has columns 'GDP (USD)',
'Country', …" it fixes the cell. For the common errors we look up the facts that answer
them and add them, bounded to :data:`MAX_HINT_BYTES`:

* ``KeyError`` on a DataFrame: its real columns, closest to the missing key first;
* ``FileNotFoundError``: the files near the notebook, closest name first;
* ``NameError`` / ``AttributeError``: close variable names / attributes of the object;
* ``ModuleNotFoundError``: which installed packages do the job instead, checked with
  ``importlib.util.find_spec`` in the kernel, and the rule not to install without the user;
* a ``TypeError``/``ValueError`` of numbers meeting text (``Cannot perform reduction 'mean'
  with string dtype``): the DataFrame's text columns, with a few of their values;
* ``cannot unpack non-iterable``: the call returns one value (``Series.corr``: where a
  p-value comes from);
* an unexpected keyword argument: the function's parameters in the installed version, and
  the functions of its module named like it (``squared=False`` → ``root_mean_squared_error``).

Facts from the kernel are read the way the variable probe reads them: one silent
``execute_request`` whose ``user_expressions`` entry runs ``_hints_kernel_side.py`` in a
throw-away dict (see :func:`kernel_facts_expression`), so nothing lands in the user's
namespace, history or execution count.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..context.kernel_probe import eval_expression
from .results import strip_ansi

MAX_HINT_BYTES = 1024

#: what to use instead of a package that is not installed (checked in the kernel)
ALTERNATIVES: dict[str, list[str]] = {
    "scipy": ["statsmodels", "numpy", "sklearn", "pandas"],
    "sklearn": ["statsmodels", "scipy", "numpy"],
    "statsmodels": ["scipy", "sklearn", "numpy"],
    "seaborn": ["matplotlib", "plotly", "pandas"],
    "plotly": ["matplotlib", "seaborn", "altair"],
    "altair": ["matplotlib", "plotly", "seaborn"],
    "polars": ["pandas", "pyarrow"],
    "pyarrow": ["fastparquet", "pandas"],
    "fastparquet": ["pyarrow", "pandas"],
    "openpyxl": ["xlrd", "odf", "pandas"],
    "xgboost": ["lightgbm", "sklearn"],
    "lightgbm": ["xgboost", "sklearn"],
    "torch": ["sklearn", "numpy"],
    "tensorflow": ["torch", "sklearn", "numpy"],
    "cv2": ["PIL", "skimage", "imageio"],
    "PIL": ["imageio", "matplotlib"],
    "requests": ["urllib"],
    "tabulate": ["pandas"],
    "tqdm": [],
}
_DEFAULT_ALTERNATIVES = ["numpy", "pandas", "matplotlib"]
#: import names that are not the pip names people know them by
_PIP_NAMES = {"sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "Pillow", "skimage": "scikit-image",
              "odf": "odfpy"}
#: usual aliases: a NameError on one of them is a missing import
COMMON_IMPORTS = {
    "pd": "import pandas as pd", "np": "import numpy as np", "plt": "import matplotlib.pyplot as plt",
    "sns": "import seaborn as sns", "px": "import plotly.express as px", "os": "import os",
    "re": "import re", "json": "import json", "math": "import math", "datetime": "import datetime",
    "stats": "from scipy import stats", "sm": "import statsmodels.api as sm", "Path": "from pathlib import Path",
}

# Runs in the kernel, exec'd in a fresh dict (its functions never reach the user namespace).
_KERNEL_SIDE = Path(__file__).with_name("_hints_kernel_side.py").read_text(encoding="utf-8")


def kernel_facts_expression(args: dict[str, Any]) -> str:
    """The ``user_expressions`` entry that runs :data:`_KERNEL_SIDE` with ``args`` and returns
    its JSON. Everything lives in a dict that is cleared before the expression returns."""
    return (
        "(lambda __ci_g: (__import__('builtins').exec(__ci_g.pop('__ci_src__'), __ci_g), "
        "__ci_g.pop('__ci_out__', '{}'), __ci_g.clear())[1])"
        "({'__ci_src__': %r, '__ci_ns__': get_ipython().user_ns, '__ci_args__': %r})"
        % (_KERNEL_SIDE, args)
    )


async def kernel_facts(client: Any, args: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Facts from the kernel through one silent user_expressions request ({} if unavailable)."""
    if client is None:
        return {}
    try:
        text = await eval_expression(client, kernel_facts_expression(args), timeout=timeout)
        data = json.loads(text)
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


# ----------------------------------------------------------------------------- parsing errors

_QUOTED = re.compile(r"'([^'\\]*(?:\\.[^'\\]*)*)'|\"([^\"\\]*(?:\\.[^\"\\]*)*)\"")
_IDENT_BEFORE = re.compile(r"\b([A-Za-z_]\w*)\s*(?:\[|\.)")
_ARROW = re.compile(r"^-+>\s*(\d+)\s?(.*)$")


@dataclass
class FailedRun:
    """What the hint needs about a failure."""

    ename: str
    evalue: str
    code: str = ""
    traceback: Any = None  # list of lines (ANSI allowed) or text


def quoted(evalue: str) -> list[str]:
    """The quoted strings in an error message, e.g. the missing keys of a KeyError."""
    text = strip_ansi(evalue).strip()
    if len(text) > 2 and text[0] == text[-1] and text[0] in "'\"" and ("'" in text[1:-1] or '"' in text[1:-1]):
        try:  # a KeyError's message is the repr of its argument: look inside
            inner = ast.literal_eval(text)
            if isinstance(inner, str):
                text = inner
        except (ValueError, SyntaxError):
            pass
    out = []
    for a, b in _QUOTED.findall(text):
        s = a or b
        if s and s not in ("object", "columns", "index") and s not in out:
            out.append(s)
    return out


_CHAINED = re.compile(r"^(The above exception was the direct cause|During handling of the above exception)")


def _first_arrow(traceback: Any) -> Optional[re.Match]:
    """The arrow of the cell's own frame where the error that was shown happened.

    IPython prints chained exceptions oldest first (pandas' KeyError from its index engine,
    then the one raised in the cell), and library frames ("File ...") next to the cell's
    ("Cell In[3], line 4"): the last section's first cell frame is the user's line."""
    lines = traceback if isinstance(traceback, list) else str(traceback or "").splitlines()
    text = strip_ansi("\n".join(str(x) for x in lines))
    sections: list[list[tuple[bool, re.Match]]] = [[]]
    in_cell = False
    for raw in text.splitlines():
        line = raw.strip()
        if _CHAINED.match(line):
            sections.append([])
            continue
        if line.startswith(("Cell In", "Input In")) or "<ipython-input-" in line:
            in_cell = True
        elif line.startswith("File "):
            in_cell = False
        m = _ARROW.match(line)
        if m:
            sections[-1].append((in_cell, m))
    for section in reversed(sections):
        cell_arrows = [m for is_cell, m in section if is_cell]
        if cell_arrows:
            return cell_arrows[0]
    every = [m for section in sections for _, m in section]
    return every[0] if every else None


def failing_line(traceback: Any) -> Optional[str]:
    """The cell's source line at the first ``---->`` arrow (the cell's own frame comes first)."""
    m = _first_arrow(traceback)
    return m.group(2) if m else None


def failing_line_number(traceback: Any) -> Optional[int]:
    """1-based number of that line in the cell."""
    m = _first_arrow(traceback)
    return int(m.group(1)) if m else None


def referenced_names(code: str, line: Optional[str] = None) -> list[str]:
    """Names used as ``name[...]`` or ``name.attr``: those on the failing line first."""
    names: list[str] = []
    for text in ([line] if line else []) + [code]:
        for n in _IDENT_BEFORE.findall(text or ""):
            if n not in names:
                names.append(n)
    return names[:30]


def closest(target: str, candidates: list[str], limit: int = 40) -> list[str]:
    """Candidates ordered closest to ``target`` first (case-insensitive), the rest after."""
    t = target.lower()

    def score(c: str) -> float:
        cl = c.lower()
        s = difflib.SequenceMatcher(None, t, cl).ratio()
        if t and (t in cl or cl in t):
            s += 0.5
        return s

    ranked = sorted(dict.fromkeys(candidates), key=lambda c: -score(c))
    return ranked[:limit]


def _clip(text: str, limit: int = MAX_HINT_BYTES) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    cut = data[: limit - 4].decode("utf-8", errors="ignore")
    return cut.rsplit(",", 1)[0] + ", …"


def _list(items: list[str], limit: int = 40) -> str:
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


# ----------------------------------------------------------------------------- the hints


def columns_hint(missing: list[str], frames: list[dict[str, Any]]) -> str:
    key = missing[0] if missing else ""
    parts = []
    for f in frames[:2]:
        if "columns" in f:
            cols = closest(key, f["columns"])
            more = f" of {f['ncols']}" if f.get("ncols", 0) > len(f["columns"]) else ""
            parts.append(f"{f['name']} has columns{more} (closest to {key!r} first): {_list(cols)}")
        elif "index" in f:
            parts.append(f"{f['name']} (a Series) has index labels: {_list(closest(key, f['index']), 20)}")
    if not parts:
        return ""
    return "Hint: " + "; ".join(parts) + ". Use the exact column name."


#: ``df[labels]`` with row labels or numbers (``df[~other.index]``): looked up as columns
LABELS_AS_COLUMNS = re.compile(
    r"None of \[(?:RangeIndex\(|Index\(\[[-\d\s,.]*\].*dtype='(?:int|float|uint|bool))", re.S)
ROWS_HINT = ("Hint: df[...] with a list, an Index or an array of numbers looks them up as COLUMN "
             "names; these are row labels or positions, not columns. Select rows with a boolean "
             "condition (df[df['col'] > x], df[~mask]), df.loc[labels], df.drop(index=labels) or "
             "df.iloc[positions].")

DROP_HINT = ("Hint: .drop(labels) drops the labels it is given; given a DataFrame, those are its "
             "COLUMN names. To drop the rows of another selection use .drop(index=other.index), or "
             "keep the rows you want with a boolean condition (df[~mask]).")

#: a numeric operation that met text
TEXT_VALUES = re.compile(
    r"string dtype|dtype[ =]*'?(?:object|str)\b|could not convert string|convert \S+ to (?:numeric|float)|"
    r"unsupported operand type.*'str'|can only concatenate str|between instances of 'str'|"
    r"agg function failed", re.I)


def unpack_hint(evalue: str, line: Optional[str]) -> str:
    """``r, p = df.a.corr(df.b)``: the call returns one value."""
    what = evalue.replace("cannot unpack non-iterable", "").replace("object", "").strip() or "value"
    text = (f"Hint: the call on the failing line returns a single {what}, not several values: "
            "assign it to one name.")
    if line and ".corr(" in line:
        text += (" Series.corr gives the coefficient alone; for the coefficient and its p-value use "
                 "`from scipy.stats import pearsonr` and `r, p = pearsonr(x, y)` (spearmanr, kendalltau alike).")
    return text


def text_columns_hint(frames: list[dict[str, Any]], line: Optional[str]) -> str:
    """The text columns of the DataFrames a failing numeric operation used, those the failing
    line names first."""
    parts = []
    for f in frames:
        cols = sorted(f.get("text") or [], key=lambda cv: f"'{cv[0]}'" not in (line or "")
                      and f'"{cv[0]}"' not in (line or ""))
        if cols:
            shown = ", ".join(f"{c!r} (e.g. {', '.join(repr(v) for v in vals)})" if vals else repr(c)
                              for c, vals in cols)
            parts.append(f"{f['name']} has text columns, not numbers: {shown}")
    if not parts:
        return ""
    return ("Hint: " + "; ".join(parts) + ". A numeric operation (mean, sum, correlation, a model) needs "
            "numbers: leave such a column out, or convert it (map its values to numbers, or "
            "pd.to_numeric) as the request says.")


_READ_CSV = re.compile(r"read_csv\(\s*[rf]?['\"]([^'\"]+)['\"]")


def csv_headers(code: str, workspace: str) -> list[dict[str, Any]]:
    """The header row of the CSV files the code reads (when no DataFrame holds them yet,
    as in ``pd.read_csv("x.csv")["GDP"]``)."""
    import csv

    frames = []
    for name in dict.fromkeys(_READ_CSV.findall(code)):
        path = os.path.join(workspace, name)
        try:
            with open(path, encoding="utf-8", errors="replace", newline="") as fh:
                header = next(csv.reader([fh.readline()]), [])
        except (OSError, csv.Error):
            continue
        if header:
            frames.append({"name": name, "columns": header[:300], "ncols": len(header)})
    return frames[:2]


def files_hint(missing: str, workspace: str) -> str:
    names = nearby_files(workspace)
    if not names:
        return "Hint: there are no data files next to the notebook."
    base = os.path.basename(missing.replace("\\", "/"))
    ranked = closest(base, names, limit=15)
    return (f"Hint: {missing!r} does not exist relative to the notebook's folder. Files there "
            f"(closest first): {_list(ranked, 15)}.")


def nearby_files(workspace: str, limit: int = 300) -> list[str]:
    """Files in the notebook's folder and its direct subfolders (relative, no hidden ones)."""
    out: list[str] = []
    try:
        with os.scandir(workspace) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return out
    subdirs = []
    for e in entries:
        if e.name.startswith(".") or e.name.endswith(".ipynb"):
            continue
        if e.is_file():
            out.append(e.name)
        elif e.is_dir():
            subdirs.append(e.name)
    for d in subdirs[:20]:
        try:
            with os.scandir(os.path.join(workspace, d)) as it:
                out.extend(f"{d}/{e.name}" for e in sorted(it, key=lambda e: e.name)
                           if e.is_file() and not e.name.startswith("."))
        except OSError:
            continue
    return out[:limit]


def name_hint(missing: str, names: list[str]) -> str:
    parts = []
    if missing in COMMON_IMPORTS:
        parts.append(f"{missing!r} is usually imported with `{COMMON_IMPORTS[missing]}`; "
                     "add the import to the cell")
    close = difflib.get_close_matches(missing, names, n=6, cutoff=0.6)
    if close:
        parts.append(f"variables in the kernel with a close name: {_list(close)}")
    elif names and missing not in COMMON_IMPORTS:
        parts.append(f"variables in the kernel: {_list(closest(missing, names, 20), 20)}")
    return ("Hint: " + "; ".join(parts) + ".") if parts else ""


def attr_hint(missing: str, objects: list[dict[str, Any]]) -> str:
    parts = []
    for o in objects[:2]:
        close = difflib.get_close_matches(missing, o.get("attrs", []), n=6, cutoff=0.55)
        if close:
            parts.append(f"{o['name']} ({o['type']}) has close attributes: {_list(close)}")
        elif o.get("type") in ("DataFrame",) and o.get("attrs"):
            cols = [a for a in o["attrs"] if a.lower() == missing.lower()]
            if cols:
                parts.append(f"{o['name']} has {cols[0]!r} (case differs)")
    return ("Hint: " + "; ".join(parts) + ".") if parts else ""


#: where functions that small models call on the wrong module usually live (``pd.stats.shapiro``,
#: ``np.pearsonr``...), searched in this order; only installed ones are imported
FUNCTION_HOMES = ["scipy.stats", "numpy", "pandas", "math", "statistics", "sklearn.metrics",
                  "sklearn.preprocessing", "sklearn.linear_model", "sklearn.model_selection"]


def called_function(attr: str, code: str) -> Optional[str]:
    """The function a failing ``module.attr...`` expression calls: ``shapiro`` in
    ``pd.stats.shapiro(x)``, ``pearsonr`` in ``np.pearsonr(x, y)``."""
    m = re.search(r"\b" + re.escape(attr) + r"((?:\.\w+)*)\s*\(", code)
    if not m:
        return None
    chain = [p for p in m.group(1).split(".") if p]
    return chain[-1] if chain else attr


def where_hint(function: str, module: str, homes: list[str]) -> str:
    homes = [h for h in homes if h != module]
    if not homes:
        return ""
    home = homes[0]
    parent, _, leaf = home.rpartition(".")
    alias = {"numpy": "import numpy as np; np", "pandas": "import pandas as pd; pd"}.get(home, f"import {home}; {home}")
    how = f"from {parent} import {leaf}; {leaf}.{function}(...)" if parent else f"{alias}.{function}(...)"
    others = f" (also in {', '.join(homes[1:])})" if homes[1:] else ""
    return f"Hint: {function}() is not in {module}; it is in {home}{others}: `{how}`."


def import_hint(function: str, homes: list[str]) -> str:
    """Where a function called without its import lives (``shapiro`` → scipy.stats)."""
    if not homes:
        return ""
    home = homes[0]
    others = f" (also in {', '.join(homes[1:])})" if homes[1:] else ""
    return f"Hint: {function}() is in {home}{others}: add `from {home} import {function}` to the cell."


UNKNOWN_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")


def keyword_call(keyword: str, code: str) -> Optional[str]:
    """The dotted name of the call in ``code`` that passes ``keyword`` (``mean_squared_error``
    for ``rmse = mean_squared_error(y, p, squared=False)``), or None."""
    for text in (code.strip(), code):
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and any(k.arg == keyword for k in node.keywords):
                try:
                    return ast.unparse(node.func)
                except Exception:
                    return None
    m = re.search(r"([A-Za-z_][\w.]*)\s*\([^()]*\b" + re.escape(keyword) + r"\s*=", code)
    return m.group(1) if m else None


def signature_hint(path: str, keyword: str, facts: dict[str, Any]) -> str:
    """An unknown keyword: what the function takes in the installed version (small models
    learned older APIs: ``mean_squared_error(..., squared=False)``), and its module's
    functions named like it (``root_mean_squared_error``)."""
    signature = facts.get("signature")
    if not signature:
        return ""
    text = (f"Hint: in the installed version, {path}{signature} has no parameter '{keyword}'; "
            "call it with the parameters it has.")
    related = facts.get("related") or []
    if related:
        text += f" Functions of {facts.get('module', 'its module')} named like it: {', '.join(related)}."
    name = path.rsplit(".", 1)[-1]
    variant = next((r for r in related if r.endswith("_" + name)), None)
    if variant:
        # told only the names, Qwen2.5-Coder-1.5B dropped squared=False and reported the MSE
        # as the RMSE (DABench ids 30, 70)
        kind = variant[: -len(name) - 1].replace("_", " ")
        text += (f" Dropping '{keyword}' makes {name} return its default result: if '{keyword}' asked "
                 f"for the {kind} of it, call {variant}(...) instead"
                 + (f" (from {facts['module']} import {variant})." if facts.get("module") else "."))
    return text


def modules_hint(missing: str, found: dict[str, bool]) -> str:
    top = missing.split(".")[0]
    pip = _PIP_NAMES.get(top, top)
    have = [m for m, ok in found.items() if ok and m != top]
    text = f"Hint: {top!r} is not installed in this kernel. "
    if have:
        text += f"Installed and usable instead: {', '.join(have)}. Rewrite the cell with them. "
    else:
        text += "No installed alternative was found. "
    text += (f"Do not install packages (no pip install {pip}) unless the user asks; if nothing "
             "installed can do it, say that the package is missing.")
    return text


async def repair_hint(run: FailedRun, *, client: Any, workspace: str, timeout: float = 3.0) -> str:
    """The hint for one failure ('' when none applies). Never raises."""
    try:
        return _clip(await _hint(run, client, workspace, timeout))
    except Exception:
        return ""


async def _hint(run: FailedRun, client: Any, workspace: str, timeout: float) -> str:
    ename, evalue = run.ename, strip_ansi(run.evalue or "")
    line = failing_line(run.traceback)
    if ename == "KeyError" and LABELS_AS_COLUMNS.search(evalue):
        return ROWS_HINT
    if ename == "KeyError" and "not found in axis" in evalue and ".drop(" in (line or ""):
        return DROP_HINT
    if ename == "KeyError":
        missing = quoted(evalue) or [evalue.strip()]
        facts = await kernel_facts(client, {"kind": "columns", "names": referenced_names(run.code, line)},
                                   timeout=timeout)
        frames = facts.get("frames") or csv_headers(run.code, workspace)
        return columns_hint(missing, frames)
    if ename == "FileNotFoundError":
        q = quoted(evalue)
        return files_hint(q[-1] if q else evalue, workspace)
    if ename in ("NameError", "UnboundLocalError"):
        q = quoted(evalue)
        if not q:
            return ""
        facts = await kernel_facts(client, {"kind": "names"}, timeout=timeout)
        hint = name_hint(q[0], facts.get("names") or [])
        if q[0] not in COMMON_IMPORTS and re.search(r"\b" + re.escape(q[0]) + r"\s*\(", (line or "") + "\n" + run.code):
            # a function called without its import (``shapiro(x)``): where it lives
            where = await kernel_facts(client, {"kind": "where", "name": q[0], "modules": FUNCTION_HOMES},
                                       timeout=timeout)
            hint = " ".join(h for h in (import_hint(q[0], where.get("where") or []), hint) if h)
        return hint
    if ename == "AttributeError":
        q = quoted(evalue)
        m = re.search(r"has no attribute '([^']+)'", evalue)
        if not m:
            return ""
        attr = m.group(1)
        module = q[0] if evalue.startswith("module ") and q else None
        owners = [n for n in re.findall(r"\b([A-Za-z_]\w*)\." + re.escape(attr) + r"\b", (line or "") + "\n" + run.code)]
        tname = q[0] if q and not module else None
        facts = await kernel_facts(client, {"kind": "attrs", "names": list(dict.fromkeys(owners))[:3],
                                            "type": tname, "module": module}, timeout=timeout)
        hint = attr_hint(attr, facts.get("objects") or [])
        called = called_function(attr, (line or "") + "\n" + run.code) if module else None
        if called:
            where = await kernel_facts(client, {"kind": "where", "name": called, "modules": FUNCTION_HOMES},
                                       timeout=timeout)
            hint = " ".join(h for h in (hint, where_hint(called, module, where.get("where") or [])) if h)
        return hint
    keyword = UNKNOWN_KEYWORD.search(evalue) if ename == "TypeError" else None
    if keyword:
        path = keyword_call(keyword.group(1), line or run.code)
        if not path:
            return ""
        facts = await kernel_facts(client, {"kind": "signature", "path": path}, timeout=timeout)
        return signature_hint(path, keyword.group(1), facts)
    if ename == "TypeError" and evalue.startswith("cannot unpack non-iterable"):
        return unpack_hint(evalue, line)
    if ename in ("TypeError", "ValueError") and TEXT_VALUES.search(evalue):
        facts = await kernel_facts(client, {"kind": "text_columns", "names": referenced_names(run.code, line)},
                                   timeout=timeout)
        return text_columns_hint(facts.get("frames") or [], line)
    if ename in ("ModuleNotFoundError", "ImportError") and "No module named" in evalue:
        q = quoted(evalue)
        if not q:
            return ""
        top = q[0].split(".")[0]
        candidates = ALTERNATIVES.get(top, _DEFAULT_ALTERNATIVES)
        facts = await kernel_facts(client, {"kind": "modules", "modules": candidates}, timeout=timeout)
        return modules_hint(top, facts.get("modules") or {})
    return ""
