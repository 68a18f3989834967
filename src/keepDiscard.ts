/**
 * Keep / Discard for generate-and-run: once the turn has ended, a small bar
 * under the generated cell asks whether to keep it. Discard is "Undo this
 * turn" (one notebook-undo step, kernel untouched); Keep, or any edit of the
 * cell, just removes the bar. Like the other cell widgets it lives in the
 * cell's layout, never in the notebook model.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { attachToCell, findDecoration } from './cellDecorations';
import { ChatModel, ITurnView } from './chat/model';
import { assessTurnChanges } from './turnChanges';
import { notebookSnapshot, undoTurnChanges } from './undoTurn';

const BAR_CLASS = 'jp-codeinterp-keepbar';

class KeepDiscardBar extends Widget {
  constructor(
    trans: TranslationBundle,
    cells: number,
    onKeep: () => void,
    onDiscard: () => void
  ) {
    super();
    this.addClass(BAR_CLASS);
    this.node.setAttribute('role', 'group');
    this.node.setAttribute('aria-label', trans.__('Keep the generated code?'));
    const label = document.createElement('span');
    label.className = 'jp-codeinterp-keepbar-label';
    label.textContent = trans._n(
      'Keep this generated cell?',
      'Keep these %1 generated cells?',
      cells
    );
    const keep = document.createElement('button');
    keep.type = 'button';
    keep.className = 'jp-Button jp-mod-styled jp-mod-accept jp-codeinterp-keep';
    keep.textContent = trans.__('Keep');
    keep.addEventListener('click', onKeep);
    const discard = document.createElement('button');
    discard.type = 'button';
    discard.className = 'jp-Button jp-mod-styled jp-codeinterp-discard';
    discard.textContent = trans.__('Discard');
    discard.title = trans.__(
      'Remove the generated code from the notebook (notebook undo brings it back); what it defined stays in the kernel until it restarts'
    );
    discard.addEventListener('click', onDiscard);
    this._message = document.createElement('span');
    this._message.className = 'jp-codeinterp-keepbar-message';
    this._message.setAttribute('role', 'status');
    this.node.append(label, keep, discard, this._message);
  }

  setMessage(text: string): void {
    this._message.textContent = text;
  }

  private _message: HTMLElement;
}

/**
 * Offer Keep / Discard under the last cell a finished generate turn added
 * (nothing when it added none, or they were already edited or removed).
 */
export async function offerKeepDiscard(
  panel: NotebookPanel,
  chat: ChatModel,
  turn: ITurnView,
  trans: TranslationBundle
): Promise<void> {
  const model = panel.content.model;
  if (!model || !turn.changes) {
    return;
  }
  const added = assessTurnChanges(
    turn.changes,
    notebookSnapshot(model),
    chat.chatId
  ).toRemove;
  if (added.length === 0) {
    return;
  }
  const last = added.reduce((a, b) => (b.index > a.index ? b : a));
  const cell = panel.content.widgets[last.index];
  if (!cell || findDecoration(cell, BAR_CLASS)) {
    return;
  }
  const bar: KeepDiscardBar = new KeepDiscardBar(
    trans,
    added.length,
    () => bar.dispose(),
    () => {
      const outcome = undoTurnChanges(model, turn.changes, chat.chatId);
      if (outcome.ok) {
        bar.dispose(); // usually gone already, with its cell
        panel.content.activate();
      } else {
        bar.setMessage(
          trans.__(
            'Not discarded: a cell changed since it was generated. Use Undo in the notebook or delete it by hand.'
          )
        );
      }
    }
  );
  // an edit of a generated cell is the user's answer: keep it, and the bar goes
  const watched = added.map(a => model.cells.get(a.index));
  const onEdit = (): void => {
    const still = assessTurnChanges(
      turn.changes,
      notebookSnapshot(model),
      chat.chatId
    );
    if (still.edited.length > 0 || still.toRemove.length < added.length) {
      bar.dispose();
    }
  };
  for (const cellModel of watched) {
    cellModel.contentChanged.connect(onEdit);
  }
  bar.disposed.connect(() => {
    for (const cellModel of watched) {
      cellModel.contentChanged.disconnect(onEdit);
    }
  });
  await attachToCell(cell, bar, 'below-output');
}
