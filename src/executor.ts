/**
 * NotebookExecutor: fulfils the server's `executor_request`s on the open notebook.
 *
 * Generated cells are inserted through the notebook's shared model (one
 * transaction each, so notebook undo removes them), run in the notebook's own
 * kernel with `allow_stdin: false` (an `input()` raises instead of hanging the
 * turn), and their outcome goes back as a CellOutcome. A repair replaces the
 * source of a generated cell in place; a cell the user wrote is only changed
 * after the user accepted a fix for it.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { CodeCell, ICellModel } from '@jupyterlab/cells';
import * as nbformat from '@jupyterlab/nbformat';
import { NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';

import { CellOutcome, ExecutorReplyMsg, ExecutorRequestMsg } from './protocol';
import { clipCells, clipOutputs } from './outputLimits';

/** Where the executor finds notebooks, and whom it tells about new cells. */
export interface IExecutorHost {
  /** The open notebook panel of a chat, or null when it is not open. */
  notebookForChat(chatId: string): NotebookPanel | null;
  /** A cell was created or reused for a step (links in the chat). */
  cellCreated?(
    chatId: string,
    stepId: string | undefined,
    cellId: string
  ): void;
}

/** The `metadata.codeinterp` of cells the agent wrote. */
export interface ICodeInterpCellMetadata {
  generated?: boolean;
  fixed?: boolean;
  chat_id?: string;
  turn?: number;
  step_id?: string;
  attempt?: number;
  [key: string]: unknown;
}

export const METADATA_KEY = 'codeinterp';

/** True when the agent wrote this cell (it may replace its source). */
export function isGenerated(cell: ICellModel): boolean {
  const meta = cell.getMetadata(METADATA_KEY) as
    ICodeInterpCellMetadata | undefined;
  return !!meta && meta.generated === true;
}

/** Find a cell model by id. */
export function findCell(
  panel: NotebookPanel,
  cellId: string
): { index: number; model: ICellModel } | null {
  const cells = panel.content.model?.cells;
  if (!cells) {
    return null;
  }
  for (let i = 0; i < cells.length; i++) {
    const model = cells.get(i);
    if (model.id === cellId) {
      return { index: i, model };
    }
  }
  return null;
}

class ExecutorError extends Error {}

export class NotebookExecutor {
  constructor(host: IExecutorHost, trans?: TranslationBundle) {
    this._host = host;
    this._trans = trans ?? nullTranslator.load('jupyterlab_codeinterp');
  }

  /**
   * The user accepted a fix for `cellId`: allow one replacement of that cell
   * even though the user wrote it.
   */
  acceptFix(cellId: string): void {
    this._accepted.set(cellId, (this._accepted.get(cellId) ?? 0) + 1);
  }

  /** Withdraw an acceptance that was not used (e.g. the turn ended). */
  revokeFix(cellId: string): void {
    this._accepted.delete(cellId);
  }

  /**
   * A cell inserted ahead of the request (generate mode streams code into it);
   * the turn's first run_cell reuses it instead of inserting another.
   */
  registerPreview(chatId: string, turn: number, cellId: string): void {
    this._previews.set(`${chatId}:${turn}`, cellId);
  }

  previewFor(chatId: string, turn: number): string | undefined {
    return this._previews.get(`${chatId}:${turn}`);
  }

  /** Answer one request; never throws (errors become `ok: false`). */
  async handle(req: ExecutorRequestMsg): Promise<ExecutorReplyMsg> {
    const reply = (
      ok: boolean,
      result: Record<string, any> | null,
      error?: string
    ): ExecutorReplyMsg => ({
      type: 'executor_reply',
      request_id: req.request_id,
      ok,
      result,
      error: error ?? null
    });
    try {
      switch (req.action) {
        case 'run_cell':
          return reply(true, { ...(await this.runCell(req)) });
        case 'interrupt':
          await this.interrupt(req.chat_id);
          return reply(true, {});
        case 'read_cells':
          return reply(true, { cells: this.readCells(req.chat_id) });
        default:
          return reply(false, null, `unknown action ${(req as any).action}`);
      }
    } catch (error) {
      const message =
        error instanceof Error
          ? error.message
          : String(error ?? 'unknown error');
      return reply(false, null, message);
    }
  }

  /** nbformat cells of the chat's notebook. */
  readCells(chatId: string): nbformat.ICell[] {
    const panel = this._panel(chatId);
    const model = panel.content.model;
    if (!model) {
      throw new ExecutorError(
        this._trans.__('The notebook is not loaded yet.')
      );
    }
    return clipCells(
      (model.toJSON() as unknown as nbformat.INotebookContent).cells
    );
  }

