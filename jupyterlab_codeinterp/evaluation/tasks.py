"""What a task is, and the native suite format users build from their own data.

A native suite is a folder with one folder per task::

    my-suite/
      suite.toml            optional: name = "...", description = "..."
      revenue-by-region/
        task.toml           the prompt, the expected values (or task.json, same keys)
        files/              copied into the task's fresh working folder
        check.py            optional: run in the kernel after the answer; passes unless it raises
        solution.py         optional: a reference solution (used by the project's own tests)

``task.toml`` keys: ``prompt`` (required), ``format`` (how to write the answer; default
asks for ``@name[value]`` for each expected name), ``level``, ``concepts``, ``setup`` (code
run in the fresh kernel before the prompt), ``timeout`` (seconds), a ``[expected]`` table
``name = value`` and a ``tolerance`` (one number, or a table by name; absolute, default
1e-6) and ``rel_tolerance``. A task needs ``[expected]``, ``check.py`` or both.

A *fix* task (``mode = "fix"``) gives the notebook a broken ``cell`` (after ``setup``): the
cell is run, fails, and the agent is asked to fix it as "Fix this error" does (the proposal
is accepted). It is right when the notebook then re-runs from the top in a fresh kernel
without an error (and ``check.py``, run in that kernel, passes).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .scoring import Expectation

TaskId = Union[int, str]
TASK_FILES = ("task.toml", "task.json")


class SuiteError(ValueError):
    """A suite or task definition that cannot be used, with what to change."""


@dataclass
class EvalTask:
    id: TaskId
    prompt: str
    """The request, mode-neutral (the agent and the single-shot baseline both build on it)."""
    answer_format: str
    """How the answer must be written, e.g. ``@mean_fare[value] where value is ...``."""
    expected: list[Expectation] = field(default_factory=list)
    rule: str = "tolerance"
    """Scoring rule: ``dabench`` or ``tolerance`` (see scoring.py)."""
    files: list[tuple[str, str]] = field(default_factory=list)
    """(source path, name in the working folder); a source may be a folder."""
    missing_files: list[str] = field(default_factory=list)
    """Files the task needs that are not there: the task is reported, not run."""
    setup: str = ""
    check: str = ""
    solution: str = ""
    level: str = ""
    concepts: list[str] = field(default_factory=list)
    timeout: Optional[float] = None
    mode: str = "chat"
    """``chat``, or ``fix``: the agent fixes :attr:`cell`, the broken cell in the notebook."""
    cell: str = ""

    @property
    def key(self) -> str:
        return str(self.id)

    def request(self) -> str:
        """What the user asks the agent."""
        if not self.answer_format.strip():
            return self.prompt.strip()
        return f"{self.prompt.strip()}\n\nGive the final answer in this format: {self.answer_format.strip()}"

    def expected_json(self) -> dict[str, Any]:
        return {e.name: e.value for e in self.expected}


def default_format(names: list[str]) -> str:
    return " ".join(f"@{n}[value]" for n in names) + " (write each value inside the brackets)"


def safe_dirname(task_id: TaskId) -> str:
    """A folder name for a task id."""
    name = re.sub(r"[^\w.-]+", "_", str(task_id)).strip("._") or "task"
    return name[:100]


# ----------------------------------------------------------------------------- native format


def _read_definition(path: str) -> dict[str, Any]:
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                raise SuiteError(f"{path}: not valid JSON ({exc})") from None
    else:
        try:
            import tomllib  # type: ignore[import-not-found]
        except ModuleNotFoundError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ModuleNotFoundError:
                raise SuiteError(f"{path}: reading task.toml needs Python 3.11+ or the 'tomli' "
                                 "package (pip install tomli); or write task.json") from None
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise SuiteError(f"{path}: not valid TOML ({exc})") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: expected a table of keys")
    return data


def _expectations(path: str, data: dict[str, Any]) -> list[Expectation]:
    expected = data.get("expected") or {}
    if not isinstance(expected, dict):
        raise SuiteError(f"{path}: [expected] must be a table of name = value")
    tol = data.get("tolerance", 1e-6)
    rel = data.get("rel_tolerance", 0.0)
    out = []
    for name, value in expected.items():
        if not re.fullmatch(r"\w+", name):
            raise SuiteError(f"{path}: expected name {name!r} must be letters, digits or _ "
                             "(it is written as @name[value])")
        if not isinstance(value, (str, int, float, bool)):
            raise SuiteError(f"{path}: expected {name} must be a number, a string or a boolean")
        try:
            t = float(tol.get(name, 1e-6) if isinstance(tol, dict) else tol)
            r = float(rel.get(name, 0.0) if isinstance(rel, dict) else rel)
        except (TypeError, ValueError):
            raise SuiteError(f"{path}: tolerance and rel_tolerance must be numbers") from None
        out.append(Expectation(name=name, value=value, tolerance=t, rel_tolerance=r))
    return out


def _read_text(path: str) -> str:
    if not os.path.isfile(path):
        return ""
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def load_native_task(folder: str) -> EvalTask:
    """One task folder (``task.toml`` or ``task.json``, ``files/``, ``check.py``...)."""
    definition = next((os.path.join(folder, n) for n in TASK_FILES if os.path.isfile(os.path.join(folder, n))), None)
    if definition is None:
        raise SuiteError(f"{folder}: no task.toml or task.json")
    data = _read_definition(definition)
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise SuiteError(f"{definition}: 'prompt' is missing or empty")
    expected = _expectations(definition, data)
    check = _read_text(os.path.join(folder, "check.py"))
    mode = str(data.get("mode") or "chat")
    cell = data.get("cell") or ""
    if mode not in ("chat", "fix"):
        raise SuiteError(f"{definition}: mode must be 'chat' or 'fix'")
    if mode == "fix":
        if not isinstance(cell, str) or not cell.strip():
            raise SuiteError(f"{definition}: a fix task needs 'cell', the broken cell's source")
    elif not expected and not check.strip():
        raise SuiteError(f"{definition}: give an [expected] table, a check.py, or both")
    concepts = data.get("concepts") or []
    if isinstance(concepts, str):
        concepts = [concepts]
    files_dir = os.path.join(folder, "files")
    files = ([(os.path.join(files_dir, n), n) for n in sorted(os.listdir(files_dir))]
             if os.path.isdir(files_dir) else [])
    timeout = data.get("timeout")
    fmt = data.get("format") or (default_format([e.name for e in expected]) if expected
                                 else "a short answer in words")
    if data.get("mode") == "fix" and not data.get("format"):
        fmt = ""
    return EvalTask(
        id=str(data.get("id") or os.path.basename(os.path.normpath(folder))),
        prompt=prompt,
        answer_format=str(fmt),
        expected=expected,
        rule="tolerance",
        files=files,
        setup=str(data.get("setup") or ""),
        check=check,
        solution=_read_text(os.path.join(folder, "solution.py")),
        level=str(data.get("level") or ""),
        concepts=[str(c) for c in concepts],
        timeout=float(timeout) if isinstance(timeout, (int, float)) else None,
        mode=mode,
        cell=cell if mode == "fix" else "",
    )


def is_native_suite(path: str) -> bool:
    if any(os.path.isfile(os.path.join(path, n)) for n in TASK_FILES):
        return True
    try:
        return any(os.path.isfile(os.path.join(path, d, n)) for d in os.listdir(path) for n in TASK_FILES)
    except OSError:
        return False


def native_suite_name(path: str) -> str:
    meta = os.path.join(path, "suite.toml")
    if os.path.isfile(meta):
        name = _read_definition(meta).get("name")
        if isinstance(name, str) and name.strip():
            return name.strip()
    return os.path.basename(os.path.normpath(path))


def load_native_suite(path: str, selector: Any = None) -> list[EvalTask]:
    """Every task of a native suite (or the one task ``path`` is), selected by id."""
    if any(os.path.isfile(os.path.join(path, n)) for n in TASK_FILES):
        folders = [path]
    else:
        folders = [os.path.join(path, d) for d in sorted(os.listdir(path))
                   if any(os.path.isfile(os.path.join(path, d, n)) for n in TASK_FILES)]
    tasks = []
    for folder in folders:
        name = os.path.basename(os.path.normpath(folder))
        if selector is not None and not selector.matches(name):
            continue  # not parsed at all when not selected
        task = load_native_task(folder)
        if selector is not None and task.key != name and not selector.matches(task.id):
            continue
        tasks.append(task)
    ids = [t.key for t in tasks]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise SuiteError(f"{path}: task ids must be unique; repeated: {', '.join(dup)}")
    return tasks
