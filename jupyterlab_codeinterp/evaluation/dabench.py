"""InfiAgent-DABench (ICML 2024) closed-form questions, read from the benchmark's own folder.

The folder is the benchmark's ``data/`` as published: ``da-dev-questions.jsonl``,
``da-dev-labels.jsonl`` and ``da-dev-tables/``. Nothing of it is copied into this project.

**Odd ids are a held-out split.** Each line's id is read from the raw text first, and a
line with an odd id is skipped before it is parsed, so an odd-id question is never read,
scored or shown. Asking for an odd id by name (``--ids 3`` or ``--ids odd``) is refused
unless ``held_out=True`` (``--held-out``); a range such as ``0-40`` means its even ids.
"""

from __future__ import annotations

import json
import os
import re
from typing import Iterator, Optional

from .scoring import Expectation
from .selection import IdSelector, SelectionError
from .tasks import EvalTask, SuiteError

QUESTIONS = "da-dev-questions.jsonl"
LABELS = "da-dev-labels.jsonl"
TABLES = "da-dev-tables"

_LINE_ID = re.compile(r'"id"\s*:\s*(\d+)')


def find_dabench_folder(path: str) -> Optional[str]:
    """``path`` itself, or its ``data/`` (the benchmark's layout), when it holds the questions."""
    for candidate in (path, os.path.join(path, "data")):
        if os.path.isfile(os.path.join(candidate, QUESTIONS)):
            return candidate
    return None


def _allowed(qid: int, held_out: bool) -> bool:
    return held_out or qid % 2 == 0


def _selected_lines(path: str, selector: IdSelector, held_out: bool) -> Iterator[tuple[int, dict]]:
    """(id, parsed record) for the selected lines; other lines are never parsed."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            m = _LINE_ID.search(line)
            if m is None:
                raise SuiteError(f"{path}:{n}: a line without an \"id\"")
            qid = int(m.group(1))
            if not _allowed(qid, held_out) or not selector.matches(qid):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SuiteError(f"{path}:{n}: not valid JSON ({exc})") from None
            if record.get("id") != qid:
                raise SuiteError(f"{path}:{n}: could not read the line's id reliably")
            yield qid, record


def check_selection(selector: IdSelector, held_out: bool) -> None:
    """Refuse odd ids asked for by name, unless the held-out split was asked for explicitly."""
    if held_out:
        return
    odd = selector.explicit_odd()
    if odd:
        raise SelectionError(
            f"DABench odd ids are the held-out split and are not run ({', '.join(odd)}). "
            "Use --ids even (or ranges such as 0-40, which keep their even ids).")


def task_from_record(folder: str, question: dict, label: dict) -> EvalTask:
    qid = question["id"]
    file_name = str(question.get("file_name") or "")
    table = os.path.join(folder, TABLES, file_name)
    missing = [] if file_name and os.path.isfile(table) else [file_name or "(no file_name)"]
    constraints = str(question.get("constraints") or "").strip()
    prompt = str(question.get("question") or "").strip()
    if constraints:
        prompt += f"\n\nConstraints: {constraints}"
    prompt += f"\n\nThe data is in the file `{file_name}` in the working folder (next to the notebook)."
    answers = label.get("common_answers") or []
    expected = [Expectation(name=str(name), value=str(value)) for name, value in answers]
    return EvalTask(
        id=qid,
        prompt=prompt,
        answer_format=str(question.get("format") or ""),
        expected=expected,
        rule="dabench",
        files=[(table, file_name)] if not missing else [],
        missing_files=missing,
        level=str(question.get("level") or ""),
        concepts=[str(c) for c in question.get("concepts") or []],
    )


def load_dabench(folder: str, selector: IdSelector, *, held_out: bool = False) -> list[EvalTask]:
    """The selected questions with their labels, in id order. Odd ids only with ``held_out``."""
    check_selection(selector, held_out)
    questions = dict(_selected_lines(os.path.join(folder, QUESTIONS), selector, held_out))
    labels_path = os.path.join(folder, LABELS)
    if not os.path.isfile(labels_path):
        raise SuiteError(f"{folder}: {LABELS} is missing (the labels are needed to score answers)")
    labels = dict(_selected_lines(labels_path, selector, held_out))
    tasks = []
    for qid in sorted(questions):
        label = labels.get(qid)
        if label is None:
            raise SuiteError(f"{labels_path}: no label for question {qid}")
        tasks.append(task_from_record(folder, questions[qid], label))
    return tasks
