/**
 * "Fix this error": a bar under every cell whose outputs contain an error,
 * and the `codeinterp:fix-error` command. The proposed fix is shown on the cell
 * by approval.ts.
 *
 * The bar is a widget in the cell's layout (not inside the output area), so
 * re-rendered outputs never lose it and it never enters the saved notebook.
 */
import { Cell, CodeCell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { attachToCell, findDecoration } from './cellDecorations';
import { ChatModel } from './chat/model';
import { fixIcon } from './icons';
import { ICodeInterp } from './tokens';

const BAR_CLASS = 'jp-codeinterp-fixbar';

/** The first error output of a cell, if any. */
export function errorOf(cell: Cell): { ename: string; evalue: string } | null {
  if (!(cell instanceof CodeCell)) {
    return null;
  }
  const outputs = cell.model.outputs;
  for (let i = 0; i < outputs.length; i++) {
    const out = outputs.get(i);
    if (out.type === 'error') {
      const json = out.toJSON() as { ename?: string; evalue?: string };
      return { ename: json.ename ?? 'Error', evalue: json.evalue ?? '' };
    }
  }
  return null;
}

/** The bar with the "Fix this error" button (and the fix's progress). */
class FixBar extends Widget {
  constructor(
    private _onFix: () => void,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass(BAR_CLASS);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'jp-Button jp-mod-styled jp-codeinterp-fix-button';
    button.title = _trans.__(
      'Ask the model for a fix of this error (you review it before anything changes)'
    );
    button.setAttribute('aria-label', _trans.__('Fix this error'));
    const icon = document.createElement('span');
    fixIcon.element({
      container: icon,
      tag: 'span',
      elementPosition: 'center'
    });
    const label = document.createElement('span');
    label.textContent = _trans.__('Fix this error');
    button.append(icon, label);
    button.addEventListener('click', () => this._onFix());
    this._status = document.createElement('span');
    this._status.className = 'jp-codeinterp-fix-status';
    this._status.setAttribute('role', 'status');
    this._status.setAttribute('aria-live', 'polite');
    this.node.append(button, this._status);
    this._button = button;
  }

  setStatus(text: string, busy: boolean): void {
    this._status.textContent = text;
    this._button.disabled = busy;
  }

  get trans(): TranslationBundle {
    return this._trans;
  }

  private _status: HTMLElement;
  private _button: HTMLButtonElement;
}

/** Wires the fix bars and the command for every notebook (the diff is in approval.ts). */
export class FixErrorManager {
  constructor(
    private _service: ICodeInterp,
    tracker: INotebookTracker,
    private _trans: TranslationBundle
  ) {
    tracker.widgetAdded.connect((_, panel) => this._watchNotebook(panel));
    tracker.forEach(panel => this._watchNotebook(panel));
  }

  /** Ask for a fix of `cell` in `panel` (the command and the bar call this). */
  async fix(panel: NotebookPanel, cell: Cell): Promise<void> {
    const err = errorOf(cell);
    const chat = this._service.chatForNotebook(panel);
    const bar = findDecoration<FixBar>(cell, BAR_CLASS);
    if (chat.isRunning) {
      bar?.setStatus(
        this._trans.__('The chat is busy; stop it or wait, then try again.'),
        false
      );
      return;
    }
    const text = err
      ? this._trans.__('Fix the %1 in this cell: %2', err.ename, err.evalue)
      : this._trans.__('Fix the error in this cell.');
    this._watchFix(chat, cell);
    await this._service.sendPrompt(chat, text, {
      mode: 'fix',
      cellId: cell.model.id
    });
  }

  private _watchNotebook(panel: NotebookPanel): void {
    const notebook = panel.content;
    const scan = () => {
      for (const cell of notebook.widgets) {
        this._watchCell(panel, cell);
      }
    };
    notebook.model?.cells.changed.connect(() => setTimeout(scan, 0));
    panel.context.ready.then(scan).catch(() => undefined);
    notebook.modelChanged.connect(() => {
      notebook.model?.cells.changed.connect(() => setTimeout(scan, 0));
      scan();
    });
  }

  private _watchCell(panel: NotebookPanel, cell: Cell): void {
    if (!(cell instanceof CodeCell) || this._watched.has(cell)) {
      return;
    }
    this._watched.add(cell);
    const update = () => {
      if (cell.isDisposed) {
        return;
      }
      const err = errorOf(cell);
      let bar = findDecoration<FixBar>(cell, BAR_CLASS);
      if (err && !bar) {
        bar = new FixBar(() => void this.fix(panel, cell), this._trans);
        void attachToCell(cell, bar, 'below-output');
      } else if (!err && bar) {
        bar.dispose();
      }
    };
    cell.model.outputs.changed.connect(update);
    cell.disposed.connect(() => this._watched.delete(cell));
    update();
  }

  /** Mirror the fix turn's progress in the cell's bar. */
  private _watchFix(chat: ChatModel, cell: Cell): void {
    const cellId = cell.model.id;
    const startTurns = chat.turns.length;
    const onChange = () => {
      const turn = chat.turns[chat.turns.length - 1];
      const bar = findDecoration<FixBar>(cell, BAR_CLASS);
      if (!turn || chat.turns.length <= startTurns || turn.mode !== 'fix') {
        const refused = chat.notices[chat.notices.length - 1];
        if (refused?.error && !chat.isRunning) {
          bar?.setStatus(refused.error.message, false);
          chat.changed.disconnect(onChange);
        } else {
          bar?.setStatus(this._trans.__('Asking the model…'), true);
        }
        return;
      }
      if (turn.status === undefined) {
        const waiting = chat
          .pendingApprovals()
          .some(s => (s.approval?.cell_id || s.cell_id) === cellId);
        bar?.setStatus(
          waiting
            ? this._trans.__('Review the proposed fix above the cell.')
            : this._trans.__('Working on a fix…'),
          true
        );
        return;
      }
      const error = turn.items.find(i => i.kind === 'error');
      bar?.setStatus(
        error && error.kind === 'error'
          ? error.error.message
          : turn.status === 'done'
            ? (turn.answer?.split('\n')[0] ?? '')
            : turn.status === 'stopped'
              ? this._trans.__('Stopped.')
              : (turn.answer?.split('\n')[0] ?? this._trans.__('No fix.')),
        false
      );
      chat.changed.disconnect(onChange);
      this._service.executor.revokeFix(cellId);
    };
    chat.changed.connect(onChange);
    onChange();
  }

  private _watched = new WeakSet<Cell>();
}
