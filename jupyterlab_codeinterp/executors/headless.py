"""Runs cells on an ``.ipynb`` file with its own kernel (``jupyter codeinterp run``, tests, evaluation).

nbclient does the output bookkeeping (streams, display updates, clear_output) exactly as
``jupyter nbconvert --execute`` would, with ``allow_stdin`` off so ``input()`` raises
instead of hanging. The kernel starts in the notebook's directory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Optional

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from ..context.probe_clients import new_probe_client
from ..protocol import CellOutcome
from .base import ExecutorError, NotebookExecutor

log = logging.getLogger(__name__)


@dataclass
class RestoreReport:
    cells_run: int = 0
    errors: int = 0
    first_error: str = ""


def _error_fields(outputs: list[dict[str, Any]]) -> tuple[str, str, list[str]]:
    for out in outputs:
        if out.get("output_type") == "error":
            return out.get("ename", ""), out.get("evalue", ""), list(out.get("traceback", []))
    return "", "", []


def write_notebook_atomically(nb: Any, path: str) -> None:
    """Write through a temporary file in the same folder so a crash never truncates the notebook."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".codeinterp-", suffix=".ipynb", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            nbformat.write(nb, fh)
        if os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


#: characters of a cell's stream output kept from its start, and from its end, once it is long
OUTPUT_HEAD_CHARS = 1_000_000
OUTPUT_TAIL_CHARS = 100_000


@dataclass
class _Clip:
    kept: int = 0
    dropped: int = 0
    tail: str = ""
    name: str = "stdout"


class _BoundedClient(NotebookClient):
    """nbclient that keeps at most the head and the tail of a cell's stream output.

    nbclient stores every stream message of a cell; a generated ``print`` in a loop can
    produce gigabytes. We keep the first OUTPUT_HEAD_CHARS characters, then only a rolling
    tail, and close the cell with a note of how much was left out (see :meth:`finish_cell`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clips: dict[int, _Clip] = {}

    def output(self, outs: list, msg: dict, display_id: Any, cell_index: int) -> Any:
        parent = msg.get("parent_header", {}).get("msg_id")
        if msg.get("msg_type") != "stream" or self.output_hook_stack[parent]:
            return super().output(outs, msg, display_id, cell_index)
        clip = self._clips.setdefault(cell_index, _Clip())
        text = msg.get("content", {}).get("text", "") or ""
        room = OUTPUT_HEAD_CHARS - clip.kept
        if len(text) <= room and not clip.dropped:
            clip.kept += len(text)
            return super().output(outs, msg, display_id, cell_index)
        head, rest = (text[:room], text[room:]) if room > 0 else ("", text)
        out = None
        if head:
            clip.kept += len(head)
            out = super().output(outs, {**msg, "content": {**msg["content"], "text": head}}, display_id,
                                 cell_index)
        clip.dropped += len(rest)
        clip.tail = (clip.tail + rest)[-OUTPUT_TAIL_CHARS:]
        clip.name = msg["content"].get("name", "stdout")
        return out

    def clear_output(self, outs: list, msg: dict, cell_index: int) -> None:
        self._clips.pop(cell_index, None)
        super().clear_output(outs, msg, cell_index)

    def finish_cell(self, cell: Any, cell_index: int) -> None:
        """Close a clipped cell's output with the note and the tail."""
        clip = self._clips.pop(cell_index, None)
        if clip is None or not clip.dropped:
            return
        cut = clip.dropped - len(clip.tail)
        note = f"\n... [{cut} characters of output not kept] ...\n" if cut > 0 else ""
        cell.outputs.append(nbformat.v4.new_output("stream", name=clip.name, text=note + clip.tail))


