"""The executor interface: how the agent loop acts on a notebook without knowing where it is.

Two implementations share it:
- :class:`~jupyterlab_codeinterp.executors.frontend.FrontendExecutor` asks the browser, over
  the chat socket, to insert and run cells in the open notebook (the user sees them appear);
- :class:`~jupyterlab_codeinterp.executors.headless.HeadlessExecutor` runs cells with
  jupyter_client on an ``.ipynb`` file (``jupyter codeinterp run``, tests, evaluation).
"""

from __future__ import annotations

import abc
from typing import Any, Optional

from ..protocol import CellOutcome


class ExecutorError(RuntimeError):
    """The executor could not do what was asked (browser gone, kernel dead, timeout...)."""


class NotebookExecutor(abc.ABC):
    """Acts on one notebook and its kernel."""

    #: server-relative path of the notebook ("" when unknown)
    notebook_path: str = ""

    @abc.abstractmethod
    async def run_cell(
        self,
        code: str,
        *,
        metadata: dict[str, Any],
        replace_cell_id: Optional[str] = None,
        anchor_cell_id: Optional[str] = None,
        timeout: float = 600.0,
    ) -> CellOutcome:
        """Insert ``code`` as a new code cell (or replace ``replace_cell_id``'s source) and run it.

        Returns when the cell finished, failed, was interrupted or timed out; a timeout
        interrupts the kernel before returning. Input requests (``input()``) are answered
        with an error inside the kernel rather than waiting forever.
        """

    @abc.abstractmethod
    async def interrupt(self) -> None:
        """Interrupt whatever the kernel is running."""

    @abc.abstractmethod
    async def read_cells(self) -> list[dict[str, Any]]:
        """The notebook's cells, nbformat-shaped (``cell_type``, ``source``, ``outputs``, ``id``...)."""

    async def kernel_client(self) -> Any:
        """A kernel client for silent, read-only requests (the probe, inspect_variable).

        It is not the client that runs cells, so a probe never mixes with cell output.
        None when there is no kernel to ask (the turn then goes on without variables).
        """
        return None

    async def close(self) -> None:  # pragma: no cover - default no-op
        """Release resources (kernel clients, files)."""
