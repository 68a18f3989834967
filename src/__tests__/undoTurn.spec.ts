/**
 * Undo this turn on a real notebook model (JupyterLab's NotebookModel and its
 * shared Yjs document, with its real undo manager): one transaction removes
 * the added cells and restores the replaced source; one notebook undo brings
 * it all back; an edited cell makes it refuse and change nothing.
 */
import { NotebookModel } from '@jupyterlab/notebook';

import { TurnChanges } from '../protocol';
import { notebookSnapshot, undoTurnChanges } from '../undoTurn';

const CHAT = 'chat1';

/** A notebook as a turn leaves it: the user's fixed cell, two cells the turn added. */
function notebookAfterTurn(): { model: NotebookModel; changes: TurnChanges } {
  const model = new NotebookModel();
  const shared = model.sharedModel;
  shared.insertCell(0, { cell_type: 'code', source: 'df = load()' });
  shared.insertCell(1, { cell_type: 'code', source: 'df["prices"].sum()' });
  shared.insertCell(2, { cell_type: 'markdown', source: '# notes' });
  // what the turn did, each in its own transaction as the executor does it
  shared.transact(() => {
    shared.insertCell(2, {
      cell_type: 'code',
      source: 'print(df.price.mean())',
      metadata: {
        codeinterp: { generated: true, chat_id: CHAT, step_id: 's1' }
      }
    });
  });
  shared.cells[1].setSource('df["price"].sum()'); // the accepted fix
  shared.transact(() => {
    shared.insertCell(3, {
      cell_type: 'code',
      source: 'df.plot()',
      metadata: {
        codeinterp: { generated: true, chat_id: CHAT, step_id: 's2' }
      }
    });
  });
  const ids = notebookSnapshot(model).map(c => c.id);
  const changes: TurnChanges = {
    cells: [
      {
        kind: 'replaced',
        cell_id: ids[1],
        step_id: 'f',
        source: 'df["price"].sum()',
        original: 'df["prices"].sum()'
      },
      {
        kind: 'added',
        cell_id: ids[2],
        step_id: 's1',
        source: 'print(df.price.mean())'
      },
      // stopped before its id reached the server: found by its step
      { kind: 'added', cell_id: '', step_id: 's2', source: 'df.plot()' }
    ],
    files: ['plot.png']
  };
  return { model, changes };
}

const sources = (model: NotebookModel) =>
  notebookSnapshot(model).map(c => c.source);

describe('undoTurnChanges', () => {
  it('removes the added cells and restores the replaced source in one undo step', () => {
    const { model, changes } = notebookAfterTurn();
    const before = sources(model);
    const outcome = undoTurnChanges(model, changes, CHAT);
    expect(outcome).toEqual({ ok: true, removed: 2, restored: 1 });
    expect(sources(model)).toEqual([
      'df = load()',
      'df["prices"].sum()',
      '# notes'
    ]);

    // one notebook undo brings the whole turn back
    model.sharedModel.undo();
    expect(sources(model)).toEqual(before);
    // and redo undoes it again
    model.sharedModel.redo();
    expect(sources(model)).toEqual([
      'df = load()',
      'df["prices"].sum()',
      '# notes'
    ]);
  });

  it('refuses and changes nothing when a cell was edited since the turn', () => {
    const { model, changes } = notebookAfterTurn();
    model.sharedModel.cells[2].setSource('print(df.price.median())');
    const before = sources(model);
    const outcome = undoTurnChanges(model, changes, CHAT);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.assessment.edited.map(a => a.index)).toEqual([2]);
    }
    expect(sources(model)).toEqual(before);
  });

  it('leaves out cells already deleted by hand and does nothing twice', () => {
    const { model, changes } = notebookAfterTurn();
    model.sharedModel.deleteCell(3);
    expect(undoTurnChanges(model, changes, CHAT)).toEqual({
      ok: true,
      removed: 1,
      restored: 1
    });
    expect(undoTurnChanges(model, changes, CHAT)).toEqual({
      ok: true,
      removed: 0,
      restored: 0
    });
  });
});
