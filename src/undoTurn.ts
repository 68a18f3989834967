/**
 * Undo a whole turn in the notebook: remove the cells it added and restore the
 * sources it replaced, as ONE step of the notebook's undo history, so a single
 * notebook undo (Z in command mode, "undo cell action") brings everything back.
 *
 * How: JupyterLab's notebook undo manager tracks changes made in a
 * transaction of the notebook's shared model (origin: the notebook), and
 * merges transactions less than 500 ms apart. So the deletions and the source
 * restores run inside one `sharedModel.transact` (a cell's own `setSource`
 * joins the open transaction, so the notebook's undo manager records it, not
 * the cell's), between two `stopCapturing()` calls that keep it from merging
 * with the user's edits or the turn's last insertion. The kernel is left
 * alone: what the removed cells defined stays defined until it restarts.
 */
import { INotebookModel } from '@jupyterlab/notebook';

import { TurnChanges } from './protocol';
import {
  assessTurnChanges,
  ICellSnapshot,
  ITurnChangeAssessment
} from './turnChanges';

const METADATA_KEY = 'codeinterp';

/** What the change set needs of each cell of `model`. */
export function notebookSnapshot(model: INotebookModel): ICellSnapshot[] {
  const cells: ICellSnapshot[] = [];
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    const meta = cell.getMetadata(METADATA_KEY) as
      { step_id?: string; chat_id?: string } | undefined;
    cells.push({
      id: cell.id,
      source: cell.sharedModel.getSource(),
      stepId: meta?.step_id,
      chatId: meta?.chat_id
    });
  }
  return cells;
}

const snapshots = new WeakMap<
  INotebookModel,
  { cells: ICellSnapshot[] | null }
>();

/**
 * The snapshot of `model`, computed once per change of its content (every
 * turn of a chat reads it on each render).
 */
export function cachedSnapshot(model: INotebookModel): ICellSnapshot[] {
  let entry = snapshots.get(model);
  if (!entry) {
    const fresh: { cells: ICellSnapshot[] | null } = { cells: null };
    model.contentChanged.connect(() => {
      fresh.cells = null;
    });
    snapshots.set(model, fresh);
    entry = fresh;
  }
  if (!entry.cells) {
    entry.cells = notebookSnapshot(model);
  }
  return entry.cells;
}

export type UndoOutcome =
  | { ok: true; removed: number; restored: number }
  | { ok: false; assessment: ITurnChangeAssessment };

interface IStopCapturing {
  undoManager?: { stopCapturing(): void };
}

/**
 * Undo `changes` in `model` if no cell was edited since the turn; otherwise
 * change nothing and return the assessment (its `edited` cells say why).
 */
export function undoTurnChanges(
  model: INotebookModel,
  changes: TurnChanges | null | undefined,
  chatId: string
): UndoOutcome {
  const assessment = assessTurnChanges(
    changes,
    notebookSnapshot(model),
    chatId
  );
  if (assessment.edited.length > 0) {
    return { ok: false, assessment };
  }
  const { toRemove, toRestore } = assessment;
  if (toRemove.length === 0 && toRestore.length === 0) {
    return { ok: true, removed: 0, restored: 0 };
  }
  const shared = model.sharedModel;
  const undo = (shared as unknown as IStopCapturing).undoManager;
  undo?.stopCapturing();
  shared.transact(() => {
    for (const { index, change } of toRestore) {
      shared.cells[index].setSource(change.original ?? '');
    }
    // from the bottom up, so the indices of the cells still to delete hold
    const indices = toRemove.map(a => a.index).sort((a, b) => b - a);
    for (const index of indices) {
      shared.deleteCell(index);
    }
  });
  undo?.stopCapturing();
  return { ok: true, removed: toRemove.length, restored: toRestore.length };
}