  /** Interrupt the chat's kernel. */
  async interrupt(chatId: string): Promise<void> {
    const panel = this._panel(chatId);
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      throw new ExecutorError(
        this._trans.__('The notebook has no kernel to interrupt.')
      );
    }
    await kernel.interrupt();
  }

  /** Insert (or repair) and run one cell. */
  async runCell(req: ExecutorRequestMsg): Promise<CellOutcome> {
    const panel = this._panel(req.chat_id);
    await panel.context.ready;
    const sessionContext = panel.sessionContext;
    await this._ensureKernel(panel, sessionContext);
    const notebook = panel.content;
    const nbModel = notebook.model;
    if (!nbModel) {
      throw new ExecutorError(
        this._trans.__('The notebook is not loaded yet.')
      );
    }
    const code = req.code ?? '';
    const metadata = normalizeMetadata(req.metadata ?? {});
    const ci = (metadata[METADATA_KEY] ?? {}) as ICodeInterpCellMetadata;
    const turnKey = `${req.chat_id}:${ci.turn ?? ''}`;
    let cellId: string;

    if (req.replace_cell_id) {
      const found = findCell(panel, req.replace_cell_id);
      if (!found) {
        throw new ExecutorError(
          this._trans.__(
            'The cell to repair (%1) is no longer in the notebook.',
            req.replace_cell_id
          )
        );
      }
      if (found.model.type !== 'code') {
        throw new ExecutorError(
          this._trans.__('The cell to repair is not a code cell.')
        );
      }
      const generated = isGenerated(found.model);
      if (!generated && !this._consumeAcceptance(req.replace_cell_id)) {
        throw new ExecutorError(
          this._trans.__(
            'Refused to change cell %1: the user wrote it and did not accept a change.',
            req.replace_cell_id
          )
        );
      }
      const cellModel = found.model;
      cellModel.sharedModel.transact(() => {
        cellModel.sharedModel.setSource(code);
        const previous = (cellModel.getMetadata(METADATA_KEY) ??
          {}) as ICodeInterpCellMetadata;
        cellModel.setMetadata(METADATA_KEY, { ...previous, ...ci });
      });
      cellId = cellModel.id;
    } else {
      const previewId =
        ci.turn !== undefined ? this._previews.get(turnKey) : undefined;
      const preview = previewId ? findCell(panel, previewId) : null;
      if (preview && isGenerated(preview.model)) {
        this._previews.delete(turnKey);
        const cellModel = preview.model;
        cellModel.sharedModel.transact(() => {
          cellModel.sharedModel.setSource(code);
          cellModel.setMetadata(METADATA_KEY, { ...ci });
        });
        cellId = cellModel.id;
      } else {
        const index = this._insertIndex(panel, req, turnKey);
        nbModel.sharedModel.transact(() => {
          nbModel.sharedModel.insertCell(index, {
            cell_type: 'code',
            source: code,
            metadata: metadata as any
          });
        });
        cellId = nbModel.cells.get(index).id;
      }
    }
    this._lastCell.set(turnKey, cellId);
    this._host.cellCreated?.(req.chat_id, ci.step_id, cellId);

    const widget = notebook.widgets.find(w => w.model.id === cellId);
    if (!widget || !(widget instanceof CodeCell)) {
      throw new ExecutorError(
        this._trans.__('The new cell could not be found in the notebook.')
      );
    }
    void notebook.scrollToCell(widget, 'smart').catch(() => undefined);
    return this._execute(sessionContext, widget, code, req.timeout ?? 0);
  }

  private _panel(chatId: string): NotebookPanel {
    const panel = this._host.notebookForChat(chatId);
    if (!panel || panel.isDisposed) {
      throw new ExecutorError(
        this._trans.__(
          'The notebook of this chat is not open in JupyterLab. Open it and try again.'
        )
      );
    }
    return panel;
  }

  private async _ensureKernel(
    panel: NotebookPanel,
    sessionContext: ISessionContext
  ): Promise<void> {
    await sessionContext.ready;
    const kernel = sessionContext.session?.kernel;
    if (!kernel || sessionContext.hasNoKernel) {
      throw new ExecutorError(
        this._trans.__(
          'The notebook %1 has no kernel. Select a kernel (Kernel → Change Kernel…) and try again.',
          panel.context.path
        )
      );
    }
    if (
      kernel.status === 'dead' ||
      kernel.connectionStatus === 'disconnected'
    ) {
      throw new ExecutorError(
        this._trans.__(
          'The kernel of %1 is dead or disconnected. Restart it (Kernel → Restart Kernel…) and try again.',
          panel.context.path
        )
      );
    }
  }

  private _consumeAcceptance(cellId: string): boolean {
    const n = this._accepted.get(cellId) ?? 0;
    if (n <= 0) {
      return false;
    }
    if (n === 1) {
      this._accepted.delete(cellId);
    } else {
      this._accepted.set(cellId, n - 1);
    }
    return true;
  }

  /** Below the anchor, else below the turn's previous cell, else below the active cell. */
  private _insertIndex(
    panel: NotebookPanel,
    req: ExecutorRequestMsg,
    turnKey: string
  ): number {
    const count = panel.content.model?.cells.length ?? 0;
    const after = (id: string | null | undefined): number | null => {
      if (!id) {
        return null;
      }
      const found = findCell(panel, id);
      if (!found) {
        return null;
      }
      // keep a turn's cells together: skip past cells this turn already added below the anchor
      let index = found.index + 1;
      const last = this._lastCell.get(turnKey);
      const lastFound = last ? findCell(panel, last) : null;
      if (lastFound && lastFound.index >= index) {
        index = lastFound.index + 1;
      }
      return index;
    };
    const index =
      after(req.anchor_cell_id) ??
      after(this._lastCell.get(turnKey)) ??
      (panel.content.activeCellIndex >= 0
        ? panel.content.activeCellIndex + 1
        : count);
    return Math.max(0, Math.min(index, count));
  }

  private async _execute(
    sessionContext: ISessionContext,
    cell: CodeCell,
    code: string,
    timeout: number
  ): Promise<CellOutcome> {
    const model = cell.model;
    const cellId = model.id;
    const kernel = sessionContext.session?.kernel;
    if (!kernel) {
      throw new ExecutorError(this._trans.__('The notebook has no kernel.'));
    }
    const started = performance.now();
    model.sharedModel.transact(() => {
      model.clearExecution();
      cell.outputHidden = false;
    }, false);
    model.executionState = 'running';
    model.trusted = true;
    const content: KernelMessage.IExecuteRequestMsg['content'] = {
      code,
      silent: false,
      store_history: true,
      stop_on_error: true,
      allow_stdin: false
    };
    const future = kernel.requestExecute(content, false, {
      ...model.metadata,
      cellId
    });
    cell.outputArea.future = future;
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeout > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        void kernel.interrupt().catch(() => undefined);
      }, timeout * 1000);
    }
    let status: CellOutcome['status'] = 'ok';
    let ename = '';
    let evalue = '';
    let traceback: string[] = [];
    try {
      const reply = (await future.done) as KernelMessage.IExecuteReplyMsg;
      const c = reply.content;
      model.executionCount = c.execution_count ?? null;
      if (c.status === 'error') {
        ename = c.ename;
        evalue = c.evalue;
        traceback = c.traceback ?? [];
        status = timedOut
          ? 'timeout'
          : ename === 'KeyboardInterrupt'
            ? 'interrupted'
            : 'error';
      } else if (c.status === 'aborted') {
        status = timedOut ? 'timeout' : 'aborted';
        evalue = this._trans.__('The kernel aborted the execution.');
      }
    } catch (error) {
      // the future was disposed: kernel restarted, died or the cell was removed
      status = 'aborted';
      ename = 'ExecutionAborted';
      evalue =
        error instanceof Error
          ? error.message
          : this._trans.__('The execution was cancelled (kernel restarted?).');
    } finally {
      if (timer) {
        clearTimeout(timer);
      }
      if (!cell.isDisposed && cell.outputArea.future === future) {
        model.executionState = 'idle';
      }
    }
    // the notebook keeps everything; the server gets a bounded copy (a 50 MB print
    // must not exceed the socket's frame limit)
    const outputs = clipOutputs(
      model.outputs.toJSON() as unknown as Record<string, any>[]
    );
    if (status === 'error' && !ename) {
      const err = outputs.find(o => o.output_type === 'error');
      if (err) {
        ename = err.ename;
        evalue = err.evalue;
        traceback = err.traceback;
      }
    }
    return {
      status,
      cell_id: cellId,
      execution_count: model.executionCount ?? null,
      outputs,
      ename,
      evalue,
      traceback,
      elapsed: (performance.now() - started) / 1000
    };
  }

  private _host: IExecutorHost;
  private _trans: TranslationBundle;
  private _accepted = new Map<string, number>();
  private _previews = new Map<string, string>();
  private _lastCell = new Map<string, string>();
}

/** Accept `{codeinterp: {...}}` (the server's shape) or a bare codeinterp dict. */
export function normalizeMetadata(
  meta: Record<string, any>
): Record<string, any> {
  if (meta && typeof meta === 'object' && METADATA_KEY in meta) {
    return meta;
  }
  if (meta && Object.keys(meta).length) {
    return { [METADATA_KEY]: { generated: true, ...meta } };
  }
  return { [METADATA_KEY]: { generated: true } };
}