class HeadlessExecutor(NotebookExecutor):
    """A notebook file plus a kernel of its own."""

    def __init__(self, path: str, *, root_dir: Optional[str] = None, kernel_name: Optional[str] = None,
                 startup_timeout: float = 60.0) -> None:
        self.path = os.path.abspath(path)
        self.root_dir = os.path.abspath(root_dir or os.path.dirname(self.path))
        self.notebook_path = os.path.relpath(self.path, self.root_dir).replace(os.sep, "/")
        if os.path.exists(self.path):
            self.nb = nbformat.read(self.path, as_version=4)
        else:
            self.nb = nbformat.v4.new_notebook()
            self.nb.metadata["kernelspec"] = {"name": kernel_name or "python3", "display_name": "Python 3",
                                              "language": "python"}
        # give old notebooks cell ids (nbformat 4.5) so repairs can address cells
        nbformat.validator.normalize(self.nb)
        for cell in self.nb.cells:
            if "id" not in cell:
                cell["id"] = nbformat.v4.new_code_cell().id
        self.nb.nbformat, self.nb.nbformat_minor = 4, max(5, self.nb.get("nbformat_minor", 5))
        self.kernel_name = kernel_name or self.nb.metadata.get("kernelspec", {}).get("name") or "python3"
        self.startup_timeout = startup_timeout
        self.km: Optional[AsyncKernelManager] = None
        self.client: Optional[_BoundedClient] = None
        self._probe_client: Any = None
        self._ipc_dir: Optional[str] = None

    # ------------------------------------------------------------------ lifecycle

    def _kernel_manager(self) -> AsyncKernelManager:
        """A kernel manager talking to its kernel over Unix sockets where there are any.

        Over TCP ipykernel warns at every start that the traffic is unencrypted; the headless
        kernel is ours alone, so its sockets are files in a private folder (0700) instead:
        nothing listens on a port, and the warning has no reason to be. Other kernel output
        (errors at start, crashes) still reaches stderr as before.
        """
        if os.name == "nt":
            return AsyncKernelManager(kernel_name=self.kernel_name)
        # short path: a Unix socket path is limited to ~100 bytes
        self._ipc_dir = tempfile.mkdtemp(prefix="codeinterp-")
        return AsyncKernelManager(kernel_name=self.kernel_name, transport="ipc",
                                  ip=os.path.join(self._ipc_dir, "kernel"))

    async def start(self) -> None:
        self.km = self._kernel_manager()
        cwd = os.path.dirname(self.path)
        os.makedirs(cwd, exist_ok=True)
        self.client = _BoundedClient(
            self.nb, km=self.km, allow_errors=True, timeout=600, interrupt_on_timeout=True,
            startup_timeout=int(self.startup_timeout), resources={"metadata": {"path": cwd}},
            record_timing=False,
        )
        try:
            await self.client.async_start_new_kernel(cwd=cwd)
            await self.client.async_start_new_kernel_client()
        except Exception as exc:
            raise ExecutorError(f"could not start the {self.kernel_name!r} kernel: {exc}") from exc

    async def restore(self) -> RestoreReport:
        """Run the notebook's existing code cells so the kernel holds its author's state."""
        report = RestoreReport()
        assert self.client is not None
        for index, cell in enumerate(list(self.nb.cells)):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            try:
                await self.client.async_execute_cell(cell, index)
            except CellTimeoutError:
                report.errors += 1
                report.first_error = report.first_error or f"cell {index + 1} timed out"
                continue
            except DeadKernelError as exc:
                raise ExecutorError(f"the kernel died while restoring cell {index + 1}") from exc
            finally:
                self.client.finish_cell(cell, index)
            report.cells_run += 1
            ename, evalue, _ = _error_fields(cell.outputs)
            if ename:
                report.errors += 1
                report.first_error = report.first_error or f"cell {index + 1}: {ename}: {evalue}"
        return report

    async def close(self) -> None:
        if self._probe_client is not None:
            try:
                self._probe_client.stop_channels()
            except Exception:
                pass
            self._probe_client = None
        if self.client is not None and self.km is not None:
            try:
                await self.client._async_cleanup_kernel()
            except Exception:
                log.debug("kernel cleanup failed", exc_info=True)
        self.client = None
        self.km = None
        if self._ipc_dir is not None:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            self._ipc_dir = None

    def save(self) -> None:
        write_notebook_atomically(self.nb, self.path)

    # ------------------------------------------------------------------ executor interface

    async def kernel_client(self) -> Any:
        if self.km is None:
            return None
        if self._probe_client is None:
            # its own Session: a second client sharing the manager's would share its ZMQ
            # identity and steal replies meant for the cell-running client
            self._probe_client = new_probe_client(self.km)
        return self._probe_client

    async def read_cells(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self.nb.cells]

    def _index_of(self, cell_id: str) -> int:
        for i, cell in enumerate(self.nb.cells):
            if cell.get("id") == cell_id:
                return i
        raise ExecutorError(f"no cell with id {cell_id}")

    async def run_cell(self, code: str, *, metadata: dict[str, Any], replace_cell_id: Optional[str] = None,
                       anchor_cell_id: Optional[str] = None, timeout: float = 600.0) -> CellOutcome:
        if self.client is None or self.km is None:
            raise ExecutorError("the kernel is not running")
        if replace_cell_id:
            index = self._index_of(replace_cell_id)
            cell = self.nb.cells[index]
            cell.source = code
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.update(metadata)
        else:
            cell = nbformat.v4.new_code_cell(source=code, metadata=metadata)
            index = self._index_of(anchor_cell_id) + 1 if anchor_cell_id else len(self.nb.cells)
            self.nb.cells.insert(index, cell)
        self.client.timeout = max(1, int(timeout))
        started = time.monotonic()
        status = "ok"
        client = self.client
        client._clips.pop(index, None)
        inner = asyncio.ensure_future(client.async_execute_cell(cell, index))
        inner.add_done_callback(lambda _f: client.finish_cell(cell, index))
        try:
            # shielded: cancelling nbclient mid-cell makes it report a dead kernel; on Stop we
            # interrupt the kernel instead and let the cell finish with its KeyboardInterrupt
            await asyncio.shield(inner)
        except asyncio.CancelledError:
            await self.interrupt()
            try:
                await asyncio.wait_for(inner, 10)
            except BaseException:
                inner.cancel()
            self._save_quietly()
            raise
        except CellTimeoutError:
            status = "timeout"
        except DeadKernelError:
            self._save_quietly()  # the cell the kernel died in is part of the record too
            return CellOutcome(status="aborted", cell_id=cell.id, ename="DeadKernelError",
                               evalue="the kernel died while running this cell", elapsed=time.monotonic() - started)
        elapsed = time.monotonic() - started
        ename, evalue, traceback = _error_fields(cell.outputs)
        if status == "ok" and ename:
            status = "interrupted" if ename == "KeyboardInterrupt" else "error"
        self._save_quietly()
        return CellOutcome(status=status, cell_id=cell.id, execution_count=cell.get("execution_count"),
                           outputs=[dict(o) for o in cell.outputs], ename=ename, evalue=evalue,
                           traceback=traceback, elapsed=elapsed)

    async def interrupt(self) -> None:
        if self.km is not None:
            await self.km.interrupt_kernel()
            await asyncio.sleep(0)

    def _save_quietly(self) -> None:
        """Save after every cell so a crash or Ctrl-C never loses what already ran."""
        try:
            self.save()
        except OSError:
            log.warning("could not save %s", self.path, exc_info=True)
