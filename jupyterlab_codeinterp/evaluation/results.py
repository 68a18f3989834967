"""What a run writes: one record per (task, mode) in ``results.jsonl``, and ``run.json``.

``results.jsonl`` is appended to and flushed after every task, so a crash or Ctrl-C loses
only the tasks that were running; ``--resume`` skips the (task, mode) pairs already there.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

from .tasks import EvalTask

RESULTS = "results.jsonl"
RUN_INFO = "run.json"

#: outcome classes: the first seven describe what the model did; the last two are not scored
FAILURE_CLASSES = ("correct", "wrong", "ungrounded", "no answer", "gave up", "timeout", "model error",
                   "skipped", "error")
NOT_SCORED = ("skipped", "error")
"""skipped: the task could not be set up (a data file is missing); error: the harness failed
(the kernel did not start...). Neither counts in accuracy; ``--resume`` runs "error" again."""

MODES = ("agent", "single-shot")


@dataclass
class Record:
    id: Union[int, str]
    mode: str
    failure: str
    """One of FAILURE_CLASSES."""
    correct: bool = False
    answer: str = ""
    extracted: dict[str, str] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    cells_run: int = 0
    repairs: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_estimated: bool = False
    seconds: float = 0.0
    status: str = ""
    """The agent turn's status (done, gave_up, failed) or the baseline's (ran, no code, ...)."""
    grounded: Optional[bool] = None
    """Whether a cell ran in the turn (an answer without one is not computed)."""
    grounding: Optional[str] = None
    """The loop's own grounding verdict, when it reports one."""
    check: Optional[str] = None
    """"passed", or why the task's check.py failed; None without a check."""
    detail: str = ""
    level: str = ""
    concepts: list[str] = field(default_factory=list)
    workspace: str = ""
    """The task's working folder, relative to the run folder."""

    @property
    def scored(self) -> bool:
        return self.failure not in NOT_SCORED

    def to_json(self) -> str:
        data = asdict(self)
        if len(data["answer"]) > 4000:
            data["answer"] = data["answer"][:4000] + " …[cut]"
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Record":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def new_record(task: EvalTask, mode: str, workspace: str) -> Record:
    """A record for ``task`` in ``mode`` before it runs (classified as an error until it is done)."""
    return Record(id=task.id, mode=mode, failure="error", expected=task.expected_json(), level=task.level,
                  concepts=list(task.concepts), workspace=workspace)


def read_results(folder: str) -> list[Record]:
    """Every record of a run folder; a line cut short by a crash is ignored. Later records of
    the same (task, mode) replace earlier ones (a resumed "error")."""
    path = os.path.join(folder, RESULTS)
    if not os.path.isfile(path):
        return []
    latest: dict[tuple[str, str], Record] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = Record.from_dict(json.loads(line))
            except (ValueError, TypeError):
                continue
            latest[(str(rec.id), rec.mode)] = rec
    return list(latest.values())


class ResultsWriter:
    """Appends records to results.jsonl, one flushed line each."""

    def __init__(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, RESULTS)
        self._fh = open(self.path, "a+", encoding="utf-8")
        if self._fh.tell() > 0:
            self._fh.seek(self._fh.tell() - 1)
            if self._fh.read(1) != "\n":  # a line cut short by a crash: start on a fresh line
                self._fh.write("\n")

    def write(self, record: Record) -> None:
        self._fh.write(record.to_json() + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def read_run_info(folder: str) -> dict[str, Any]:
    try:
        with open(os.path.join(folder, RUN_INFO), encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_run_info(folder: str, info: dict[str, Any]) -> None:
    tmp = os.path.join(folder, RUN_INFO + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=2)
    os.replace(tmp, os.path.join(folder, RUN_INFO))
