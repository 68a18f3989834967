"""What a turn changed in the notebook, derived from the messages the turn sends.

A turn's ``turn_end`` carries a :class:`~jupyterlab_codeinterp.protocol.TurnChanges`: the
cells it added, the cells of the user it replaced (an accepted fix) with their source from
before the turn, and the files its cells wrote. The chat shows it as the turn's change set,
and "Undo this turn" uses it, also after a page reload: it is saved with the ``turn_end`` in
the chat's display log, so it comes back with the history.

It is read off the turn's own messages rather than reported by the browser: the server sees
every step of every turn, whichever tab (or headless client) runs it, and it is what writes
the history. The agent loop stays unaware of it.

- a ``run_code`` step that reaches ``running`` writes its code into its cell: the code of
  that message is what the turn left there (an approval may have edited it; a skipped or
  rejected attempt never reaches ``running`` and leaves the cell as it was); the cell's id
  comes with the step's result (a new cell has none before);
- the first ``fix`` approval request for a cell carries the cell's source from before the
  turn; the cell counts as replaced once a step runs code in it;
- any other cell a step ran in was added by the turn (repairs replace it in place, so the
  last code wins);
- a step stopped while its new cell ran never learns the cell's id: it is recorded with an
  empty ``cell_id``, and the browser finds the cell by the ``step_id`` in its
  ``metadata.codeinterp``.
"""

from __future__ import annotations

from pydantic import BaseModel

from ..protocol import ApprovalRequestMsg, CellChange, StepMsg, TurnChanges

RUN_CODE = "run_code"
_FINAL_STATES = frozenset({"ok", "error", "interrupted", "timeout", "aborted"})


class TurnChangeRecorder:
    """Folds one turn's outgoing messages into the change set of that turn."""

    def __init__(self) -> None:
        #: cell id (or "#" + step id when the id is unknown) -> the change, in order of first run
        self._cells: dict[str, CellChange] = {}
        #: the source a user's cell had before the turn, from the first fix approval for it
        self._originals: dict[str, str] = {}
        #: step id -> (cell id, code) of the attempt now running
        self._running: dict[str, tuple[str, str]] = {}
        self._files: list[str] = []

    def observe(self, msg: BaseModel) -> None:
        if isinstance(msg, ApprovalRequestMsg):
            if msg.kind == "fix" and msg.cell_id and msg.cell_id not in self._originals:
                self._originals[msg.cell_id] = msg.original
        elif isinstance(msg, StepMsg) and msg.tool == RUN_CODE:
            self._on_step(msg)

    def _on_step(self, msg: StepMsg) -> None:
        if msg.state == "running":
            self._running[msg.step_id] = (msg.cell_id, msg.code)
            return
        if msg.state not in _FINAL_STATES:
            return
        for path in msg.files:
            if path not in self._files:
                self._files.append(path)
        started = self._running.pop(msg.step_id, None)
        if started is None:
            return  # never ran (skipped, or rejected)
        cell_id = msg.cell_id or started[0]
        if msg.state == "aborted" and not cell_id:
            return  # the browser could not run it: no cell was written
        self._record(cell_id, msg.step_id, started[1])

    def _record(self, cell_id: str, step_id: str, source: str) -> None:
        key = cell_id or "#" + step_id
        existing = self._cells.get(key)
        if existing is not None:  # a repair: the same cell, new code
            existing.source = source
        elif cell_id in self._originals:
            self._cells[key] = CellChange(kind="replaced", cell_id=cell_id, step_id=step_id, source=source,
                                          original=self._originals[cell_id])
        else:
            self._cells[key] = CellChange(kind="added", cell_id=cell_id, step_id=step_id, source=source)

    def result(self) -> TurnChanges:
        """The change set so far; a step still running (the turn was cancelled) counts."""
        for step_id, (cell_id, code) in list(self._running.items()):
            self._record(cell_id, step_id, code)
        self._running.clear()
        return TurnChanges(cells=[c.model_copy() for c in self._cells.values()], files=list(self._files))
